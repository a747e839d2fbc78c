"""`run` for the whole pipeline, one command per step, and `models`.

The per-step commands take input and output folders as options, which is how an Azure ML
component calls them (`--train-data ${inputs.train}`). Heavy libraries are imported inside
the commands so `--help` stays fast. Bad input ends with a one-line message and exit code 1.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..config import PACKAGE_NAME, Settings
from ..errors import PipelineError
from ..model_listing import list_model
from .errors import exit_on_error
from .options import (
    AutoMLOption,
    ConfigOption,
    DataOption,
    FamilyOption,
    ModelNameOption,
    SeedOption,
    TargetOption,
    TrainingFunctionOption,
    settings_from,
)
from .progress import ConsoleProgress, console

if TYPE_CHECKING:
    from ..steps.deploy import Deployment
    from ..steps.prepare import PreparedData
    from ..steps.train import TrainedModel


def run(
    data: DataOption = None,
    target: TargetOption = None,
    config: ConfigOption = None,
    model_family: FamilyOption = None,
    training_function: TrainingFunctionOption = None,
    primary_metric: Annotated[
        str | None, typer.Option("--primary-metric", help="Metric that decides promotion.")
    ] = None,
    min_improvement: Annotated[
        float | None, typer.Option("--min-improvement", help="Margin to beat the champion by.")
    ] = None,
    automl: AutoMLOption = None,
    seed: SeedOption = None,
    model_name: ModelNameOption = None,
    backend: Annotated[
        str | None, typer.Option("--backend", help="local (default) or azure.")
    ] = None,
) -> None:
    """Run every step: prepare_data, train, evaluate, register (+ promote if better), deploy."""
    with exit_on_error():
        settings = settings_from(
            config,
            data__path=data,
            data__target=target,
            model__family=model_family,
            model__training_function=training_function,
            evaluation__primary_metric=primary_metric,
            evaluation__min_improvement=min_improvement,
            automl__enabled=automl,
            seed=seed,
            tracking__model_name=model_name,
            backend=backend,
        )
        if settings.backend == "azure":
            _submit_to_azure(settings)
            return
        from ..pipeline import STEP_NAMES, create_pipeline

        pipeline = create_pipeline(settings)
        progress = ConsoleProgress(len(STEP_NAMES))
        try:
            context = pipeline.run(progress)
        finally:
            progress.stop()
    if context.evaluation is not None:
        scores = ", ".join(f"{k}={v:.4f}" for k, v in context.evaluation.metrics.items())
        console.print(f"Holdout metrics: {scores}", soft_wrap=True)
    console.print(f"Run artifacts: {context.work_dir}", soft_wrap=True)
    console.print(
        f"MLflow UI: mlflow ui --backend-store-uri {settings.tracking_uri}", soft_wrap=True
    )
    if context.registration is not None and context.deployment is not None:
        console.print(
            f"Result: {_outcome(context.registration.version, context.deployment)}",
            soft_wrap=True,
        )


def _submit_to_azure(settings: Settings) -> None:
    """`backend: azure`: the same steps as an Azure ML pipeline (`azure submit`, no wait)."""
    from ..azure.submit import submit_training
    from ..azure.workspace import ml_client

    result = submit_training(settings, ml_client(settings), wait=False, timeout_minutes=0)
    console.print(f"Submitted {result.job}: {result.studio_url}", soft_wrap=True)
    console.print(f"Follow it with: {PACKAGE_NAME} azure status {result.job}", soft_wrap=True)


def _outcome(version: str, deployment: Deployment) -> str:
    """One line that says what happened to the champion, and why."""
    if deployment.promoted:
        return f"v{version} is the new champion ({deployment.reason})"
    kept = deployment.previous_champion
    champion = f"champion v{kept} kept" if kept else "no champion"
    return f"v{version} registered, not promoted; {champion}: {deployment.reason}"


def _run_step(settings: Settings, step: str, output: Path, **earlier: Any) -> Any:
    """Run one step method of the configured pipeline class (`pipeline.class`) in its own
    MLflow run (or the Azure ML job's own run, via MLFLOW_RUN_ID), with the earlier steps'
    outputs read from their folders and this step's output going to `output`."""
    import mlflow

    from ..pipeline import RunContext, create_pipeline
    from ..tracking import configure_tracking

    pipeline = create_pipeline(settings)
    experiment_id = configure_tracking(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name=step) as run:
        context = RunContext(run.info.run_id, output.parent, outputs={step: output}, **earlier)
        return getattr(pipeline, step)(context)


def _prepared_from(split_file: Path, split: str, settings: Settings) -> PreparedData:
    """The prepare step's record next to a split file, or a minimal one for a bare file."""
    from dataclasses import replace

    from ..lineage import file_sha256
    from ..steps.prepare import PREPARED_RECORD, PreparedData

    if not split_file.is_file():
        raise PipelineError(f"{split_file} does not exist: pass a split file from `prepare`")
    if (split_file.parent / PREPARED_RECORD).is_file():
        prepared = PreparedData.read(split_file.parent)
        return replace(prepared, **{f"{split}_path": split_file})
    return PreparedData(
        split_file,
        split_file,
        settings.data.target,
        str(split_file),
        file_sha256(split_file),
        [],
        0,
        0,
    )


def _trained_from(model: Path) -> TrainedModel:
    """The train step's record next to a model folder (it names the training run)."""
    from dataclasses import replace

    from ..steps.train import TRAINED_RECORD, TrainedModel

    if not (model / "MLmodel").is_file():
        raise PipelineError(f"{model} is not an MLflow model folder: pass the model from `train`")
    if (model.parent / TRAINED_RECORD).is_file():
        return replace(TrainedModel.read(model.parent), model_dir=model)
    return TrainedModel(model, family="unknown")


def prepare(
    output: Annotated[Path, typer.Option("--output", help="Folder for train/test Parquet.")],
    data: DataOption = None,
    target: TargetOption = None,
    seed: SeedOption = None,
    config: ConfigOption = None,
) -> None:
    """Step 1: validate the data and split it into train.parquet and test.parquet."""
    with exit_on_error():
        settings = settings_from(config, data__path=data, data__target=target, seed=seed)
        prepared = _run_step(settings, "prepare_data", output)
    console.print(f"Prepared: {prepared.describe()} -> {output}")


def _param_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--param max_depth=4` -> {"model__params__max_depth": 4} (values parsed as YAML)."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PipelineError(f"--param '{pair}' is not KEY=VALUE (e.g. --param max_depth=4)")
        overrides[f"model__params__{key.strip()}"] = yaml.safe_load(value)
    return overrides


def train(
    train_data: Annotated[Path, typer.Option("--train-data", help="train.parquet from prepare.")],
    output: Annotated[Path, typer.Option("--output", help="Folder for the MLflow model.")],
    target: TargetOption = None,
    model_family: FamilyOption = None,
    training_function: TrainingFunctionOption = None,
    automl: AutoMLOption = None,
    seed: SeedOption = None,
    config: ConfigOption = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="model.params entry KEY=VALUE (repeatable; sweeps use it)."),
    ] = None,
) -> None:
    """Step 2: fit the model and save it as an MLflow model folder."""
    with exit_on_error():
        settings = settings_from(
            config,
            **_param_overrides(param or []),
            data__target=target,
            model__family=model_family,
            model__training_function=training_function,
            automl__enabled=automl,
            seed=seed,
        )
        prepared = _prepared_from(train_data, "train", settings)
        trained = _run_step(settings, "train", output, prepared=prepared)
    console.print(f"Trained: {trained.describe()} -> {trained.model_dir}")


def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model folder from train.")],
    test_data: Annotated[Path, typer.Option("--test-data", help="test.parquet from prepare.")],
    output: Annotated[Path, typer.Option("--output", help="Folder for metrics and plots.")],
    target: TargetOption = None,
    model_name: ModelNameOption = None,
    config: ConfigOption = None,
) -> None:
    """Step 3: score the challenger and the current champion on the holdout, and decide."""
    with exit_on_error():
        settings = settings_from(config, data__target=target, tracking__model_name=model_name)
        evaluation = _run_step(
            settings,
            "evaluate",
            output,
            prepared=_prepared_from(test_data, "test", settings),
            trained=_trained_from(model),
        )
    console.print(f"Decision: {'promote' if evaluation.decision.promote else 'keep champion'}")
    console.print(evaluation.decision.reason, soft_wrap=True)


def register(
    model: Annotated[Path, typer.Option("--model", help="Model folder from train.")],
    prepared: Annotated[Path, typer.Option("--prepared", help="Output folder of prepare.")],
    evaluation: Annotated[Path, typer.Option("--evaluation", help="Output folder of evaluate.")],
    output: Annotated[Path, typer.Option("--output", help="Folder for registration.json.")],
    model_name: ModelNameOption = None,
    config: ConfigOption = None,
) -> None:
    """Step 4: register a new version, verified against evaluate's record (name, digest)."""
    with exit_on_error():
        settings = settings_from(config, tracking__model_name=model_name)
        from ..steps.evaluate import Evaluation
        from ..steps.prepare import PreparedData

        registration = _run_step(
            settings,
            "register",
            output,
            prepared=PreparedData.read(prepared),
            trained=_trained_from(model),
            evaluation=Evaluation.read(evaluation),
        )
    console.print(f"{registration.describe()}: {registration.reason}", soft_wrap=True)


def deploy(
    registration: Annotated[
        Path, typer.Option("--registration", help="Output folder of register.")
    ],
    output: Annotated[Path, typer.Option("--output", help="Folder for deployment.json.")],
    model_name: ModelNameOption = None,
    config: ConfigOption = None,
) -> None:
    """Step 5: deploy the candidate and promote it, or keep serving the champion."""
    with exit_on_error():
        settings = settings_from(config, tracking__model_name=model_name)
        from ..steps.register import Registration

        deployment = _run_step(
            settings, "deploy", output, registration=Registration.read(registration)
        )
    console.print(deployment.describe())


def _rounded(value: str | None) -> str:
    try:
        return f"{float(value):.4f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"


def models(
    config: ConfigOption = None,
    model_name: ModelNameOption = None,
) -> None:
    """List registered versions with their metrics, the gate's decision and the champion."""
    with exit_on_error():
        settings = settings_from(config, tracking__model_name=model_name)
        # The local registry is read without importing MLflow (seconds): see model_listing.
        listing = list_model(settings.tracking_uri, settings.model_name)
        if not listing.versions:
            raise PipelineError(
                f"No versions of model '{settings.model_name}' in {settings.tracking_uri}: "
                "train one with `run`"
            )
    metric = settings.evaluation.primary_metric
    table = Table(title=f"Model '{settings.model_name}' ({settings.tracking_uri})")
    for column in ("version", "champion", metric, "compared with", "promoted", "created"):
        table.add_column(column)
    for version in listing.versions:
        tags = version.tags
        compared = tags.get("decision.champion_version", "None")
        champion_score = _rounded(tags.get("decision.champion_score"))
        table.add_row(
            str(version.version),
            "★" if version.version == listing.champion else "",
            _rounded(tags.get(f"metric.{metric}")),
            "-" if compared == "None" else f"v{compared} ({champion_score})",
            tags.get("decision.promoted", "-"),
            datetime.fromtimestamp(version.creation_timestamp / 1000).strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
    latest = listing.versions[0]
    console.print(
        f"Latest v{latest.version}: {latest.tags.get('decision.final', 'no decision recorded')}",
        soft_wrap=True,
    )


COMMANDS = {
    "run": run,
    "prepare": prepare,
    "train": train,
    "evaluate": evaluate,
    "register": register,
    "deploy": deploy,
    "models": models,
}
