"""What every step shares: its JSON record file, dataset lineage in MLflow, thread limits."""

from __future__ import annotations

import json
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import mlflow.data
import pandas as pd
from threadpoolctl import threadpool_limits

from ..config import Settings
from ..errors import PipelineError


def write_record(output_dir: Path, name: str, record: Any) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / name).write_text(json.dumps(asdict(record), indent=2, default=str) + "\n")


def read_record(input_dir: Path, name: str) -> dict[str, Any]:
    path = input_dir / name
    if not path.is_file():
        raise PipelineError(f"{path} is missing: pass the output folder of the previous step")
    return json.loads(path.read_text())


def thread_limit(settings: Settings) -> AbstractContextManager[object]:
    """OpenMP/BLAS threads as configured: on a busy machine, spinning threads on small data
    make gradient boosting many times slower than one thread."""
    threads = settings.model.threads
    return nullcontext() if threads is None else threadpool_limits(limits=threads)


def log_dataset(frame: pd.DataFrame, source: Path, target: str, name: str, context: str) -> None:
    """Record the data as an MLflow dataset input of the active run (lineage in the UI)."""
    if mlflow.active_run():
        with warnings.catch_warnings():
            # Schema inference repeats the integer-column hint handled in _model_signature,
            # and a local path matches two equivalent source types.
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            warnings.filterwarnings("ignore", message="The specified dataset source")
            dataset = mlflow.data.from_pandas(frame, source=str(source), targets=target, name=name)
            mlflow.log_input(dataset, context=context)


def active_run_id(step: str) -> str:
    run = mlflow.active_run()
    if run is None:
        raise PipelineError(f"The {step} step needs an active MLflow run to attach its outputs")
    return run.info.run_id
