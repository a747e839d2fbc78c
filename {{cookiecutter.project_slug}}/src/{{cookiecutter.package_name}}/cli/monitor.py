"""`<package> monitor ...`: drift checks, retraining on drift, and the Azure ML schedules.

Exit codes of `monitor drift`: 0 no drift, 3 drift found (also after a retraining, whatever
the gate decided), 1 bad input or any error. Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import PipelineError
from .errors import exit_on_error, fail
from .options import (
    ConfigOption,
    DryRunOutputOption,
    EnvironmentOption,
    dry_run_folder,
    settings_from,
)
from .progress import ConsoleProgress

DRIFT_EXIT_CODE = 3

app = typer.Typer(
    name="monitor",
    help="Drift between production data and the champion's training data; retrain on drift.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)


@app.command()
def drift(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="CSV/Parquet file, or a folder of them or of collector .jsonl."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Window of the inference log (30m, 24h, 7d, 2w)."),
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="On drift, run the training pipeline (gated).")
    ] = False,
    backend: Annotated[
        str, typer.Option("--backend", help="Where --retrain trains: local or azure.")
    ] = "local",
    output: Annotated[
        Path | None, typer.Option("--output", help="Folder for the report (default .runs/).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Azure: wait for the training job.")
    ] = False,
    timeout_minutes: Annotated[
        int, typer.Option("--timeout-minutes", min=1, help="Azure: how long --wait waits.")
    ] = 120,
    config: ConfigOption = None,
) -> None:
    """Compare current data with the champion's training reference; exit 3 on drift."""
    if backend not in ("local", "azure"):
        raise fail(PipelineError(f"--backend '{backend}' is not one of: local, azure"))
    with exit_on_error():
        settings = settings_from(config)
        from ..monitoring.check import check_drift

        check = check_drift(settings, data=data, since=since, output=output)
    result = check.result
    colour = "red" if result.drifted else "green"
    console.print(
        f"[{colour}]{escape(result.summary())}[/{colour}]\n"
        f"Report: {check.report_path} (MLflow run {check.run_id})",
        soft_wrap=True,
    )
    if not result.drifted:
        raise typer.Exit(code=0)
    if retrain:
        from ..monitoring.retrain import retrain_azure, retrain_local

        with exit_on_error():
            if backend == "azure":
                outcome = retrain_azure(settings, wait=wait, timeout_minutes=timeout_minutes)
            else:
                from ..pipeline import STEP_NAMES

                progress = ConsoleProgress(len(STEP_NAMES))
                try:
                    outcome = retrain_local(settings, progress)
                finally:
                    progress.stop()
        console.print(escape(outcome.summary()), soft_wrap=True)
    raise typer.Exit(code=DRIFT_EXIT_CODE)


@app.command()
def schedule(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write and validate the YAML; create nothing.")
    ] = False,
    output: DryRunOutputOption = None,
    environment: EnvironmentOption = None,
    config: ConfigOption = None,
) -> None:
    """The Azure ML model monitor and the scheduled `monitor drift --retrain` job."""
    with exit_on_error():
        settings = settings_from(config)
        from ..azure.workspace import resolve_workspace
        from ..monitoring import azure_monitor

        coordinates = resolve_workspace(settings, environment, require_subscription=not dry_run)
        if dry_run:
            folder = dry_run_folder(output)
            paths = azure_monitor.write_definitions(settings, coordinates, folder)
            azure_monitor.validate_definitions(folder)
            for path in paths:
                console.print(f"wrote and validated {path}")
            return
        from ..azure.workspace import ml_client

        client = ml_client(settings, environment)
        names = azure_monitor.create_schedules(settings, client, coordinates)
    console.print(f"created or updated schedules: {', '.join(names)}")
