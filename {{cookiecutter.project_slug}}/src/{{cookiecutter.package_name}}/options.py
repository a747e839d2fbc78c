"""Command-line options shared by the main CLI and its `azure` and `monitor` sub-apps.

Declared once so every command spells, defaults and documents them the same way; this module
imports nothing heavy, so `--help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Settings file (default: config/pipeline.yaml).")
]
EnvironmentOption = Annotated[
    str | None,
    typer.Option(
        "--environment", help="Infra environment (default: azure.environment, else the first)."
    ),
]
