"""``qws import`` of a 1M-row CSV: throughput against a one-transaction import, peak memory, how
soon a bad line fails, how long an order written from another process waits meanwhile, and
what ``PRAGMA quick_check`` (run on every open up to ``FULL_CHECK_MAX_BYTES``) costs on the
file it leaves.

DESIGN.md sets no target for these; each verdict is a ratio against its reference:
- throughput: ``qws import FILE`` (staged in chunks, published in chunks: every row written
  three times, never holding the write lock for long) against the same file read by
  ``read_ohlcv`` and stored by one ``store.candles.upsert`` (one transaction for all of it),
  each in a fresh process and a fresh file, interleaved A B A B, medians, the two tables read
  back and compared in full every round. Target: at most 3x (the three writes a row).
- a bad line 3: the 1M-row file fails as soon as a 10-row one does (within 1.5x, medians of
  interleaved runs, process start included): the file is not read on past the bad chunk.
- an order written from another process during the import waits for a chunk, not the import:
  its longest wait at most a tenth of the import.
Run: .venv/bin/python benchmarks/store_import.py
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import interleave, percentile, ratio_verdict, verdict
from store_ingest import same_tables

ROWS = 1_000_000
RUNS = 3
T0_MS = 1_600_000_000_000

ORDER_WRITER = """
import sys, time
from decimal import Decimal
from engine.model import Order, OrderType, Side
from workstation.store import Store
store, waits, i = Store(sys.argv[1]), [], 0
print("ready", flush=True)
while sys.stdin.readline().strip() == "go":
    t = time.perf_counter()
    with store.durable():
        store.orders.save(Order(f"c{i}", "X", Side.BUY, OrderType.LIMIT, Decimal(1), Decimal(1)))
        store.audit.add("bench", "order", f"c{i}")
    print(f"{(time.perf_counter() - t) * 1000:.1f}", flush=True)
    i += 1
"""

ONE_UPSERT = """
import sys
from feeds.ohlcv_file import read_ohlcv
from workstation.store import Store
frame = read_ohlcv(sys.argv[2]).frame
with Store(sys.argv[1]) as store:
    store.candles.upsert(frame, "X", "1m", "import")
"""


def write_csv(path: Path, rows: int, bad_line: int | None = None) -> None:
    with path.open("w") as f:
        f.write("ts,open,high,low,close,volume\n")
        for i in range(rows):
            close = "oops" if bad_line == i + 2 else "1.5"
            f.write(f"{T0_MS + 60_000 * i},1,2,0.5,{close},3\n")


def import_cmd(db: Path, csv: Path) -> list[str]:
    qws = str(Path(sys.executable).parent / "qws")
    return [qws, "--db", str(db), "import", str(csv), "--symbol", "X", "--timeframe", "1m"]


def peak_child_mb() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


class Fresh:
    """A new database path for every run."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.n = folder, 0

    def __call__(self, name: str) -> Path:
        self.n += 1
        return self.folder / f"{name}{self.n}.db"


def run_ok(cmd: list[str]) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"{cmd[:2]} exit {out.returncode}: {out.stderr[-300:]}")


def same_table(a: Path, b: Path) -> None:
    same_tables(a, b, ROWS)


def fails_at_line_3(db: Path, csv: Path) -> str:
    out = subprocess.run(import_cmd(db, csv), capture_output=True, text=True)
    if out.returncode == 0 or "line 3" not in out.stderr:
        raise AssertionError(f"expected a failure at line 3, got {out.returncode}: {out.stderr}")
    return out.stderr.strip().replace(f"{csv}: ", "")  # the message, without the file's path


def main() -> None:
    runs = 1 if "--quick" in sys.argv else RUNS
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        fresh = Fresh(d)
        good, early, tiny = d / "good.csv", d / "early.csv", d / "tiny.csv"
        write_csv(good, ROWS)
        write_csv(early, ROWS, bad_line=3)
        write_csv(tiny, 10, bad_line=3)

        fail = interleave(
            lambda: fails_at_line_3(fresh("e"), early),
            lambda: fails_at_line_3(fresh("t"), tiny),
            runs,
        )
        print(
            f"bad line 3 of {ROWS:,}: fails after {fail.a_median:.2f} s (process start"
            f" included); of 10 rows: {fail.b_median:.2f} s"
        )
        print(f"  {fails_at_line_3(fresh('e'), early)}  peak RSS {peak_child_mb()} MB")

        db = fresh("q")
        writer = subprocess.Popen(
            [sys.executable, "-c", ORDER_WRITER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdout.readline()

        def order() -> float:
            assert writer.stdin is not None and writer.stdout is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
            return float(writer.stdout.readline())

        idle = [order() for _ in range(20)]
        importer = subprocess.Popen(import_cmd(db, good), stdout=subprocess.PIPE, text=True)
        start = time.perf_counter()
        waits: list[float] = []
        while importer.poll() is None:
            waits.append(order())
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        writer.stdin.close()
        writer.wait()
        assert importer.returncode == 0
        print(f"import beside an order writer: {ROWS / elapsed:,.0f} rows/s ({elapsed:.1f} s)")
        print(f"  peak RSS of a child (the importer or the order writer): {peak_child_mb()} MB")
        print(
            f"order writes from another process during it: {len(waits)},"
            f" median {percentile(waits, 50):.1f} ms, max {max(waits):.1f} ms"
            f" (idle: median {percentile(idle, 50):.1f} ms)"
        )
        size = db.stat().st_size / 1e6
        conn = sqlite3.connect(db)
        t0 = time.perf_counter()
        conn.execute("PRAGMA quick_check").fetchall()
        print(f"quick_check of {size:.0f} MB: {(time.perf_counter() - t0) * 1000:.0f} ms (warm)")
        conn.close()

        def staged_import() -> Path:
            path = fresh("i")
            run_ok(import_cmd(path, good))
            return path

        def one_upsert() -> Path:
            path = fresh("u")
            run_ok([sys.executable, "-c", ONE_UPSERT, str(path), str(good)])
            return path

        t = interleave(staged_import, one_upsert, runs, warmup=0, check=same_table)
        print(
            f"import of {ROWS:,} rows: {ROWS / t.a_median:,.0f} rows/s ({t.a_median:.1f} s);"
            f" one-transaction reference: {ROWS / t.b_median:,.0f} rows/s ({t.b_median:.1f} s);"
            " tables equal"
        )

    ratio_verdict("qws import vs one-transaction upsert", t, at_most=3.0, unit="s")
    ratio_verdict("bad line 3: 1M-row file vs 10-row file", fail, at_most=1.5, unit="s")
    longest = max(waits) / 1e3 / elapsed
    verdict(
        "longest order wait during an import",
        f"{max(waits):.0f} ms of a {elapsed:.1f} s import = {longest:.3f}x",
        "<= 0.1x",
        longest <= 0.1,
    )


if __name__ == "__main__":
    main()
