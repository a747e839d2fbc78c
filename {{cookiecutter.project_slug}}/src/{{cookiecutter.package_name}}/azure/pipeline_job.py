"""The Azure ML pipeline job: prepare -> train (or a sweep of train trials) -> evaluate -> register.

It reads like the local pipeline's diagram. Compute is set once for the pipeline (the CPU
cluster, or serverless) and overridden only for training a GPU-capable family on the GPU cluster.
The pipeline job carries the lineage tags (commit, config and data hashes), so every step run
and model version can be traced back to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .. import families
from ..config import PACKAGE_NAME, SearchDimension, Settings
from ..lineage import lineage_tags
from .components import CONFIG, build_component, step_specs, sweep_trial_spec
from .data_asset import DataAssetSpec
from .environments import EnvironmentSpec
from .workspace import WorkspaceCoordinates

if TYPE_CHECKING:
    from azure.ai.ml.entities import CommandComponent, PipelineJob

SERVERLESS = "serverless"


@dataclass(frozen=True)
class ComputePlan:
    """Which compute each step uses; `train` differs only for GPU training."""

    default: str
    train: str
    gpu: bool

    @classmethod
    def for_settings(cls, settings: Settings, coordinates: WorkspaceCoordinates) -> ComputePlan:
        gpu = (
            settings.azure.gpu_training
            and settings.model.training_function is None
            and not settings.automl.enabled
            and families.get(settings.model.family).gpu
        )
        if settings.azure.compute == SERVERLESS:
            return cls(SERVERLESS, SERVERLESS, False)
        train = coordinates.gpu_cluster_name if gpu else coordinates.cpu_cluster_name
        return cls(coordinates.cpu_cluster_name, train, gpu)


def experiment_name(settings: Settings) -> str:
    return settings.azure.experiment_name or settings.tracking.experiment_name


def build_components(
    settings: Settings, environments: dict[str, EnvironmentSpec], plan: ComputePlan
) -> dict[str, CommandComponent]:
    """Every component the pipeline uses, keyed by step (`train_trial` for sweeps)."""
    cpu, gpu = environments["cpu"].reference, environments["gpu"].reference
    code = settings.project_dir
    write_submitted_config(settings)
    specs = step_specs()
    components = {step: build_component(spec, cpu, code) for step, spec in specs.items()}
    sweep = settings.azure.sweep
    train_environment = gpu if plan.gpu else cpu
    if sweep.enabled:
        trial = sweep_trial_spec(sweep.search_space)
        components["train_trial"] = build_component(trial, train_environment, code)
    else:
        components["train"] = build_component(specs["train"], train_environment, code)
    return components


def write_submitted_config(settings: Settings) -> Path:
    """`config/submitted.yaml` in the code snapshot: the settings the components run with.

    The overrides that shaped this submission on the laptop (model family, primary metric,
    ...) would otherwise be lost: the components would read config/pipeline.yaml again. The
    backend is left out (the components are the steps themselves)."""
    path = settings.project_dir / CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `azure submit` / `run --backend azure`: what the Azure ML steps read.\n"
    tree = settings.effective_config(skip=("backend", "project_dir"))
    tree.pop("project_dir", None)
    path.write_text(header + yaml.safe_dump(tree, sort_keys=False))
    return path


def search_space(dimensions: dict[str, SearchDimension]) -> dict[str, Any]:
    """Config dimensions as Azure ML sweep distributions (loguniform takes plain bounds)."""
    from azure.ai.ml.sweep import Choice, LogUniform, Randint, Uniform

    space: dict[str, Any] = {}
    for key, dimension in dimensions.items():
        if dimension.type == "choice":
            space[key] = Choice(values=list(dimension.values or []))
        elif dimension.type == "randint":
            space[key] = Randint(upper=dimension.upper)
        elif dimension.type == "uniform":
            space[key] = Uniform(min_value=dimension.min_value, max_value=dimension.max_value)
        else:  # Azure ML's LogUniform takes the logarithms of the bounds
            low, high = dimension.min_value or 0.0, dimension.max_value or 0.0
            space[key] = LogUniform(min_value=math.log(low), max_value=math.log(high))
    return space


def _early_termination(kind: str) -> Any:
    from azure.ai.ml.sweep import BanditPolicy, MedianStoppingPolicy

    if kind == "bandit":
        return BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2)
    if kind == "median_stopping":
        return MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=2)
    return None


def build_pipeline_job(
    settings: Settings,
    coordinates: WorkspaceCoordinates,
    environments: dict[str, EnvironmentSpec],
    data: DataAssetSpec,
) -> PipelineJob:
    """The pipeline job, ready for `MLClient.jobs.create_or_update` or `dump`."""
    from azure.ai.ml import Input, dsl

    plan = ComputePlan.for_settings(settings, coordinates)
    components = build_components(settings, environments, plan)
    sweep = settings.azure.sweep
    metric = settings.sweep_metric

    @dsl.pipeline(
        name=f"{PACKAGE_NAME}_training",
        display_name=f"{PACKAGE_NAME} training",
        description="prepare -> train -> evaluate -> register (the package's step commands)",
        default_compute=plan.default,
        experiment_name=experiment_name(settings),
    )
    def training(training_data):  # unannotated: the SDK cannot read string annotations
        prepare = components["prepare"](data=training_data)
        if sweep.enabled:
            trial = components["train_trial"](
                prepared=prepare.outputs.prepared, **search_space(sweep.search_space)
            )
            train = trial.sweep(
                primary_metric=metric,
                goal=settings.sweep_goal,
                sampling_algorithm=sweep.sampling_algorithm,
                compute=plan.train,
                early_termination_policy=_early_termination(sweep.early_termination),
            )
            train.set_limits(
                max_total_trials=sweep.max_total_trials,
                max_concurrent_trials=sweep.max_concurrent_trials,
                timeout=sweep.timeout_minutes * 60,
            )
        else:
            train = components["train"](prepared=prepare.outputs.prepared)
            train.compute = plan.train
        evaluate = components["evaluate"](
            model=train.outputs.model, prepared=prepare.outputs.prepared
        )
        register = components["register"](
            model=train.outputs.model,
            prepared=prepare.outputs.prepared,
            evaluation=evaluate.outputs.evaluation,
        )
        return {
            "evaluation": evaluate.outputs.evaluation,
            "registration": register.outputs.registration,
        }

    job = training(training_data=Input(type="uri_file", path=data.reference))
    job.tags = {
        **lineage_tags(settings.project_dir, data.sha256 or data.reference, settings.fingerprint()),
        "environment": coordinates.environment,
        "model.family": settings.model.family,
        "compute.train": plan.train,
    }
    return job


def dump_objects(job: PipelineJob, components: dict[str, Any], folder: Path) -> list[Path]:
    """Write the pipeline job and each component as YAML under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "pipeline_job.yml"]
    job.dump(written[0])
    for step, component in components.items():
        path = folder / "components" / f"{step}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        component.dump(path)
        written.append(path)
    return written
