"""One drift check: the serving model's reference against the chosen current data, a report,
and an MLflow run next to its training runs (same experiment, tagged with its version).

The model is the one the environment's deployment record names (what serves, not whatever
carries the champion alias), its files verified against the recorded digest before its
reference is read: a reference swapped in the artifact store is refused, never compared.

Current data is a CSV/Parquet file, a folder of them (the local inference log, or files
downloaded from Azure ML's data collector as JSON lines), or a window of the local inference
log. Rows without a logged prediction are scored with the champion, so prediction drift is
measured either way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from ..config import Settings
from ..data import DataError, load_table, missing_as_nan
from ..deployments import LOCAL_ENVIRONMENT
from ..drift_reference import PREDICTION_COLUMN, REFERENCE_FILE, load_reference
from ..errors import PipelineError
from .drift import DriftResult, compare
from .inference_log import CORRELATION_ID, TIMESTAMP, parse_window, read_window
from .report import render

REPORT_FILE = "drift_report.html"
RESULT_FILE = "drift.json"
PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@dataclass(frozen=True)
class DriftCheck:
    result: DriftResult
    model_name: str
    version: str  # the version that serves the environment
    report_path: Path
    run_id: str


def check_drift(
    settings: Settings,
    *,
    data: Path | None,
    since: str | None,
    output: Path | None = None,
    environment: str = LOCAL_ENVIRONMENT,
) -> DriftCheck:
    """Compare, write the report and log everything to MLflow; the verdict is in `.result`."""
    import mlflow
    from mlflow import MlflowClient

    from ..tracking import configure_tracking

    if data is None and since is None:
        raise PipelineError("pass --data FILE or --since WINDOW (e.g. --since 24h)")
    experiment_id = configure_tracking(settings)
    client = MlflowClient()
    version, model_dir = serving_model(settings, environment, client)
    reference = load_reference(model_dir)
    if data is None:
        log_dir = settings.resolve(settings.monitoring.inference_log.path)
        current = read_window(log_dir, parse_window(since))  # type: ignore[arg-type]
        source = f"inference log, last {since}"
    else:
        current = read_current(data)
        source = str(data)
        if since is not None:  # a folder of collected data, narrowed to the window
            current = _within(current, parse_window(since), source)
            source = f"{data}, last {since}"
    current = _with_predictions(current, reference, model_dir)
    result = compare(reference, current, settings.monitoring.drift)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    output = output or settings.runs_path / "monitoring" / stamp
    output.mkdir(parents=True, exist_ok=True)
    report_path = output / REPORT_FILE
    report_path.write_text(render(result, model=f"{settings.model_name} v{version}", source=source))
    (output / RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"drift-v{version}") as run:
        mlflow.set_tags(
            {
                "monitoring.kind": "drift",
                "monitoring.model_name": settings.model_name,
                "monitoring.model_version": version,
                "monitoring.source": source[:500],
                "monitoring.drifted": str(result.drifted),
            }
        )
        mlflow.log_metrics(
            {
                "drift.share_drifted": result.share_drifted,
                "drift.detected": float(result.drifted),
                "drift.n_current": float(result.n_current),
                **{
                    f"drift.effect.{_metric_name(f.name)}": _finite(f.effect)
                    for f in result.features
                },
            }
        )
        if result.prediction is not None:
            mlflow.log_metric("drift.effect.prediction", result.prediction.effect)
        mlflow.log_artifact(str(report_path), "monitoring")
        mlflow.log_artifact(str(output / RESULT_FILE), "monitoring")
    return DriftCheck(result, settings.model_name, version, report_path, run.info.run_id)


def read_current(path: Path) -> pd.DataFrame:
    """A CSV/Parquet file, or a folder of Parquet segments or data-collector JSON lines."""
    if path.is_file():
        if path.suffix.lower() in {".jsonl", ".json"}:
            return _read_collector_lines([path])
        return load_table(path)
    if not path.is_dir():
        raise DataError(f"--data {path} does not exist: pass a CSV/Parquet file or a folder")
    parquet = sorted(path.rglob("*.parquet"))
    lines = sorted(path.rglob("*.jsonl"))
    if parquet:
        return missing_as_nan(pd.concat([pd.read_parquet(p) for p in parquet], ignore_index=True))
    if lines:
        return _read_collector_lines(lines)
    raise DataError(f"--data {path} holds no .parquet or .jsonl files: nothing to compare")


def _read_collector_lines(paths: list[Path]) -> pd.DataFrame:
    """Azure ML data collector files: one JSON object per line, its rows under "data"."""
    rows: list[dict] = []
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise DataError(f"{path} line {number} is not JSON: {error}") from None
            if not isinstance(record, dict):
                continue
            data = record.get("data")
            if isinstance(data, str):
                data = json.loads(data)
            records = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
            meta = {TIMESTAMP: record.get("time"), CORRELATION_ID: record.get("correlationid")}
            rows.extend({**meta, **row} for row in records if isinstance(row, dict))
    if not rows:
        raise DataError(f"no rows in {', '.join(map(str, paths[:3]))}: nothing to compare")
    return missing_as_nan(pd.DataFrame(rows))


def _within(frame: pd.DataFrame, window: timedelta, source: str) -> pd.DataFrame:
    if TIMESTAMP not in frame.columns:
        raise DataError(f"{source} has no {TIMESTAMP} column: --since needs logged timestamps")
    stamps = pd.to_datetime(frame[TIMESTAMP], utc=True, errors="coerce")
    kept = frame[stamps >= pd.Timestamp(datetime.now(UTC) - window)].reset_index(drop=True)
    if kept.empty:
        raise DataError(f"no rows of {source} in the last {window}: choose a longer --since")
    return kept


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    previous = os.environ.get(PROGRESS_BAR_ENV)
    os.environ[PROGRESS_BAR_ENV] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_BAR_ENV, None)
        else:
            os.environ[PROGRESS_BAR_ENV] = previous


def serving_model(settings: Settings, environment: str, client: object) -> tuple[str, Path]:
    """The version the environment's deployment record names, and its model folder, verified
    against the recorded digest (`model_files.materialize_version` refuses other files)."""
    from ..deployments import read_deployment
    from ..model_files import materialize_version

    name = settings.model_name
    record = read_deployment(settings, environment, client)  # type: ignore[arg-type]
    if record is None:
        raise PipelineError(
            f"nothing is deployed to '{environment}' for model '{name}' in "
            f"{settings.tracking_uri}: drift is measured against the model that serves; "
            "train and deploy one with `run` first"
        )
    with _no_progress_bar():  # its carriage returns would garble the one-line summary in CI
        model_dir = materialize_version(settings, name, record.version, record.digest) / "model"
    if not (model_dir / REFERENCE_FILE).is_file():
        raise PipelineError(
            f"v{record.version} of '{name}' has no {REFERENCE_FILE}: it was trained before "
            "drift references were stored; retrain it with `run` to monitor it"
        )
    return record.version, model_dir


def _with_predictions(
    current: pd.DataFrame, reference: pd.DataFrame, model_dir: Path
) -> pd.DataFrame:
    """Score rows that carry no logged prediction with the champion itself."""
    if PREDICTION_COLUMN in current.columns or current.empty:
        return current
    features = [c for c in reference.columns if c != PREDICTION_COLUMN]
    if any(c not in current.columns for c in features):
        return current  # `compare` names the missing columns
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(str(model_dir))
    try:
        predictions = model.predict(current[features])
    except (ValueError, TypeError) as error:
        raise DataError(f"the champion cannot score the current data: {error}") from None
    return current.assign(**{PREDICTION_COLUMN: pd.Series(predictions).astype(str).to_numpy()})


def _metric_name(name: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces only."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in str(name))


def _finite(value: float) -> float:
    return value if value != float("inf") else 1e9
