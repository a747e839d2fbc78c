"""The five pipeline steps as plain, typed functions that exchange data through files.

The local runner calls them in-process; an Azure ML component calls the very same functions
through the CLI (`<package> train --train-data ... --output ...`). Each step writes its
outputs and a small JSON record into its output folder, which is all the next step needs.
MLflow logging goes to the active run (the local runner's run, or the Azure ML job's run).
"""

from __future__ import annotations

import json
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema
from threadpoolctl import threadpool_limits

from . import automl, registry
from .config import Settings
from .data import features_and_target, load_table, split_table, validate_table
from .errors import PipelineError
from .evaluate import Decision, confusion, decide, score_model, write_plots
from .lineage import file_sha256, lineage_tags
from .monitoring.reference import save_reference
from .train import (
    BUILTIN_TRUSTED_TYPES,
    TrainingError,
    load_training_function,
    train_builtin,
    train_custom,
)

PREPARED_RECORD = "prepared.json"
TRAINED_RECORD = "trained.json"
EVALUATION_RECORD = "evaluation.json"
REGISTRATION_RECORD = "registration.json"
DEPLOYMENT_RECORD = "deployment.json"


def _write_record(output_dir: Path, name: str, record: Any) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / name).write_text(json.dumps(asdict(record), indent=2, default=str) + "\n")


def _read_record(input_dir: Path, name: str) -> dict[str, Any]:
    path = input_dir / name
    if not path.is_file():
        raise PipelineError(f"{path} is missing: pass the output folder of the previous step")
    return json.loads(path.read_text())


def _thread_limit(settings: Settings) -> AbstractContextManager[object]:
    """OpenMP/BLAS threads as configured: on a busy machine, spinning threads on small data
    make gradient boosting many times slower than one thread."""
    threads = settings.model.threads
    return nullcontext() if threads is None else threadpool_limits(limits=threads)


def _active_run_id(step: str) -> str:
    run = mlflow.active_run()
    if run is None:
        raise PipelineError(f"The {step} step needs an active MLflow run to attach its outputs")
    return run.info.run_id


# --- prepare -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedData:
    train_path: Path
    test_path: Path
    target: str
    source: str
    data_sha256: str
    classes: list[str]
    n_train: int
    n_test: int

    def describe(self) -> str:
        return (
            f"{self.n_train} train / {self.n_test} test rows, "
            f"{len(self.classes)} classes of '{self.target}'"
        )

    @classmethod
    def read(cls, folder: Path) -> PreparedData:
        record = _read_record(folder, PREPARED_RECORD)
        return cls(
            **{
                **record,
                "train_path": folder / "train.parquet",
                "test_path": folder / "test.parquet",
            }
        )


