"""`<package> monitor ...`: drift checks, retraining on drift, and the Azure ML schedules.

Exit codes of `monitor drift` (and `monitor quality`): 0 no drift (no quality drop), 3 drift
found (the serving version degraded) (also after a retraining, whatever
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
from rich.table import Table

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
    help=(
        "Drift, fed-back outcomes, live quality and A/B comparison of serving versions; "
        "retrain on drift or on a quality drop."
    ),
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
        _retrain(settings, backend, wait=wait, timeout_minutes=timeout_minutes)
    raise typer.Exit(code=DRIFT_EXIT_CODE if fail_on_drift else 0)


def _retrain(settings: Settings, backend: str, *, wait: bool, timeout_minutes: int) -> None:
    """The gated training pipeline, here or on Azure ML; prints what it decided."""
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


SinceOption = Annotated[
    str, typer.Option("--since", help="Window of the inference log (30m, 24h, 7d, 2w).")
]


@app.command()
def feedback(
    labels: Annotated[
        Path,
        typer.Option(
            "--labels", help="CSV/Parquet of outcomes: request_id, the target column, [row]."
        ),
    ],
    since: SinceOption = "30d",
    config: ConfigOption = None,
) -> None:
    """Feed back what really happened, by the request id the server returned (x-request-id)."""
    from ..monitoring.feedback import record_feedback
    from ..monitoring.inference_log import parse_window

    with exit_on_error():
        settings = settings_from(config)
        result = record_feedback(settings, labels, since=parse_window(since))
    console.print(f"{escape(result.summary())} -> {result.path}", soft_wrap=True)


@app.command()
def quality(
    since: SinceOption = "7d",
    environment: Annotated[
        str, typer.Option("--environment", help="Whose serving version decides (its record).")
    ] = "local",
    retrain: Annotated[
        bool, typer.Option("--retrain", help="When the serving version degraded, retrain.")
    ] = False,
    fail_on_degraded: Annotated[
        bool,
        typer.Option(
            "--fail-on-degraded/--no-fail-on-degraded",
            help="Exit 3 when the serving version degraded (default), or 0.",
        ),
    ] = True,
    config: ConfigOption = None,
) -> None:
    """The primary metric of each version on its fed-back outcomes, with a confidence
    interval, against its holdout evaluation; exit 3 when the serving version degraded."""
    from mlflow import MlflowClient

    from ..deployments import read_deployment
    from ..monitoring.feedback import labelled_rows
    from ..monitoring.inference_log import parse_window
    from ..monitoring.quality import version_quality
    from ..tracking import configure_tracking

    with exit_on_error():
        settings = settings_from(config)
        configure_tracking(settings)
        client = MlflowClient()
        lines = version_quality(settings, client, labelled_rows(settings, parse_window(since)))
        serving = read_deployment(settings, environment, client)
    table = Table(title=f"Live {settings.evaluation.primary_metric} on fed-back outcomes")
    for column in ("version", "labelled", "live", "interval", "holdout", "verdict"):
        table.add_column(column)
    for line in lines:
        mark = " (serving)" if serving is not None and line.version == serving.version else ""
        table.add_row(
            f"v{line.version}{mark}",
            str(line.n),
            f"{line.value:.4f}",
            f"[{line.low:.4f}, {line.high:.4f}]",
            "-" if line.evaluated is None else f"{line.evaluated:.4f}",
            line.reason,
        )
    console.print(table)
    serving_line = next(
        (line for line in lines if serving is not None and line.version == serving.version), None
    )
    if serving_line is None or not serving_line.degraded:
        raise typer.Exit(code=0)
    console.print(f"[red]v{serving_line.version}[/red]: {escape(serving_line.reason)}")
    if retrain:
        _retrain(settings, "local", wait=False, timeout_minutes=1)
    raise typer.Exit(code=DRIFT_EXIT_CODE if fail_on_degraded else 0)


@app.command()
def compare(
    since: SinceOption = "7d",
    versions: Annotated[
        str | None,
        typer.Option("--versions", help="Two versions, e.g. 3,4 (default: the two newest)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """A/B: two versions' live metrics on their own labelled requests, and which one wins."""
    from mlflow import MlflowClient

    from ..monitoring.feedback import labelled_rows
    from ..monitoring.inference_log import parse_window
    from ..monitoring.quality import compare as compare_versions
    from ..tracking import configure_tracking

    with exit_on_error():
        chosen = None
        if versions is not None:
            chosen = tuple(v.strip() for v in versions.split(","))
            if len(chosen) != 2:
                raise PipelineError(f"--versions '{versions}' must name two versions, e.g. 3,4")
        settings = settings_from(config)
        configure_tracking(settings)
        labelled = labelled_rows(settings, parse_window(since))
        result = compare_versions(settings, MlflowClient(), labelled, chosen)
    console.print(escape(result.summary()), soft_wrap=True)


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
