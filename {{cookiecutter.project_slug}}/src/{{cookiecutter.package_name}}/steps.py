"""The five pipeline steps as plain, typed functions that exchange data through files.

The local runner calls them in-process; an Azure ML component calls the very same functions
through the CLI (`<package> train --train-data ... --output ...`). Each step writes its
outputs and a small JSON record into its output folder, which is all the next step needs.
MLflow logging goes to the active run (the local runner's run, or the Azure ML job's run).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.data
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
from .deployments import (
    LOCAL_ENVIRONMENT,
    DeploymentRecord,
    read_deployment,
    record_deployment,
    restore_deployment,
)
from .errors import PipelineError
from .evaluate import (
    Decision,
    Predictions,
    confusion,
    decide,
    paired_bootstrap_interval,
    score_predictions,
    write_plots,
)
from .lineage import file_sha256, lineage_tags, model_digest
from .locking import ModelLock, local_lock
from .monitoring.reference import save_reference
from .registry import DIGEST_TAG, RegistryError
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


def _log_dataset(frame: pd.DataFrame, source: Path, target: str, name: str, context: str) -> None:
    """Record the data as an MLflow dataset input of the active run (lineage in the UI)."""
    if mlflow.active_run():
        with warnings.catch_warnings():
            # Schema inference repeats the integer-column hint handled in _model_signature,
            # and a local path matches two equivalent source types.
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            warnings.filterwarnings("ignore", message="The specified dataset source")
            dataset = mlflow.data.from_pandas(frame, source=str(source), targets=target, name=name)
            mlflow.log_input(dataset, context=context)


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
    _log_dataset(frame, data_path, target, data_path.name, "source")
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
    run_id: str | None = None  # the training run: registered versions link to it
    digest: str | None = None  # sha256 of the model folder as trained

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
    train_frame = load_table(train_path)
    X, y = features_and_target(train_frame, settings.data.target)
    _log_dataset(train_frame, train_path, settings.data.target, "train", "training")
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
    run = mlflow.active_run()
    trained = TrainedModel(
        model_dir,
        family,
        dict(params),
        cv_score,
        run_id=None if run is None else run.info.run_id,
        digest=model_digest(model_dir),
    )
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
    """The gate's decision, bound to what it decided about: the model name, the challenger's
    files (digest) and the champion version and files it was compared with."""

    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decision: Decision
    confusion_matrix: dict[str, Any]
    plots_dir: Path
    model_name: str | None = None
    challenger_digest: str | None = None
    champion_digest: str | None = None

    def describe(self) -> str:
        return self.decision.reason

    @classmethod
    def read(cls, folder: Path) -> Evaluation:
        record = _read_record(folder, EVALUATION_RECORD)
        decision = Decision(**record.pop("decision"))
        return cls(**{**record, "decision": decision, "plots_dir": Path(record["plots_dir"])})


@dataclass(frozen=True)
class _ChampionScore:
    predictions: Predictions | None
    metrics: dict[str, float] | None
    digest: str
    problem: str | None


def _score_champion(
    client: MlflowClient, champion: Any, model_name: str, X: pd.DataFrame, y: pd.Series
) -> _ChampionScore:
    """Download the champion's files (a store failure fails the step), verify them against
    the digest recorded at registration, and score them on this holdout. A champion that
    loads but cannot score this holdout (other columns or classes) is reported, not raised."""
    version = str(champion.version)
    uri = registry.call(
        client,
        "get_model_version_download_uri",
        client.get_model_version_download_uri,
        model_name,
        version,
    )
    with tempfile.TemporaryDirectory(prefix="champion-") as scratch:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        except Exception as error:
            raise RegistryError(
                f"model registry {registry.store_uri(client)}: download_artifacts('{uri}') "
                f"for champion v{version} failed ({type(error).__name__}: {error})"
            ) from error
        digest = model_digest(local)
        recorded = champion.tags.get(DIGEST_TAG)
        if recorded and recorded != digest:
            raise PipelineError(
                f"champion {model_name} v{version}: its files (sha256 {digest[:12]}) differ "
                f"from those registered (sha256 {recorded[:12]}): the artifact store was "
                "changed; restore it or promote another version"
            )
        try:
            predictions = Predictions.of(mlflow.sklearn.load_model(str(local)), X)
            metrics = score_predictions(predictions, y)
        except Exception as error:  # another schema, other classes, a broken model file
            return _ChampionScore(None, None, digest, f"{type(error).__name__}: {error}")
    return _ChampionScore(predictions, metrics, digest, None)


def evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    """Score the challenger and the current champion on the same holdout and decide."""
    with _thread_limit(settings):
        return _evaluate(model_dir, test_path, output_dir, settings)


def _evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    test_frame = load_table(test_path)
    X, y = features_and_target(test_frame, settings.data.target)
    _log_dataset(test_frame, test_path, settings.data.target, "test", "evaluation")
    challenger_digest = model_digest(model_dir)
    challenger = mlflow.sklearn.load_model(str(model_dir))
    challenger_predictions = Predictions.of(challenger, X)
    metrics = score_predictions(challenger_predictions, y)
    metric = settings.evaluation.primary_metric
    client = MlflowClient()
    champion = registry.get_champion_version(client, settings.model_name)
    scored = None
    if champion is not None:
        scored = _score_champion(client, champion, settings.model_name, X, y)
    champion_metrics = None if scored is None else scored.metrics
    champion_score = None if champion_metrics is None else champion_metrics[metric]
    significance = settings.evaluation.significance
    interval = None
    if significance.test == "bootstrap" and scored is not None and scored.predictions is not None:
        interval = paired_bootstrap_interval(
            metric,
            y,
            challenger_predictions,
            scored.predictions,
            confidence=significance.confidence,
            resamples=significance.resamples,
            seed=settings.seed,
        )
    decision = decide(
        metric,
        metrics[metric],
        champion_score,
        None if champion is None else str(champion.version),
        settings.evaluation.min_improvement,
        champion_problem=None if scored is None else scored.problem,
        interval=interval,
        confidence=None if interval is None else significance.confidence,
        n=len(y),
    )
    plots_dir = output_dir / "plots"
    importances = write_plots(challenger, X, y, settings.seed, plots_dir)
    evaluation = Evaluation(
        metrics,
        champion_metrics,
        decision,
        confusion(challenger, X, y),
        plots_dir,
        model_name=settings.model_name,
        challenger_digest=challenger_digest,
        champion_digest=None if scored is None else scored.digest,
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
    """A registered version; `candidate` means the gate said it should replace the champion
    it was compared with. Only `deploy` makes a candidate the champion."""

    model_name: str
    version: str
    candidate: bool
    reason: str
    champion_version: str | None  # the champion the gate compared with
    digest: str | None = None
    champion_digest: str | None = None
    train_run_id: str | None = None

    def describe(self) -> str:
        outcome = "a candidate for champion" if self.candidate else "not a candidate"
        return f"{self.model_name} v{self.version} registered, {outcome}"

    @classmethod
    def read(cls, folder: Path) -> Registration:
        return cls(**_read_record(folder, REGISTRATION_RECORD))


def verify_evaluation(model_dir: Path, evaluation: Evaluation, settings: Settings) -> str:
    """Refuse a decision made for another model name or other model files; return the digest."""
    if evaluation.model_name is None or evaluation.challenger_digest is None:
        raise PipelineError(
            "the evaluation record names no model or digest (written by an older version): "
            "re-run evaluate"
        )
    if evaluation.model_name != settings.model_name:
        raise PipelineError(
            f"the evaluation was made for model '{evaluation.model_name}', not "
            f"'{settings.model_name}': pass the matching --model-name or re-run evaluate"
        )
    digest = model_digest(model_dir)
    if digest != evaluation.challenger_digest:
        raise PipelineError(
            f"the model at {model_dir} (sha256 {digest[:12]}) is not the model evaluate scored "
            f"(sha256 {evaluation.challenger_digest[:12]}): refusing to register it; re-run "
            "evaluate on this model folder"
        )
    return digest


def register(
    trained: TrainedModel,
    prepared: PreparedData,
    evaluation: Evaluation,
    output_dir: Path,
    settings: Settings,
) -> Registration:
    """Register the challenger as a new version with lineage, metrics and the decision.

    The version links to the training run and is a candidate only if the gate said so; it
    is never promoted here (see `deploy`)."""
    digest = verify_evaluation(trained.model_dir, evaluation, settings)
    run_id = _active_run_id("register")
    train_run_id = trained.run_id or run_id
    client = MlflowClient()
    name = settings.model_name
    try:
        mlflow.log_artifacts(str(trained.model_dir), "model")
    except Exception as error:
        raise RegistryError(
            f"artifact store of {mlflow.get_tracking_uri()}: log_artifacts('{trained.model_dir}') "
            f"failed ({type(error).__name__}: {error})"
        ) from error
    decision = evaluation.decision
    tags = {
        **lineage_tags(settings.project_dir, prepared.data_sha256, settings.fingerprint()),
        **decision.as_tags(),
        **{f"metric.{k}": f"{v:.6f}" for k, v in evaluation.metrics.items()},
        "data.target": prepared.target,
        "data.source": prepared.source,
        DIGEST_TAG: digest,
        "decision.candidate": str(decision.promote),
        "decision.champion_digest": str(evaluation.champion_digest),
        "lineage.train_run_id": train_run_id,
        "lineage.register_run_id": run_id,
    }
    version = registry.register_version(
        client, name, mlflow.get_artifact_uri("model"), train_run_id, tags
    )
    registration = Registration(
        name,
        str(version.version),
        decision.promote,
        decision.reason,
        decision.champion_version,
        digest,
        evaluation.champion_digest,
        train_run_id,
    )
    _write_record(output_dir, REGISTRATION_RECORD, registration)
    mlflow.set_tags(
        {"registered.version": registration.version, "candidate": str(decision.promote)}
    )
    return registration


# --- deploy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    model_name: str
    version: str | None
    model_uri: str | None
    changed: bool
    target: str = "local"
    promoted: bool = False
    reason: str = ""
    previous_champion: str | None = None
    environment: str = LOCAL_ENVIRONMENT
    digest: str | None = None

    def describe(self) -> str:
        if self.version is None:
            return "nothing to serve: there is no champion"
        if self.promoted:
            return f"v{self.version} promoted to champion, now serving {self.model_uri}"
        state = "now serving" if self.changed else "still serving"
        return f"{state} {self.model_uri}"

    @classmethod
    def read(cls, folder: Path) -> Deployment:
        return cls(**_read_record(folder, DEPLOYMENT_RECORD))


def rollout_local(settings: Settings, model_name: str, version: str, digest: str) -> None:
    """Locally, rolling out means materializing the exact version where `serve` loads it and
    verifying its files against the digest."""
    from .serving.local import materialize_version

    materialize_version(settings, model_name, version, digest)


def deploy(
    registration: Registration,
    output_dir: Path,
    settings: Settings,
    *,
    lock: ModelLock | None = None,
    environment: str = LOCAL_ENVIRONMENT,
) -> Deployment:
    """The one champion transition: deploy, record, then promote, under the model's lock.

    Inside the lock the champion is read again: a candidate is deployed and promoted only if
    the champion is still the one the gate compared it with. The candidate is rolled out and
    the deployment record written first, then the champion moves; if the promotion fails the
    record is restored. A failure before that changes nothing. A version that is not a
    candidate leaves the champion in place and (re)deploys it if the environment does not
    serve it yet.
    """
    name = registration.model_name
    if name != settings.model_name:
        raise PipelineError(
            f"the registration is for model '{name}', not '{settings.model_name}': pass the "
            "matching --model-name"
        )
    client = MlflowClient()
    with (lock or local_lock(settings)).hold(name):
        champion = registry.get_champion_version(client, name)
        current = None if champion is None else str(champion.version)
        previous = read_deployment(settings, environment, client)
        promote, reason = registration.candidate, registration.reason
        if promote and current != registration.champion_version:
            promote = False
            reason = (
                f"champion changed from v{registration.champion_version} to v{current} while "
                "this run was evaluating; re-run to compare against the new champion"
            )
        elif promote and champion is not None and registration.champion_digest:
            recorded = champion.tags.get(DIGEST_TAG)
            if recorded and recorded != registration.champion_digest:
                promote = False
                reason = f"champion v{current}'s files are not those the gate compared with"
        if promote:
            target, digest = registration.version, _verified_digest(client, registration)
        elif champion is not None:
            target, digest = current, champion.tags.get(DIGEST_TAG)
        else:
            target, digest = None, None
        registry.tag_version(
            client,
            name,
            registration.version,
            {"decision.promoted": str(promote), "decision.final": reason},
        )
        try:
            changed, digest = _roll_out_and_record(
                settings, client, name, target, digest, previous, environment
            )
            if promote:
                _promote_or_restore(client, settings, registration, champion, environment, previous)
        except PipelineError as error:
            with contextlib.suppress(PipelineError):  # the decision tags say what happened
                registry.tag_version(
                    client,
                    name,
                    registration.version,
                    {
                        "decision.promoted": "False",
                        "decision.final": f"deploy failed: {error}"[:4000],  # tag size limit
                    },
                )
            raise
    deployment = Deployment(
        model_name=name,
        version=target,
        model_uri=None if target is None else f"models:/{name}/{target}",
        changed=changed,
        target=settings.backend,
        promoted=promote,
        reason=reason,
        previous_champion=current,
        environment=environment,
        digest=digest,
    )
    _write_record(output_dir, DEPLOYMENT_RECORD, deployment)
    if mlflow.active_run():
        mlflow.log_dict(asdict(deployment), "deployment.json")
        mlflow.set_tags({"promoted": str(promote)})
    return deployment


def _roll_out_and_record(
    settings: Settings,
    client: MlflowClient,
    name: str,
    target: str | None,
    digest: str | None,
    previous: DeploymentRecord | None,
    environment: str,
) -> tuple[bool, str | None]:
    """Roll `target` out unless the environment already serves it, then record it; returns
    whether anything changed and the digest deployed."""
    if target is None or (
        previous is not None and previous.version == target and previous.digest == digest
    ):
        return False, digest
    if digest is None:  # a champion registered before digests were recorded
        from .serving.local import materialize_version

        digest = model_digest(materialize_version(settings, name, target) / "model")
    rollout_local(settings, name, target, digest)
    run = mlflow.active_run()
    record_deployment(
        settings,
        DeploymentRecord(
            name,
            environment,
            target,
            digest,
            target=settings.backend,
            run_id=None if run is None else run.info.run_id,
        ),
        client,
    )
    return True, digest


def _verified_digest(client: MlflowClient, registration: Registration) -> str:
    """The candidate's digest as registered must be the one the registration record names."""
    version = registry.get_version(client, registration.model_name, registration.version)
    recorded = version.tags.get(DIGEST_TAG)
    if not recorded or recorded != registration.digest:
        raise PipelineError(
            f"{registration.model_name} v{registration.version} is registered with sha256 "
            f"{str(recorded)[:12]}, but the registration record says "
            f"{str(registration.digest)[:12]}: refusing to deploy; pass the output folder of "
            "the register step that registered this version"
        )
    return recorded


def _promote_or_restore(
    client: MlflowClient,
    settings: Settings,
    registration: Registration,
    champion: Any,
    environment: str,
    previous: DeploymentRecord | None,
) -> None:
    """Move the champion; if that fails, put the deployment record back as it was."""
    name, version = registration.model_name, registration.version
    try:
        registry.promote(client, name, version, champion)
    except RegistryError as error:
        was = "nothing" if previous is None else f"v{previous.version}"
        try:
            restore_deployment(settings, environment, previous, client)
        except RegistryError as restore_error:
            raise RegistryError(
                f"{error}; restoring the deployment record of '{environment}' to {was} also "
                f"failed ({restore_error}): run `deploy` again once the store is healthy"
            ) from error
        raise RegistryError(
            f"{error}; the deployment record of '{environment}' was restored ({was})"
        ) from error
