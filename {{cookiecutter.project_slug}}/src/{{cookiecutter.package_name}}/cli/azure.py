"""`<package> azure ...`: set up the workspace, submit and follow training, schedule it, and
deploy, roll back and batch-score (the deployment commands live in `deploy.py`).

Mounted by the main CLI. `azure-ai-ml` is imported inside the commands only, so `--help` stays
fast. Exit codes: 0 success (also when the gate kept the champion), 1 error or failed job,
124 when `--wait` ran out of time.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import PipelineError
from . import deploy
from .errors import exit_on_error
from .options import (
    ConfigOption,
    DryRunOutputOption,
    EnvironmentOption,
    SummaryOption,
    dry_run_folder,
    settings_from,
)

app = typer.Typer(
    name="azure",
    help=(
        "Azure Machine Learning: doctor, setup, submit, status, schedule (docs/azure.md); "
        "deploy, rollback, score-batch (docs/deployment.md)."
    ),
    no_args_is_help=True,
)
for name, command in deploy.COMMANDS.items():
    app.command(name)(command)
console = Console(highlight=False)


def _say_derived(coordinates) -> None:
    if coordinates.derived:
        names = ", ".join(f"{key}={getattr(coordinates, key)}" for key in coordinates.derived)
        console.print(
            f"Not configured, so derived from infra/ for environment "
            f"'{coordinates.environment}': {names}",
            soft_wrap=True,
        )


@app.command()
def doctor(
    environment: EnvironmentOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Read-only checks a first run needs: permissions, quota, network, base images, datastores,
    model aliases, budget, region. Exit 1 when any fails; each failure names its fix."""
    from ..azure import doctor as checks

    with exit_on_error():
        settings = settings_from(config)
        results = checks.doctor(settings, environment)
    failing = checks.failed(results)
    if as_json:
        console.print_json(checks.as_json(results))
    else:
        table = Table(title="azure doctor")
        for column in ("check", "result", "detail", "fix"):
            table.add_column(column, overflow="fold")
        for result in results:
            verdict = "[green]pass[/green]" if result.ok else "[red]FAIL[/red]"
            table.add_row(result.name, verdict, escape(result.detail), escape(result.fix))
        console.print(table)
        console.print(f"{len(results) - len(failing)}/{len(results)} checks passed", soft_wrap=True)
    raise typer.Exit(1 if failing else 0)


@app.command()
def setup(environment: EnvironmentOption = None, config: ConfigOption = None) -> None:
    """One-time, after the infrastructure: identity-based datastores, environments, data asset."""
    with exit_on_error():
        settings = settings_from(config)
        from ..azure.workspace import ml_client, resolve_workspace
        from ..azure.workspace_setup import setup_workspace

        coordinates = resolve_workspace(settings, environment)
        _say_derived(coordinates)
        changes = setup_workspace(settings, ml_client(settings, environment), coordinates)
    for part, changed in changes.items():
        console.print(f"{part}: {', '.join(changed) if changed else 'up to date'}", soft_wrap=True)


@app.command()
def submit(
    environment: EnvironmentOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job until it ends.")] = False,
    timeout_minutes: Annotated[
        int, typer.Option("--timeout-minutes", min=0, help="Give up waiting after this (exit 124).")
    ] = 60,
    summary: SummaryOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the YAML of every object; contact nothing.")
    ] = False,
    output: DryRunOutputOption = None,
    config: ConfigOption = None,
) -> None:
    """Build and submit the training pipeline; returns at once unless --wait."""
    with exit_on_error():
        settings = settings_from(config)
        if dry_run:
            from ..azure.submit import write_dry_run

            coordinates, written = write_dry_run(settings, dry_run_folder(output), environment)
            _say_derived(coordinates)
            for path in written:
                console.print(f"wrote {path}", soft_wrap=True)
            return
        from ..azure.submit import submit_training
        from ..azure.workspace import ml_client

        result = submit_training(
            settings,
            ml_client(settings, environment),
            wait=wait,
            timeout_minutes=timeout_minutes,
            environment=environment,
            on_status=lambda status: console.print(f"status: {status}"),
        )
    url = result.studio_url or "(no studio URL)"
    console.print(f"Submitted {result.job}: {url}", soft_wrap=True)
    if wait:
        console.print(f"Result: {result.status}; {escape(result.reason or '')}", soft_wrap=True)
    if summary is not None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(result.summary(), indent=2) + "\n")
    raise typer.Exit(result.exit_code)


@app.command()
def status(
    job: Annotated[
        str | None, typer.Argument(help="Pipeline job name (from `azure submit`).")
    ] = None,
    endpoint: Annotated[
        bool, typer.Option("--endpoint", help="The online endpoint and its last rollout instead.")
    ] = False,
    environment: EnvironmentOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """One line per step and the gate's outcome, or (--endpoint) where a rollout stands."""
    if endpoint:
        deploy.endpoint_status(environment=environment, config=config)
        return
    with exit_on_error():
        if job is None:
            raise PipelineError("Name a JOB (from `azure submit`), or pass --endpoint")
        settings = settings_from(config)
        from ..azure.submit import job_status
        from ..azure.workspace import ml_client, resolve_workspace

        coordinates = resolve_workspace(settings, environment)
        overall, steps, outcome = job_status(ml_client(settings, environment), coordinates, job)
    if as_json:
        record = {
            "job": job,
            "status": overall,
            "steps": {step.name: step.status for step in steps},
            "gate": outcome,
        }
        console.print_json(json.dumps(record))
    else:
        console.print(f"{job}: {overall}")
        for step in steps:
            console.print(f"  {step.name}: {step.status}")
        if outcome is not None:
            verdict = "to promote" if outcome.get("candidate") else "not promoted"
            console.print(
                f"gate: v{outcome.get('version')} {verdict}: {escape(str(outcome.get('reason')))}",
                soft_wrap=True,
            )
    if overall in {"Failed", "Canceled", "NotResponding"}:
        raise typer.Exit(1)


@app.command()
def schedule(
    environment: EnvironmentOption = None,
    disable: Annotated[
        bool, typer.Option("--disable", help="Turn scheduled retraining off.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create or update the retraining schedule (azure.schedule cron and time zone)."""
    with exit_on_error():
        settings = settings_from(config)
        from ..azure.schedule import build_schedule, schedule_name
        from ..azure.submit import azure_call, build_training_job
        from ..azure.workspace import ml_client, resolve_workspace

        coordinates = resolve_workspace(settings, environment)
        client = ml_client(settings, environment)
        name = schedule_name(coordinates.environment)
        if disable:
            azure_call(
                coordinates,
                f"Disabling schedule {name}",
                lambda: client.schedules.begin_disable(name).result(),
            )
            console.print(f"Schedule {name} disabled")
            return
        job = build_training_job(settings, coordinates)
        job_schedule = build_schedule(settings, job, coordinates.environment)
        azure_call(
            coordinates,
            f"Creating or updating schedule {name}",
            lambda: client.schedules.begin_create_or_update(job_schedule).result(),
        )
    cron = settings.azure.schedule
    console.print(f"Schedule {name}: '{cron.cron}' ({cron.time_zone})")
