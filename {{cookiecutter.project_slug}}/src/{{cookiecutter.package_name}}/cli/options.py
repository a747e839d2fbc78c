"""Command-line options, declared once so every command spells, defaults and documents them
the same way, and the settings a command starts from. Imports nothing heavy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..config import CONFIG_RELATIVE_PATH, MODEL_FAMILIES, find_config, load_settings
from ..errors import PipelineError

if TYPE_CHECKING:
    from ..config import Settings

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Settings file (default: config/pipeline.yaml).")
]
EnvironmentOption = Annotated[
    str | None,
    typer.Option(
        "--environment", help="Infra environment (default: azure.environment, else the first)."
    ),
]
DataOption = Annotated[Path | None, typer.Option("--data", help="CSV or Parquet data set.")]
TargetOption = Annotated[str | None, typer.Option("--target", help="Target column to predict.")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
FamilyOption = Annotated[
    str | None,
    typer.Option(
        "--model-family",
        help=f"Built-in model family: {', '.join(MODEL_FAMILIES)} (or dummy, a baseline).",
    ),
]
TrainingFunctionOption = Annotated[
    str | None,
    typer.Option(
        "--training-function", help="Custom trainer: 'module:function' or 'file.py:function'."
    ),
]
AutoMLOption = Annotated[
    bool | None, typer.Option("--automl/--no-automl", help="Search families and parameters.")
]
ModelNameOption = Annotated[
    str | None, typer.Option("--model-name", help="Registered model name in MLflow.")
]
VersionOption = Annotated[
    str | None, typer.Option("--version", help="Model version (default: the champion).")
]
DigestOption = Annotated[
    str | None,
    typer.Option("--digest", help="Refuse unless the version has this model.sha256 digest."),
]
SummaryOption = Annotated[
    Path | None, typer.Option("--summary", help="Write the outcome as JSON to this file.")
]
DryRunOutputOption = Annotated[
    Path | None, typer.Option("--output", help="Folder for the --dry-run YAML files.")
]


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    """Settings for a command; `data__path` style keywords become dotted overrides.

    Without a config file the command would scatter `.mlflow/` and `.runs/` folders into
    whatever directory it was started from, so one is required.
    """
    if config is None and find_config() is None:
        raise PipelineError(
            f"No {CONFIG_RELATIVE_PATH} in {Path.cwd()} or its parents: run this command "
            "inside the project folder or pass --config"
        )
    return load_settings(config, {key.replace("__", "."): v for key, v in overrides.items()})


def dry_run_folder(output: Path | None) -> Path:
    """--dry-run writes YAML, so it needs a folder for it."""
    if output is None:
        raise PipelineError("--dry-run needs --output DIR for the YAML files")
    return output
