"""Step 2: fit the configured model and save it as an MLflow model folder (skops, no pickle)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema

from .. import automl
from ..config import Settings
from ..data import features_and_target, load_table
from ..drift_reference import save_reference
from ..errors import PipelineError
from ..lineage import model_digest
from ..serving.scoring import store_fast_path
from ..train import (
    TrainingError,
    builtin_trusted_types,
    load_training_function,
    train_builtin,
    train_custom,
)
from .records import log_dataset, read_record, thread_limit, write_record

TRAINED_RECORD = "trained.json"


@dataclass(frozen=True)
class TrainedModel:
    model_dir: Path
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    automl_cv_score: float | None = None
    run_id: str | None = None  # the training run: registered versions link to it
    digest: str | None = None  # sha256 of the model folder as trained

    def describe(self) -> str:
        searched = (
            "" if self.automl_cv_score is None else f" (AutoML cv {self.automl_cv_score:.4f})"
        )
        return f"{self.family}{searched}"

    @classmethod
    def read(cls, folder: Path) -> TrainedModel:
        record = read_record(folder, TRAINED_RECORD)
        return cls(**{**record, "model_dir": folder / "model"})


MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "pandas", "numpy")


def _model_signature(X: pd.DataFrame, predictions: Any) -> ModelSignature:
    """Column names and types as trained; every input is optional because the model imputes
    missing values itself, so a row with a blank field is valid input at scoring time."""
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; ours are optional and
        # the model imputes, so the scoring side casts such columns to float instead.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        inferred = infer_signature(X, predictions)
    optional = Schema([ColSpec(c.type, c.name, required=False) for c in inferred.inputs.inputs])
    return ModelSignature(inputs=optional, outputs=inferred.outputs)


def _pip_requirements() -> list[str]:
    """Pinned from this environment: MLflow's own inference would re-import the model in a
    subprocess, which costs tens of seconds per save."""
    return [f"{name}=={metadata.version(name)}" for name in MODEL_REQUIREMENTS]


def save_model(model: Any, model_dir: Path, X: pd.DataFrame, trusted_types: list[str]) -> None:
    """Save with skops (no pickle); only reviewed types may appear in the file."""
    try:
        mlflow.sklearn.save_model(
            model,
            str(model_dir),
            signature=_model_signature(X, model.predict(X.head(50))),
            input_example=X.head(3),
            skops_trusted_types=trusted_types,
            pip_requirements=_pip_requirements(),
        )
    except MlflowException as error:
        if "untrusted types" not in str(error).lower():
            raise
        found = str(error).split("Untrusted types found in the file:")[-1].split("\n")[0].strip()
        raise TrainingError(
            f"The trained model contains types skops does not trust: {found}. Review them and, "
            "if they come from your own training function, list them in model.trusted_types "
            "in config/pipeline.yaml"
        ) from None


def train(train_path: Path, output_dir: Path, settings: Settings) -> TrainedModel:
    """Fit the configured model (custom function, AutoML winner or built-in family) and save it
    as an MLflow model folder that takes the raw feature columns."""
    with thread_limit(settings):
        return _train(train_path, output_dir, settings)


def _train(train_path: Path, output_dir: Path, settings: Settings) -> TrainedModel:
    train_frame = load_table(train_path)
    X, y = features_and_target(train_frame, settings.data.target)
    log_dataset(train_frame, train_path, settings.data.target, "train", "training")
    spec = settings.model.training_function
    cv_score = None
    if spec:
        function = load_training_function(spec, settings.project_dir)
        model = train_custom(
            function,
            X,
            y,
            params=settings.model.params,
            seed=settings.seed,
            spec=spec,
            task=settings.task,
        )
        family, params = f"custom:{spec}", settings.model.params
    else:
        family, params = settings.model.family, settings.model.params
        if settings.automl.enabled:
            found = automl.search(
                X,
                y,
                families=settings.automl_families,
                metric=settings.evaluation.primary_metric,
                n_trials=settings.automl.n_trials,
                timeout_seconds=settings.automl.timeout_seconds,
                folds=settings.automl.cv_folds,
                seed=settings.seed,
            )
            family, params, cv_score = found.family, found.params, found.cv_score
        model = train_builtin(
            X, y, family=family, params=params, seed=settings.seed, task=settings.task
        )
    model_dir = output_dir / "model"
    if model_dir.exists():
        raise PipelineError(f"{model_dir} already exists: use a fresh --output folder")
    save_model(model, model_dir, X, [*builtin_trusted_types(), *settings.model.trusted_types])
    # The drift baseline travels inside the model folder (drift_reference.py), and so does the
    # verified fast path (serving/stored.py): both are covered by the model's digest.
    save_reference(X, model, model_dir, settings.monitoring.reference_rows, settings.seed)
    store_fast_path(model, model_dir)
    run = mlflow.active_run()
    trained = TrainedModel(
        model_dir,
        family,
        dict(params),
        cv_score,
        run_id=None if run is None else run.info.run_id,
        digest=model_digest(model_dir),
    )
    write_record(output_dir, TRAINED_RECORD, trained)
    if mlflow.active_run():
        mlflow.log_params({"model.family": family, "model.n_features": X.shape[1]})
        mlflow.log_params({f"model.param.{k}": v for k, v in params.items()})
        if cv_score is not None:
            mlflow.log_metric(f"automl.cv_{settings.evaluation.primary_metric}", cv_score)
    return trained
