"""Inference-log benchmark: reading one day of log, compacted versus raw segments.

    .venv/bin/python benchmarks/log_reading.py [--hours 24] [--workers 2] [--flush-seconds 10]

Lays out what `serve` leaves after `--hours` of traffic: every worker writes one segment per
flush (2 workers x 10 s flushes = 17,280 files a day) of `--rows` rows and 12 columns. The
peer, measured in the same run, is the same reader on the raw segments (what every read cost
before compaction). Ours is `compact` (what each worker's log thread runs every
`compact_minutes`) and then `read_window` over the day. Prints both read times, the ratio, the
compaction time and the 5 s target. Generating the files takes about a minute a day here.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine_note

from {{ cookiecutter.package_name }}.drift_reference import PREDICTION_COLUMN
from {{ cookiecutter.package_name }}.monitoring.inference_log import (
    CORRELATION_ID,
    MODEL_VERSION,
    ROW,
    TIMESTAMP,
    compact,
    read_window,
)

TARGET_SECONDS = 5.0


def lay_out(root: Path, hours: int, workers: int, flush_seconds: float, rows: int) -> int:
    """Segments named and placed as `InferenceLog` writes them (no fsync: layout only)."""
    rng = np.random.default_rng(0)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    flushes = int(3600 / flush_seconds)
    count = 0
    for hour_index in range(hours):
        hour = end - timedelta(hours=hours - hour_index)
        folder = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True)
        for flush in range(flushes):
            stamp = hour + timedelta(seconds=flush * flush_seconds)
            for worker in range(workers):
                frame = pd.DataFrame(
                    {f"num_{i}": rng.normal(size=rows) for i in range(8)}
                    | {
                        f"cat_{i}": pd.array(rng.choice(["a", "b", "c"], rows), dtype="string")
                        for i in range(4)
                    }
                )
                frame[PREDICTION_COLUMN] = "1"
                frame[MODEL_VERSION] = "1"
                frame[CORRELATION_ID] = f"{count}"
                frame[ROW] = np.arange(rows, dtype=np.int32)
                frame[TIMESTAMP] = pd.Timestamp(stamp)
                frame.to_parquet(folder / f"{count:09d}-{worker}.parquet", index=False)
                count += 1
    return count


def timed_read(root: Path, hours: int) -> tuple[float, int]:
    started = time.perf_counter()
    rows = len(read_window(root, timedelta(hours=hours + 1)))
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--flush-seconds", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=20, help="Rows per segment.")
    args = parser.parse_args()
    print(machine_note())
    root = Path(tempfile.mkdtemp(prefix="log-reading-")) / "inference"
    try:
        started = time.perf_counter()
        files = lay_out(root, args.hours, args.workers, args.flush_seconds, args.rows)
        print(f"laid out {files:,} segments in {time.perf_counter() - started:.0f} s")
        raw_seconds, raw_rows = timed_read(root, args.hours)
        started = time.perf_counter()
        done = compact(root)
        compact_seconds = time.perf_counter() - started
        ours_seconds, ours_rows = timed_read(root, args.hours)
        assert raw_rows == ours_rows, (raw_rows, ours_rows)
        print(f"{args.hours} h of log, {ours_rows:,} rows")
        print(f"read raw segments ({files:,} files)      {raw_seconds:8.2f} s")
        print(f"read after compaction ({done.hours} files)   {ours_seconds:8.2f} s")
        print(f"ratio: x{raw_seconds / ours_seconds:.1f} faster")
        print(f"compaction (once, by the log thread)  {compact_seconds:8.2f} s")
        verdict = "met" if ours_seconds < TARGET_SECONDS else "NOT met"
        print(f"target (< {TARGET_SECONDS:.0f} s to read the window): {verdict}")
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
