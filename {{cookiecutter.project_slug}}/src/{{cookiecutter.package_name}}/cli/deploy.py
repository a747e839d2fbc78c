"""`azure deploy`, `azure export-model`, `azure mark-champion`, `azure rollback`,
`azure score-batch` and `azure status --endpoint`: options in, one line per outcome out.

The work is in `azure/deploy.py` (a library); every traffic change goes through the blue/green
state machine in `azure/rollout.py`. `cli/azure.py` mounts these on the `azure` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import PipelineError
from .errors import EXIT_TIMEOUT, exit_on_error, fail
from .options import (
    ConfigOption,
    DigestOption,
    DryRunOutputOption,
    EnvironmentOption,
    SummaryOption,
    VersionOption,
    dry_run_folder,
    settings_from,
)


def deploy(
    environment: EnvironmentOption = None,
    version: VersionOption = None,
    digest: DigestOption = None,
    model_package: Annotated[
        Path | None,
        typer.Option(
            "--model-package",
            help="Register the version from this `azure export-model` folder first.",
        ),
    ] = None,
    summary: SummaryOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the YAML only; needs no Azure settings.")
    ] = False,
    output: DryRunOutputOption = None,
    from_environment: Annotated[
        str | None,
        typer.Option(
            "--from-environment",
            help="Copy --version from this environment's workspace (default: the first one); "
            "needs read access to both.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Blue/green rollout of an exact model version, with automatic rollback.

    A version the target workspace lacks is first registered there: from --model-package (how
    CI carries it between environments), or copied from the --from-environment workspace.
    The online endpoint first (any failure puts all traffic back on the previous deployment),
    then the batch endpoint. --dry-run --output DIR only writes the YAML."""
    from ..azure import deploy as library

    with exit_on_error():
        settings = settings_from(config)
        env = library.resolve_environment(settings, environment)
        if dry_run:
            folder = dry_run_folder(output)
            dry_digest = ""
            if version is None:
                version, dry_digest = library.local_champion(settings)
            for path in library.write_dry_run(
                settings, folder, environment=env, version=version, digest=dry_digest
            ):
                typer.echo(f"wrote {path}")
            typer.echo(
                f"model {settings.model_name} v{version} -> {env}; nothing was sent to Azure. "
                "Check: az ml online-endpoint create --file ... (see docs/deployment.md)"
            )
            return
    try:
        version, state = library.deploy_version(
            library.workspace_client(settings, env),
            settings,
            env,
            version=version,
            digest=digest,
            model_package=model_package,
            from_environment=from_environment,
            log=typer.echo,
        )
    except Exception as error:
        with exit_on_error():  # the summary says it failed; a bug keeps its stack trace
            library.write_summary(summary, None, succeeded=False, error=str(error))
            raise
    library.write_summary(summary, state)
    if not (state.succeeded and state.version == version):
        raise fail(PipelineError(f"rollout did not complete: {state.describe()}"))
    typer.echo(f"{state.endpoint}: {state.model_name} v{state.version} serves 100% on {state.new}")


def export_model(
    version: Annotated[str, typer.Option("--version", help="The registered version to export.")],
    output: Annotated[
        Path, typer.Option("--output", help="An empty or new folder for the model package.")
    ],
    environment: EnvironmentOption = None,
    digest: DigestOption = None,
    config: ConfigOption = None,
) -> None:
    """Write one registered version as a model package (its files and a manifest, digest
    checked) for `azure deploy --model-package` in another environment's workspace."""
    from ..azure import deploy as library
    from ..azure.promotion import export_version

    with exit_on_error():
        settings = settings_from(config)
        env = library.resolve_environment(settings, environment)
        client = library.workspace_client(settings, env)
        package = export_version(
            client, settings.model_name, version, output, expected_digest=digest
        )
    typer.echo(
        f"model {package.name} v{package.version} (digest {package.digest[:12]}) from "
        f"{package.source_workspace} -> {output}"
    )


def mark_champion(
    version: Annotated[str, typer.Option("--version", help="The version production serves.")],
    digest: Annotated[
        str, typer.Option("--digest", help="Its model.sha256, as production deployed it.")
    ],
    environment: EnvironmentOption = None,
    config: ConfigOption = None,
) -> None:
    """Mark the version production serves as the champion of ENV's workspace (the training
    environment's, where the gate reads it); refused unless its digest there is DIGEST."""
    from ..azure import deploy as library
    from ..azure.champion import mark_champion as mark

    with exit_on_error():
        settings = settings_from(config)
        env = library.resolve_environment(settings, environment)
        client = library.workspace_mlflow(library.workspace_client(settings, env))
        outcome = mark(client, settings.model_name, version, digest)
    typer.echo(f"{env}: {outcome.describe()}")


def rollback(environment: EnvironmentOption = None, config: ConfigOption = None) -> None:
    """Put the previously recorded version back, through the same blue/green rollout.

    An unfinished rollout is aborted instead, which leaves the recorded version serving."""
    from ..azure import deploy as library
    from ..azure.rollout import Phase

    with exit_on_error():
        settings = settings_from(config)
        env = library.resolve_environment(settings, environment)
        state = library.roll_back(
            library.workspace_client(settings, env), settings, env, typer.echo
        )
    if state.phase == Phase.ROLLED_BACK:
        typer.echo(f"aborted the rollout of v{state.version}; the recorded version serves")
        return
    typer.echo(f"{state.endpoint}: rolled back to v{state.version} on {state.new}")


def score_batch(
    input_path: Annotated[
        str, typer.Argument(help="File or folder: local path, azureml:// URI or data asset.")
    ],
    environment: EnvironmentOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish.")] = False,
    timeout_minutes: Annotated[
        int, typer.Option("--timeout-minutes", min=1, help="Give up waiting after this long.")
    ] = 60,
    config: ConfigOption = None,
) -> None:
    """Submit a batch scoring job to the batch endpoint; prints the job name."""
    from ..azure import deploy as library
    from ..azure import endpoints
    from ..azure.status import wait_for_job

    with exit_on_error():
        settings = settings_from(config)
        env = library.resolve_environment(settings, environment)
        client = library.workspace_client(settings, env)
        names = endpoints.endpoint_names(settings, env)
        job = client.batch_endpoints.invoke(
            endpoint_name=names.batch,
            deployment_name=endpoints.BATCH_DEPLOYMENT_NAME,
            inputs={"input": endpoints.batch_job_input(input_path)},
        )
    typer.echo(job.name)
    if not wait:
        return
    with exit_on_error():
        status = wait_for_job(
            lambda: client.jobs.get(job.name).status, timeout_minutes=timeout_minutes
        )
    if status is None:
        typer.echo(f"{job.name}: still running after {timeout_minutes} min", err=True)
        raise typer.Exit(code=EXIT_TIMEOUT)
    typer.echo(f"{job.name}: {status}")
    if status != "Completed":
        raise typer.Exit(code=1)


def endpoint_status(environment: EnvironmentOption = None, config: ConfigOption = None) -> None:
    """Traffic, deployments, the deployment record and where the last rollout stands."""
    from ..azure import deploy as library
    from ..azure.status import endpoint_lines

    with exit_on_error():
        settings = settings_from(config)
        env = library.resolve_environment(settings, environment)
        lines = endpoint_lines(library.workspace_client(settings, env), settings, env)
    for line in lines:
        typer.echo(line)


COMMANDS = {
    "deploy": deploy,
    "export-model": export_model,
    "mark-champion": mark_champion,
    "rollback": rollback,
    "score-batch": score_batch,
}
