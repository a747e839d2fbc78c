"""The `azure` sub-app, mounted by the package CLI as `<package> azure ...`.

Each command lives in its own module as a plain function and is registered here with one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .deploy_cli import (
    ConfigOption,
    EnvironmentOption,
    deploy,
    endpoint_status,
    rollback,
    score_batch,
)

app = typer.Typer(
    name="azure",
    help="Azure Machine Learning: deploy, roll back and batch-score (DefaultAzureCredential).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("deploy")(deploy)
app.command("rollback")(rollback)
app.command("score-batch")(score_batch)


@app.command("status")
def status(
    job: Annotated[str | None, typer.Argument(help="Job name (training jobs: issue 9).")] = None,
    endpoint: Annotated[
        bool, typer.Option("--endpoint", help="Show the online endpoint and its rollout.")
    ] = False,
    environment: EnvironmentOption = None,
    config: ConfigOption = None,
) -> None:
    """Where a job or the environment's online endpoint (and its last rollout) stands."""
    if endpoint:
        endpoint_status(environment=environment, config=config)
        return
    typer.echo("azure status JOB is not available yet: use --endpoint", err=True)
    raise typer.Exit(code=1)
