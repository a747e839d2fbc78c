"""Build the cdktf app: every environment's stack in one process (the provider import is slow)."""

from __future__ import annotations

import os
from pathlib import Path

from .cdk import App
from .config import EnvironmentConfig, configs_from_environment, load_settings
from .stack import EnvironmentStack


def build_app(configs: list[EnvironmentConfig], outdir: Path | None = None) -> App:
    app = App(outdir=str(outdir)) if outdir else App()
    for config in configs:
        EnvironmentStack(app, config)
    return app


def configs_from_settings() -> list[EnvironmentConfig]:
    """settings.json for the answers, TF_STATE_* and HUB_* environment variables (config.py)."""
    return configs_from_environment(load_settings(), os.environ)
