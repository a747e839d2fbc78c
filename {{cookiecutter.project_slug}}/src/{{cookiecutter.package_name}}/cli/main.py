"""The root app: `<package> --help` lists every group; the console script points here."""

from __future__ import annotations

import typer

from . import azure, monitor, pipeline, serve

app = typer.Typer(
    help="Train, gate, register and serve the model (local MLflow by default).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for name, command in {**pipeline.COMMANDS, **serve.COMMANDS}.items():
    app.command(name)(command)
app.add_typer(azure.app)
app.add_typer(monitor.app)
