"""BasePipeline: the five overridable steps, and the local runner that calls them in-process.

Subclass it and override any step to change one part of the pipeline while keeping the rest,
the tracking and the champion gate:

    class MyPipeline(BasePipeline):
        def prepare_data(self, context):
            ...  # e.g. read from a warehouse, then call steps.prepare_data
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import mlflow

from . import steps
from .config import Settings
from .errors import PipelineError
from .lineage import git_commit
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


class StepObserver(Protocol):
    """Receives progress; the CLI renders it with rich, tests can record it."""

    def step_started(self, name: str) -> None: ...
    def step_finished(self, name: str, seconds: float, summary: str) -> None: ...


@dataclass
class RunContext:
    """What one run has produced so far; each step reads earlier outputs from here."""

    run_id: str
    work_dir: Path
    prepared: steps.PreparedData | None = None
    trained: steps.TrainedModel | None = None
    evaluation: steps.Evaluation | None = None
    registration: steps.Registration | None = None
    deployment: steps.Deployment | None = None

    def require(self, value: T | None, step: str) -> T:
        if value is None:
            raise PipelineError(f"Step '{step}' has not produced its output yet in this run")
        return value


class BasePipeline:
    """prepare_data -> train -> evaluate -> register -> deploy, tracked in one MLflow run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # Each step reads earlier outputs from the context and returns its own output.

    def prepare_data(self, context: RunContext) -> steps.PreparedData:
        return steps.prepare_data(
            self.settings.data_path, context.work_dir / "prepared", self.settings
        )

    def train(self, context: RunContext) -> steps.TrainedModel:
        prepared = context.require(context.prepared, "prepare_data")
        return steps.train(prepared.train_path, context.work_dir / "trained", self.settings)

    def evaluate(self, context: RunContext) -> steps.Evaluation:
        prepared = context.require(context.prepared, "prepare_data")
        trained = context.require(context.trained, "train")
        return steps.evaluate(
            trained.model_dir, prepared.test_path, context.work_dir / "evaluated", self.settings
        )

    def register(self, context: RunContext) -> steps.Registration:
        return steps.register(
            context.require(context.trained, "train").model_dir,
            context.require(context.prepared, "prepare_data"),
            context.require(context.evaluation, "evaluate"),
            context.work_dir / "registered",
            self.settings,
        )

    def deploy(self, context: RunContext) -> steps.Deployment:
        registration = context.require(context.registration, "register")
        return steps.deploy(registration, context.work_dir / "deployed", self.settings)

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
