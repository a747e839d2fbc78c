"""One Azure ML command component per pipeline step; each runs the package's own step command.

`python -m <package> prepare|train|evaluate|register` instantiates the configured pipeline
class, so the code that runs on Azure ML is the code that runs locally. The code snapshot is
the project folder (`.amlignore` keeps it small), so the config travels with it: each step
reads `config/submitted.yaml`, the settings the job was submitted with (the config file plus
every command-line override, e.g. `run --backend azure --primary-metric f1`), and
`PYTHONPATH=src` makes the package importable without installing it.

This module is the only place that knows Azure ML's mount layout: inputs and outputs are
folders, and each step's files keep the names the step commands write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import PACKAGE_NAME, SearchDimension

if TYPE_CHECKING:
    from azure.ai.ml.entities import CommandComponent

# Azure ML placeholders, written without a literal double brace (this file is a Jinja template).
_OPEN, _CLOSE = "${" + "{", "}" + "}"
# The settings the job was submitted with: config/pipeline.yaml plus the command line's
# overrides (`pipeline_job.write_submitted_config`), inside the code snapshot.
CONFIG = "config/submitted.yaml"
RUN = f"PYTHONPATH=src python -m {PACKAGE_NAME}"


def inputs(name: str) -> str:
    return f"{_OPEN}inputs.{name}{_CLOSE}"


def outputs(name: str) -> str:
    return f"{_OPEN}outputs.{name}{_CLOSE}"


@dataclass(frozen=True)
class StepSpec:
    """A component before it becomes an Azure ML object: plain data, testable without the SDK."""

    step: str
    description: str
    inputs: dict[str, str]  # name -> Azure ML type
    outputs: dict[str, str]
    command: str
    # False: Azure ML must never reuse an earlier run's result, because the step reads the
    # registry (the champion may have changed since).
    deterministic: bool = True

    @property
    def name(self) -> str:
        return f"{PACKAGE_NAME}_{self.step}"


def step_specs() -> dict[str, StepSpec]:
    """prepare -> train -> evaluate -> register, each a package step command."""
    return {
        "prepare": StepSpec(
            "prepare",
            "Validate the data and split it into train.parquet and test.parquet",
            {"data": "uri_file"},
            {"prepared": "uri_folder"},
            f"{RUN} prepare --config {CONFIG} --data {inputs('data')} "
            f"--output {outputs('prepared')}",
        ),
        "train": StepSpec(
            "train",
            "Fit the configured model and save it as an MLflow model folder",
            {"prepared": "uri_folder"},
            {"model": "uri_folder"},
            f"{RUN} train --config {CONFIG} --train-data {inputs('prepared')}/train.parquet "
            f"--output {outputs('model')}",
        ),
        "evaluate": StepSpec(
            "evaluate",
            "Score challenger and champion on the same holdout and decide",
            {"model": "uri_folder", "prepared": "uri_folder"},
            {"evaluation": "uri_folder"},
            f"{RUN} evaluate --config {CONFIG} --model {inputs('model')}/model "
            f"--test-data {inputs('prepared')}/test.parquet --output {outputs('evaluation')}",
            deterministic=False,
        ),
        "register": StepSpec(
            "register",
            "Register the challenger; promote it only if the gate said so",
            {"model": "uri_folder", "prepared": "uri_folder", "evaluation": "uri_folder"},
            {"registration": "uri_folder"},
            f"{RUN} register --config {CONFIG} --model {inputs('model')}/model "
            f"--prepared {inputs('prepared')} --evaluation {inputs('evaluation')} "
            f"--output {outputs('registration')}",
            deterministic=False,
        ),
    }


def _input_type(dimension: SearchDimension) -> str:
    if dimension.type == "randint":
        return "integer"
    if dimension.type != "choice":
        return "number"
    values = dimension.values or []
    if all(isinstance(v, bool) for v in values) or not all(
        isinstance(v, int | float) for v in values
    ):
        return "string"
    return "integer" if all(isinstance(v, int) for v in values) else "number"


def sweep_trial_spec(search_space: dict[str, SearchDimension]) -> StepSpec:
    """One sweep trial: split the training data again into fit/validation, train with the
    trial's `model.params`, and score on the validation part (the holdout stays unseen until
    the gate). The trial's MLflow run gets the metric the sweep optimizes."""
    params = " ".join(f"--param {key}={inputs(key)}" for key in sorted(search_space))
    command = (
        f"{RUN} prepare --config {CONFIG} --data {inputs('prepared')}/train.parquet "
        "--output trial/split"
        f" && {RUN} train --config {CONFIG} --train-data trial/split/train.parquet "
        f"--output {outputs('model')} {params}"
        f" && {RUN} evaluate --config {CONFIG} --model {outputs('model')}/model "
        "--test-data trial/split/test.parquet --output trial/validation"
    )
    return StepSpec(
        "train_trial",
        "One hyperparameter trial: train on part of train.parquet, score the rest",
        {"prepared": "uri_folder", **{k: _input_type(v) for k, v in search_space.items()}},
        {"model": "uri_folder"},
        command,
        deterministic=False,
    )


def build_component(spec: StepSpec, environment: Any, code: Path) -> CommandComponent:
    """The Azure ML component for `spec`, running in `environment` on a snapshot of `code`."""
    from azure.ai.ml import Input, Output
    from azure.ai.ml.entities import CommandComponent

    return CommandComponent(
        name=spec.name,
        display_name=spec.step,
        description=spec.description,
        inputs={name: Input(type=kind) for name, kind in spec.inputs.items()},
        outputs={name: Output(type=kind) for name, kind in spec.outputs.items()},
        command=spec.command,
        environment=environment,
        code=str(code),
        is_deterministic=spec.deterministic,
    )
