"""BasePipeline: the five overridable steps, and the local runner that calls them in-process.

Subclass it and override any step to change one part of the pipeline while keeping the rest,
the tracking and the champion gate:

    class MyPipeline(BasePipeline):
        def prepare_data(self, context):
            ...  # e.g. read from a warehouse, then call steps.prepare.prepare_data

Select it with `pipeline.class: my_module:MyPipeline` in config/pipeline.yaml: `run` and every
per-step command (the ones Azure ML components call) instantiate that class, so an override
behaves the same in every runner.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import mlflow

from .config import Settings
from .errors import PipelineError
from .lineage import git_commit
from .locking import ModelLock, local_lock
from .steps import deploy, evaluate, prepare, register, train
from .tracking import configure_tracking

T = TypeVar("T")
# Step name -> the RunContext field that holds its output, in running order.
_OUTPUT_FIELD = {
    "prepare_data": "prepared",
    "train": "trained",
    "evaluate": "evaluation",
    "register": "registration",
    "deploy": "deployment",
}
STEP_NAMES = tuple(_OUTPUT_FIELD)
# Step name -> its output folder under the run's work folder (unless RunContext.outputs says).
_OUTPUT_FOLDER = {
    "prepare_data": "prepared",
    "train": "trained",
    "evaluate": "evaluated",
    "register": "registered",
    "deploy": "deployed",
}


class StepObserver(Protocol):
    """Receives progress; the CLI renders it with rich, tests can record it."""

    def step_started(self, name: str) -> None: ...
    def step_finished(self, name: str, seconds: float, summary: str) -> None: ...


@dataclass
class RunContext:
    """What one run has produced so far; each step reads earlier outputs from here."""

    run_id: str
    work_dir: Path
    prepared: prepare.PreparedData | None = None
    trained: train.TrainedModel | None = None
    evaluation: evaluate.Evaluation | None = None
    registration: register.Registration | None = None
    deployment: deploy.Deployment | None = None
    # Explicit output folders per step (the per-step commands' --output); default work_dir/...
    outputs: dict[str, Path] = field(default_factory=dict)

    def require(self, value: T | None, step: str) -> T:
        if value is None:
            raise PipelineError(f"Step '{step}' has not produced its output yet in this run")
        return value

    def output_dir(self, step: str) -> Path:
        return self.outputs.get(step, self.work_dir / _OUTPUT_FOLDER[step])


class BasePipeline:
    """prepare_data -> train -> evaluate -> register -> deploy, tracked in one MLflow run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # Each step reads earlier outputs from the context and returns its own output.

    def prepare_data(self, context: RunContext) -> prepare.PreparedData:
        return prepare.prepare_data(
            self.settings.data_path, context.output_dir("prepare_data"), self.settings
        )

    def train(self, context: RunContext) -> train.TrainedModel:
        prepared = context.require(context.prepared, "prepare_data")
        return train.train(prepared.train_path, context.output_dir("train"), self.settings)

    def evaluate(self, context: RunContext) -> evaluate.Evaluation:
        prepared = context.require(context.prepared, "prepare_data")
        trained = context.require(context.trained, "train")
        return evaluate.evaluate(
            trained.model_dir, prepared.test_path, context.output_dir("evaluate"), self.settings
        )

    def register(self, context: RunContext) -> register.Registration:
        return register.register(
            context.require(context.trained, "train"),
            context.require(context.prepared, "prepare_data"),
            context.require(context.evaluation, "evaluate"),
            context.output_dir("register"),
            self.settings,
        )

    def deploy(self, context: RunContext) -> deploy.Deployment:
        registration = context.require(context.registration, "register")
        return deploy.deploy(
            registration, context.output_dir("deploy"), self.settings, lock=self.model_lock()
        )

    def model_lock(self) -> ModelLock:
        """The lock that serializes champion transitions; a runner whose store is shared
        across machines overrides this (e.g. with a blob lease)."""
        return local_lock(self.settings)

    # The local runner.

    def run(self, observer: StepObserver | None = None) -> RunContext:
        """Run every step in order inside one MLflow run; a failing step stops the run (marked
        FAILED in MLflow) before anything later, such as promotion, can happen."""
        if self.settings.backend != "local":
            raise PipelineError(
                f"backend '{self.settings.backend}' runs as an Azure ML pipeline: use "
                "`azure submit` (or `run --backend azure`); this runner is local only"
            )
        experiment_id = configure_tracking(self.settings)
        with mlflow.start_run(experiment_id=experiment_id) as run:
            context = RunContext(run.info.run_id, self.settings.runs_path / run.info.run_id)
            mlflow.set_tags(
                {
                    "pipeline": type(self).__name__,
                    "lineage.git_commit": git_commit(self.settings.project_dir),
                    "lineage.config_sha256": self.settings.fingerprint(),
                }
            )
            mlflow.log_params(
                {
                    "seed": self.settings.seed,
                    "primary_metric": self.settings.evaluation.primary_metric,
                    "min_improvement": self.settings.evaluation.min_improvement,
                    "automl.enabled": self.settings.automl.enabled,
                }
            )
            for name in STEP_NAMES:
                if observer:
                    observer.step_started(name)
                started = time.perf_counter()
                try:
                    output = getattr(self, name)(context)
                except Exception as error:
                    # The run ends FAILED; these tags say where and why, next to its params.
                    mlflow.set_tags({"failed_step": name, "error": str(error)[:5000]})
                    raise
                setattr(context, _OUTPUT_FIELD[name], output)
                if observer:
                    observer.step_finished(name, time.perf_counter() - started, output.describe())
        return context


def load_pipeline_class(settings: Settings) -> type[BasePipeline]:
    """The class `pipeline.class` names: 'package.module:Class' or 'file.py:Class' (relative
    to the project), which must be BasePipeline or a subclass of it."""
    spec = settings.pipeline.class_
    module_name, _, class_name = spec.partition(":")
    try:
        if module_name.endswith(".py"):
            path = settings.resolve(Path(module_name))
            if not path.is_file():
                raise PipelineError(f"pipeline.class '{spec}': {path} does not exist")
            module_spec = importlib.util.spec_from_file_location(f"_pipeline_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise PipelineError(f"pipeline.class '{spec}': {path} is not a Python module")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise PipelineError(f"pipeline.class '{spec}': cannot import it ({error})") from None
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, BasePipeline)):
        raise PipelineError(
            f"pipeline.class '{spec}': '{class_name}' is not a subclass of "
            f"{BasePipeline.__module__}.BasePipeline"
        )
    return found


def create_pipeline(settings: Settings) -> BasePipeline:
    """The configured pipeline, for `run` and for every per-step command."""
    return load_pipeline_class(settings)(settings)
