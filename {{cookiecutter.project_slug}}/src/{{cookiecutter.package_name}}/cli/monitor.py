"""`<package> monitor ...`: drift checks, retraining on drift, and the Azure ML schedules.

Exit codes of `monitor drift`: 0 no drift, 3 drift found (also after a retraining, whatever
the gate decided), 1 bad input or any error. With `--no-fail-on-drift` (the scheduled Azure ML
job) drift exits 0 too: it is an outcome, reported in the output and the MLflow metrics, and
Azure ML marks a job that exits non-zero Failed. Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from ..config import Settings

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
    environment: Annotated[
        str,
        typer.Option(
            "--environment", help="Whose deployed model to check (its deployment record)."
        ),
    ] = "local",
    fail_on_drift: Annotated[
        bool,
        typer.Option(
            "--fail-on-drift/--no-fail-on-drift",
            help="Exit 3 on drift (default), or 0: drift is an outcome, not an error.",
        ),
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Compare current data with the serving model's training reference; exit 3 on drift."""
    if backend not in ("local", "azure"):
        raise fail(PipelineError(f"--backend '{backend}' is not one of: local, azure"))
    with exit_on_error():
        settings = settings_from(config)
        from ..monitoring.check import check_drift

        check = check_drift(
            settings, data=data, since=since, output=output, environment=environment
        )
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
    raise typer.Exit(code=DRIFT_EXIT_CODE if fail_on_drift else 0)


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
        from ..monitoring import azure_monitor

        cluster = _cluster_name(settings, environment)
        if dry_run:
            folder = dry_run_folder(output)
            paths = azure_monitor.write_definitions(settings, cluster, folder)
            azure_monitor.validate_definitions(folder)
            for path in paths:
                console.print(f"wrote and validated {path}")
            return
        from ..azure.workspace import ml_client

        names = azure_monitor.create_schedules(settings, ml_client(settings, environment), cluster)
    console.print(f"created or updated schedules: {', '.join(names)}")


def _cluster_name(settings: Settings, environment: str | None) -> str:
    """The CPU cluster: `azure.cpu_cluster_name`, else the name the infrastructure derives."""
    if settings.azure.cpu_cluster_name:
        return settings.azure.cpu_cluster_name
    from ..azure.workspace import resolve_workspace

    return resolve_workspace(settings, environment, require_subscription=False).cpu_cluster_name
