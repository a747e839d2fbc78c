"""Scoring script for the Azure ML batch endpoint: `init()` once per worker, `run(mini_batch)`
per list of input files. Each file is scored by the very code of the local `score-batch`
command (`batch.score_file`: chunked, typed from the model's signature, bounded memory), and the
rows returned are appended by Azure to the job's `predictions.csv` (`output_action:
append_row`).

Like `score.py`, Azure loads this file by path, outside its package, so the package is imported
by name from where this file sits (`<src>/<package>/serving/batch_driver.py`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

_HERE = Path(__file__).resolve()
_model: Any = None
_batch: Any = None
logger = logging.getLogger("batch_driver")


def _module(name: str) -> Any:
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    src_root = str(_HERE.parents[2])
    if src_root not in sys.path:
        sys.path.insert(0, src_root)
    return importlib.import_module(f"{_HERE.parents[1].name}.serving.{name}")


def init() -> None:
    """Load the model once per worker; a worker that cannot load it fails the job at once."""
    global _model, _batch
    root = os.environ.get("AZUREML_MODEL_DIR")
    if not root:
        raise RuntimeError("AZUREML_MODEL_DIR is not set: it must point at the model folder")
    _batch = _module("batch")
    _model = _module("scoring").Model.load(Path(root))
    logger.info("Batch driver ready: model %s", _model.source)


def run(mini_batch: list[str]) -> pd.DataFrame:
    """Score every file of the mini-batch; one output row per input row: file, row, prediction.

    A file that cannot be scored raises, so Azure counts it against `error_threshold` instead
    of silently writing fewer rows."""
    chunk_rows = int(os.environ.get("BATCH_CHUNK_ROWS", "50000"))
    frames = []
    for name in mini_batch:
        path = Path(name)
        with tempfile.TemporaryDirectory() as scratch:
            output = Path(scratch) / "predictions.parquet"
            summary = _batch.score_file(
                _model.source,
                path,
                output,
                chunk_rows=chunk_rows,
                model=_model,
                progress=lambda rows, total: None,
            )
            predictions = pd.read_parquet(output)[_batch.PREDICTION_COLUMN]
        frames.append(
            pd.DataFrame(
                {"file": path.name, "row": range(len(predictions)), "prediction": predictions}
            )
        )
        logger.info("Scored %s: %d rows in %.1f s", path.name, summary.rows, summary.seconds)
    if not frames:
        return pd.DataFrame(columns=["file", "row", "prediction"])
    return pd.concat(frames, ignore_index=True)
