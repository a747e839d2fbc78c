"""Batch benchmark: `score-batch` against `mlflow models predict`, same file, same model.

    .venv/bin/python benchmarks/batch.py [--rows 1000000] [--chunk-rows 100000] [--model auto]

Generates a CSV (and the same data as Parquet) of realistic rows once, under .benchmarks/, then
runs each contender as its own process and reports wall time, rows/s and peak resident memory
(the process and its children, from the kernel's rusage). Also runs the one-shot Parquet limit:
read the whole file, predict, write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from _common import BIN, CACHE, cache_dir, machine_note, measured_run, model_under_test, sample

TARGET_SPEED = 4.0
TARGET_MEMORY = 4.0
SCORE_BATCH = """
import sys
from pathlib import Path
from {{ cookiecutter.package_name }}.serving.batch import score_file
score_file(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), chunk_rows=int(sys.argv[4]))
"""
ONE_SHOT = """
import sys
import mlflow.sklearn, numpy as np, pandas as pd
model = mlflow.sklearn.load_model(sys.argv[1])
frame = pd.read_parquet(sys.argv[2])
frame = frame.where(frame.notna(), np.nan)  # missing text as NaN, as training saw it
pd.DataFrame({"prediction": model.predict(frame)}).to_parquet(sys.argv[3])
"""


def data_files(model, rows: int) -> tuple[Path, Path]:
    """The benchmark CSV and Parquet, generated once per model and size."""
    key = hashlib.sha256(str(model.path).encode()).hexdigest()[:10]
    csv_path, parquet_path = (CACHE / f"batch-{key}-{rows}.{kind}" for kind in ("csv", "parquet"))
    if not (csv_path.is_file() and parquet_path.is_file()):
        print(f"generating {rows:,} rows -> {csv_path}", file=sys.stderr)
        table = pa.Table.from_pandas(sample(model.source_rows, rows, seed=2), preserve_index=False)
        cache_dir()
        pa_csv.write_csv(table, csv_path)
        pq.write_table(table, parquet_path)
    return csv_path, parquet_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--model", choices=["auto", "champion", "reference"], default="auto")
    args = parser.parse_args()

    model = model_under_test(args.model)
    csv_path, parquet_path = data_files(model, args.rows)
    size_mb = csv_path.stat().st_size / 2**20
    print(f"model: {model.description}\n{machine_note()}")
    width = len(model.source_rows.columns)
    print(f"input: {args.rows:,} rows x {width} columns, CSV {size_mb:.0f} MB")

    python, chunk = sys.executable, str(args.chunk_rows)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        mlflow = [str(BIN / "mlflow"), "models", "predict", "-m", str(model.path)]
        mlflow += ["-i", str(csv_path), "-t", "csv", "-o", str(out / "mlflow.json")]
        ours = [python, "-c", SCORE_BATCH, str(model.path)]
        runs = {
            "mlflow models predict (CSV)": [*mlflow, "--env-manager", "local"],
            "score-batch (CSV)": [*ours, str(csv_path), str(out / "ours.csv"), chunk],
            "score-batch (Parquet)": [*ours, str(parquet_path), str(out / "ours.parquet"), chunk],
            "one-shot Parquet (read all, predict, write)": [
                *[python, "-c", ONE_SHOT, str(model.path)],
                *[str(parquet_path), str(out / "oneshot.parquet")],
            ],
        }
        results = {}
        for name, command in runs.items():
            seconds, peak_mb = measured_run(command)
            results[name] = (seconds, peak_mb)
            print(
                f"{name:45} {seconds:7.1f} s  {args.rows / seconds:10,.0f} rows/s  "
                f"peak {peak_mb:7.0f} MB"
            )
        with (out / "mlflow.json").open() as handle:
            theirs = json.load(handle)["predictions"]
        ours_csv = pd.read_csv(out / "ours.csv")["prediction"].tolist()
        ours_parquet = pd.read_parquet(out / "ours.parquet")["prediction"].tolist()
        oneshot = pd.read_parquet(out / "oneshot.parquet")["prediction"].tolist()
    if not (theirs == ours_csv == ours_parquet == oneshot):
        raise SystemExit("the contenders disagree on the predictions: the comparison is void")
    print(f"all four produced identical predictions for the {args.rows:,} rows")

    peer_s, peer_mb = results["mlflow models predict (CSV)"]
    csv_s, csv_mb = results["score-batch (CSV)"]
    parquet_s, parquet_mb = results["score-batch (Parquet)"]
    limit_s, limit_mb = results["one-shot Parquet (read all, predict, write)"]
    speed, memory = peer_s / csv_s, peer_mb / csv_mb
    print("\nratios (same run):")
    print(f"  score-batch CSV vs mlflow models predict: x{speed:.1f} rows/s, 1/{memory:.1f} memory")
    print(
        f"  score-batch Parquet vs one-shot limit: {limit_s / parquet_s:.2f} of its rows/s, "
        f"{parquet_mb / limit_mb:.2f} of its memory"
    )
    met = speed >= TARGET_SPEED and memory >= TARGET_MEMORY
    print(
        f"target (>= x{TARGET_SPEED:.0f} rows/s with <= 1/{TARGET_MEMORY:.0f} peak memory): "
        f"{'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
