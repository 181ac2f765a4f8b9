"""``make bench``: every benchmark in this folder, one after another in fresh interpreters, then
one table of every target with OK or MISSED.

A script that fails (an exception, a results check that found a difference) fails the run;
a MISSED target does not: the table says it, and the closing note says why.

Run: .venv/bin/python benchmarks/run_all.py [NAME ...]   (names without .py; default: all)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import SUMMARY_ENV, read_summary

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"harness", "run_all"}


def scripts(names: list[str]) -> list[Path]:
    every = sorted(p for p in HERE.glob("*.py") if p.stem not in NOT_BENCHMARKS)
    if not names:
        return every
    by_name = {p.stem: p for p in every}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(unknown)}; have {', '.join(by_name)}")
    return [by_name[n] for n in names]


def main(argv: list[str]) -> int:
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="qws-bench-") as tmp:
        summary = os.path.join(tmp, "summary.jsonl")
        env = {**os.environ, SUMMARY_ENV: summary}
        for script in scripts(argv):
            print(f"\n== {script.name}", flush=True)
            t0 = time.perf_counter()
            rc = subprocess.call([sys.executable, str(script)], env=env, cwd=HERE.parent)
            print(f"== {script.name}: exit {rc} after {time.perf_counter() - t0:.0f} s")
            if rc != 0:
                failed.append(script.name)
        verdicts = read_summary(summary) if os.path.exists(summary) else []
    print("\n== summary")
    w_b = max([len("benchmark"), *(len(v.benchmark) for v in verdicts)])
    w_w = max([len("work"), *(len(v.work) for v in verdicts)])
    w_m = max([len("measured"), *(len(v.measured) for v in verdicts)])
    print(f"{'benchmark':<{w_b}}  {'work':<{w_w}}  {'measured':<{w_m}}  {'target':<14}  verdict")
    for v in verdicts:
        print(
            f"{v.benchmark:<{w_b}}  {v.work:<{w_w}}  {v.measured:<{w_m}}  {v.target:<14}  {v.mark}"
        )
    missed = sum(not v.ok for v in verdicts)
    print(f"{len(verdicts)} targets: {len(verdicts) - missed} OK, {missed} MISSED")
    if failed:
        print(f"FAILED to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