def prepare_data(data_path: Path, output_dir: Path, settings: Settings) -> PreparedData:
    """Load, validate (before any training) and split the data into train/test Parquet files."""
    target = settings.data.target
    frame = load_table(data_path)
    validate_table(frame, target, data_path)
    train_frame, test_frame = split_table(frame, target, settings.data.test_size, settings.seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    train_frame.to_parquet(output_dir / "train.parquet", index=False)
    test_frame.to_parquet(output_dir / "test.parquet", index=False)
    prepared = PreparedData(
        train_path=output_dir / "train.parquet",
        test_path=output_dir / "test.parquet",
        target=target,
        source=str(data_path),
        data_sha256=file_sha256(data_path),
        classes=sorted(str(c) for c in frame[target].unique()),
        n_train=len(train_frame),
        n_test=len(test_frame),
    )
    _write_record(output_dir, PREPARED_RECORD, prepared)
    if mlflow.active_run():
        mlflow.log_params({"data.source": str(data_path), "data.target": target})
        mlflow.log_metrics({"data.n_train": prepared.n_train, "data.n_test": prepared.n_test})
        mlflow.set_tag("lineage.data_sha256", prepared.data_sha256)
    return prepared


# --- train ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainedModel:
    model_dir: Path
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    automl_cv_score: float | None = None

    def describe(self) -> str:
        searched = (
            "" if self.automl_cv_score is None else f" (AutoML cv {self.automl_cv_score:.4f})"
        )
        return f"{self.family}{searched}"

    @classmethod
    def read(cls, folder: Path) -> TrainedModel:
        record = _read_record(folder, TRAINED_RECORD)
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
    with _thread_limit(settings):
        return _train(train_path, output_dir, settings)


def _train(train_path: Path, output_dir: Path, settings: Settings) -> TrainedModel:
    X, y = features_and_target(load_table(train_path), settings.data.target)
    spec = settings.model.training_function
    cv_score = None
    if spec:
        function = load_training_function(spec, settings.project_dir)
        model = train_custom(
            function, X, y, params=settings.model.params, seed=settings.seed, spec=spec
        )
        family, params = f"custom:{spec}", settings.model.params
    else:
        family, params = settings.model.family, settings.model.params
        if settings.automl.enabled:
            found = automl.search(
                X,
                y,
                families=list(settings.automl.families),
                metric=settings.evaluation.primary_metric,
                n_trials=settings.automl.n_trials,
                timeout_seconds=settings.automl.timeout_seconds,
                folds=settings.automl.cv_folds,
                seed=settings.seed,
            )
            family, params, cv_score = found.family, found.params, found.cv_score
        model = train_builtin(X, y, family=family, params=params, seed=settings.seed)
    model_dir = output_dir / "model"
    if model_dir.exists():
        raise PipelineError(f"{model_dir} already exists: use a fresh --output folder")
    save_model(model, model_dir, X, [*BUILTIN_TRUSTED_TYPES, *settings.model.trusted_types])
    # The drift baseline travels inside the model folder (monitoring/reference.py).
    save_reference(X, model, model_dir, settings.monitoring.reference_rows, settings.seed)
    trained = TrainedModel(model_dir, family, dict(params), cv_score)
    _write_record(output_dir, TRAINED_RECORD, trained)
    if mlflow.active_run():
        mlflow.log_params({"model.family": family, "model.n_features": X.shape[1]})
        mlflow.log_params({f"model.param.{k}": v for k, v in params.items()})
        if cv_score is not None:
            mlflow.log_metric(f"automl.cv_{settings.evaluation.primary_metric}", cv_score)
    return trained


# --- evaluate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decision: Decision
    confusion_matrix: dict[str, Any]
    plots_dir: Path

    def describe(self) -> str:
        return self.decision.reason

    @classmethod
    def read(cls, folder: Path) -> Evaluation:
        record = _read_record(folder, EVALUATION_RECORD)
        decision = Decision(**record.pop("decision"))
        return cls(**{**record, "decision": decision, "plots_dir": Path(record["plots_dir"])})


def _score_champion(
    champion: Any, model_name: str, X: pd.DataFrame, y: pd.Series
) -> tuple[dict[str, float] | None, str | None]:
    """Score the current champion on this holdout, or explain why it cannot be scored."""
    try:
        model = mlflow.sklearn.load_model(f"models:/{model_name}/{champion.version}")
        return score_model(model, X, y), None
    except Exception as error:  # another schema, classes or a missing artifact
        return None, f"{type(error).__name__}: {error}"


def evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    """Score the challenger and the current champion on the same holdout and decide."""
    with _thread_limit(settings):
        return _evaluate(model_dir, test_path, output_dir, settings)


def _evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    X, y = features_and_target(load_table(test_path), settings.data.target)
    challenger = mlflow.sklearn.load_model(str(model_dir))
    metrics = score_model(challenger, X, y)
    metric = settings.evaluation.primary_metric
    champion = registry.get_champion_version(MlflowClient(), settings.model_name)
    champion_metrics, champion_error = None, None
    if champion is not None:
        champion_metrics, champion_error = _score_champion(champion, settings.model_name, X, y)
    if champion is not None and champion_metrics is None:
        decision = Decision(
            promote=False,
            reason=(
                f"champion v{champion.version} cannot score this holdout ({champion_error}); "
                "for a different data set use another model name (--model-name)"
            ),
            metric=metric,
            challenger_score=metrics[metric],
            champion_score=None,
            champion_version=champion.version,
            min_improvement=settings.evaluation.min_improvement,
        )
    else:
        decision = decide(
            metric,
            metrics[metric],
            None if champion_metrics is None else champion_metrics[metric],
            None if champion is None else str(champion.version),
            settings.evaluation.min_improvement,
        )
    plots_dir = output_dir / "plots"
    importances = write_plots(challenger, X, y, settings.seed, plots_dir)
    evaluation = Evaluation(
        metrics, champion_metrics, decision, confusion(challenger, X, y), plots_dir
    )
    _write_record(output_dir, EVALUATION_RECORD, evaluation)
    if mlflow.active_run():
        mlflow.log_metrics(metrics)
        if champion_metrics is not None:
            mlflow.log_metrics({f"champion.{k}": v for k, v in champion_metrics.items()})
        mlflow.log_dict(evaluation.confusion_matrix, "evaluation/confusion_matrix.json")
        mlflow.log_dict(importances, "evaluation/feature_importance.json")
        mlflow.log_artifacts(str(plots_dir), "plots")
        mlflow.set_tags(decision.as_tags())
    return evaluation


# --- register ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    model_name: str
    version: str
    promoted: bool
    reason: str
    previous_champion: str | None

    def describe(self) -> str:
        outcome = "promoted to champion" if self.promoted else "registered, not promoted"
        return f"{self.model_name} v{self.version} {outcome}"

    @classmethod
    def read(cls, folder: Path) -> Registration:
        return cls(**_read_record(folder, REGISTRATION_RECORD))


def register(
    model_dir: Path,
    prepared: PreparedData,
    evaluation: Evaluation,
    output_dir: Path,
    settings: Settings,
) -> Registration:
    """Register the challenger as a new version with lineage, metrics and the decision, and
    promote it only if the gate said so and the champion has not changed in the meantime."""
    run_id = _active_run_id("register")
    client = MlflowClient()
    name = settings.model_name
    mlflow.log_artifacts(str(model_dir), "model")
    decision = evaluation.decision
    tags = {
        **lineage_tags(settings.project_dir, prepared.data_sha256, settings.fingerprint()),
        **decision.as_tags(),
        **{f"metric.{k}": f"{v:.6f}" for k, v in evaluation.metrics.items()},
        "data.target": prepared.target,
        "data.source": prepared.source,
    }
    version = registry.register_version(
        client, name, mlflow.get_artifact_uri("model"), run_id, tags
    )
    current = registry.get_champion_version(client, name)
    current_version = None if current is None else str(current.version)
    promoted, reason = decision.promote, decision.reason
    if promoted and current_version != decision.champion_version:
        promoted = False
        reason = (
            f"champion changed from v{decision.champion_version} to v{current_version} "
            "while this run was evaluating; re-run to compare against the new champion"
        )
    if promoted:
        registry.promote(client, name, str(version.version), current)
    registry.tag_version(
        client,
        name,
        str(version.version),
        {"decision.promoted": str(promoted), "decision.final": reason},
    )
    registration = Registration(name, str(version.version), promoted, reason, current_version)
    _write_record(output_dir, REGISTRATION_RECORD, registration)
    mlflow.set_tags({"registered.version": registration.version, "promoted": str(promoted)})
    return registration


# --- deploy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    model_name: str
    version: str | None
    model_uri: str | None
    changed: bool
    target: str = "local"

    def describe(self) -> str:
        if self.version is None:
            return "nothing to serve: there is no champion"
        state = "now serving" if self.changed else "still serving"
        return f"{state} {self.model_uri}"


def deploy(registration: Registration, output_dir: Path, settings: Settings) -> Deployment:
    """Locally, deploying means pinning the exact champion version that `serve` loads.

    It never moves the champion: when the gate refused the challenger, the current champion
    stays. The Azure runner replaces this with a blue/green rollout of the same exact version.
    """
    champion = registry.get_champion_version(MlflowClient(), registration.model_name)
    if registration.promoted and (
        champion is None or str(champion.version) != registration.version
    ):
        raise PipelineError(
            f"v{registration.version} was promoted but the champion is now "
            f"{'none' if champion is None else 'v' + str(champion.version)}: not deploying"
        )
    version = None if champion is None else str(champion.version)
    deployment = Deployment(
        model_name=registration.model_name,
        version=version,
        model_uri=None if version is None else f"models:/{registration.model_name}/{version}",
        changed=registration.promoted,
        target=settings.backend,
    )
    _write_record(output_dir, DEPLOYMENT_RECORD, deployment)
    if mlflow.active_run():
        mlflow.log_dict(asdict(deployment), "deployment.json")
    return deployment
