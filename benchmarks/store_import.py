"""``qws import`` of a 1M-row CSV: throughput, peak memory, how soon a bad line fails, how long
an order written from another process waits meanwhile, and what ``PRAGMA quick_check`` (run
on every open up to ``FULL_CHECK_MAX_BYTES``) costs on the file it leaves.

Measured, not asserted. Reference: the same rows through one ``store.candles.upsert``.
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        good, early = d / "good.csv", d / "early.csv"
        write_csv(good, ROWS)
        write_csv(early, ROWS, bad_line=3)
        db = d / "q.db"

        start = time.perf_counter()
        out = subprocess.run(import_cmd(d / "e.db", early), capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        print(f"bad line 3 of {ROWS:,}: fails after {elapsed:.2f} s (process start included)")
        print(f"  {out.stderr.strip()[-100:]}  peak RSS {peak_child_mb()} MB")

        writer = subprocess.Popen(
            [sys.executable, "-c", ORDER_WRITER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdout.readline()
        importer = subprocess.Popen(import_cmd(db, good), stdout=subprocess.PIPE, text=True)
        start = time.perf_counter()
        waits: list[float] = []
        while importer.poll() is None:
            writer.stdin.write("go\n")
            writer.stdin.flush()
            waits.append(float(writer.stdout.readline()))
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        writer.stdin.close()
        writer.wait()
        print(f"import of {ROWS:,} rows: {ROWS / elapsed:,.0f} rows/s ({elapsed:.1f} s)")
        print(f"  peak RSS of a child (the importer or the order writer): {peak_child_mb()} MB")
        waits.sort()
        print(
            f"order writes from another process during it: {len(waits)},"
            f" median {waits[len(waits) // 2]:.1f} ms, max {waits[-1]:.1f} ms"
        )

        size = db.stat().st_size / 1e6
        conn = sqlite3.connect(db)
        t = time.perf_counter()
        conn.execute("PRAGMA quick_check").fetchall()
        print(f"quick_check of {size:.0f} MB: {(time.perf_counter() - t) * 1000:.0f} ms (warm)")
        conn.close()

        from benchmarks.store_ingest import frame
        from workstation.store import Store

        with Store(d / "ref.db") as store:
            bars = frame(ROWS, 1)
            t = time.perf_counter()
            store.candles.upsert(bars, "X", "1m", "ref")
            rate = ROWS / (time.perf_counter() - t)
            print(f"reference: one store.candles.upsert of the rows: {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
