"""`azure deploy`, `azure rollback`, `azure score-batch` and `azure status --endpoint`.

Plain functions that `azure/cli.py` registers on the `azure` sub-app. The SDK (about 12 s to
import) is imported inside the commands, so `--help` stays fast. Every traffic change goes
through the blue/green state machine in `rollout.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import PipelineError
from ..options import ConfigOption, EnvironmentOption

if TYPE_CHECKING:
    from ..config import Settings
    from .rollout import RolloutState

TERMINAL_JOB_STATES = {"Completed", "Failed", "Canceled", "NotResponding", "Paused"}
EXIT_TIMEOUT = 124


def cli_settings(config: Path | None) -> Settings:
    """The settings every `azure` command starts from (imported late: `--help` stays fast)."""
    from ..cli import settings_from

    return settings_from(config)


def _environment(settings: Settings, environment: str | None, flag: str = "--environment") -> str:
    from .workspace import infra_environments

    known = infra_environments(settings.project_dir)
    chosen = environment or settings.azure.environment or known[0]
    if chosen not in known:
        raise PipelineError(f"{flag} '{chosen}' is not one of this project's: {', '.join(known)}")
    return chosen


def _echo(line: str) -> None:
    typer.echo(line)


def _fail(error: Exception) -> typer.Exit:
    from rich.console import Console
    from rich.markup import escape

    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    Console(stderr=True, highlight=False).print(
        f"[red]Error:[/red] {escape(message)}", soft_wrap=True
    )
    return typer.Exit(code=1)


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Bad input and Azure's refusals (auth, quota, not found) end as one line, exit code 1."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except (PipelineError, AzureError) as error:
        raise _fail(error) from None


# --- dry run -----------------------------------------------------------------------------------


def local_champion(settings: Settings) -> tuple[str, str]:
    """The local registry's champion (version, digest): what a dry run shows by default."""
    from mlflow import MlflowClient

    from ..registry import DIGEST_TAG, get_champion_version

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    champion = get_champion_version(client, settings.model_name)
    if champion is None:
        raise PipelineError(
            f"no champion of model '{settings.model_name}' in {settings.tracking_uri}: "
            "train one with `run`, or pass --version"
        )
    return str(champion.version), champion.tags.get(DIGEST_TAG, "")


def write_dry_run(
    settings: Settings, output: Path, *, environment: str, version: str, digest: str = ""
) -> list[Path]:
    """The YAML of every endpoint object `deploy` would create, without contacting Azure.
    `deploy` alternates blue/green; the YAML shows the first rollout's name, `blue`."""
    from . import endpoints

    names = endpoints.endpoint_names(settings, environment)
    compute = (settings.azure.cpu_cluster_name if settings.azure else None) or "cpu-cluster"
    code = endpoints.SRC_DIR
    return [
        endpoints.write_yaml(
            endpoints.online_endpoint(settings, names.online, environment),
            output / "online-endpoint.yml",
        ),
        endpoints.write_yaml(
            endpoints.online_deployment(
                settings,
                endpoint_name=names.online,
                deployment_name="blue",
                version=version,
                digest=digest,
            ),
            output / "online-deployment.yml",
            code_dir=code,
        ),
        endpoints.write_yaml(
            endpoints.batch_endpoint(settings, names.batch, environment),
            output / "batch-endpoint.yml",
        ),
        endpoints.write_yaml(
            endpoints.batch_deployment(
                settings,
                endpoint_name=names.batch,
                version=version,
                compute=compute,
                digest=digest,
            ),
            output / "batch-deployment.yml",
            code_dir=code,
        ),
    ]


# --- the real thing ---------------------------------------------------------------------------


def workspace_client(settings: Settings, environment: str | None) -> Any:
    from .workspace import ml_client

    return ml_client(settings, environment)


def _source_client(settings: Settings, environment: str) -> Any:
    """The client for the workspace a version is copied from. AZURE_RESOURCE_GROUP and
    AZURE_ML_WORKSPACE name the target's workspace (as in CI), so they are ignored here and
    the source's names come from config/pipeline.yaml or the infrastructure's naming."""
    import os

    from . import workspace

    names = (workspace.RESOURCE_GROUP_ENV, workspace.WORKSPACE_ENV)
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        return workspace.ml_client(settings, environment)
    finally:
        os.environ.update(saved)


def _ensure_online_endpoint(client: Any, settings: Settings, name: str, environment: str) -> None:
    """Create the endpoint when it does not exist; never update an existing one here (that
    would reset its traffic outside the state machine)."""
    from azure.core.exceptions import ResourceNotFoundError

    from . import endpoints

    try:
        client.online_endpoints.get(name)
    except ResourceNotFoundError:
        endpoint = endpoints.online_endpoint(settings, name, environment)
        client.online_endpoints.begin_create_or_update(endpoint).result()


def _workspace_champion(client: Any, settings: Settings) -> str:
    """The version tagged `production` in the workspace's registry (MLflow on Azure ML)."""
    from ..registry import get_champion_version

    champion = get_champion_version(_workspace_mlflow(client), settings.model_name)
    if champion is None:
        raise PipelineError(
            f"no champion of '{settings.model_name}' in workspace {client.workspace_name}: "
            "run `azure submit` first, or pass --version"
        )
    return str(champion.version)


def _workspace_mlflow(client: Any) -> Any:
    from mlflow import MlflowClient

    uri = client.workspaces.get(client.workspace_name).mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def roll_out(
    client: Any, settings: Settings, environment: str, version: str, log: Callable[[str], None]
) -> RolloutState:
    """Blue/green rollout of `version` on the environment's online endpoint, then the batch
    deployment of the same version once the online rollout succeeded."""
    from . import endpoints, rollout
    from .endpoint_ops import AzureEndpointOperations, mark_serving

    names = endpoints.endpoint_names(settings, environment)
    _ensure_online_endpoint(client, settings, names.online, environment)
    config = settings.deployment
    mlflow_client = _workspace_mlflow(client)
    ops = AzureEndpointOperations(
        client,
        settings,
        names.online,
        mark_serving=lambda state: mark_serving(mlflow_client, state, settings=settings),
    )
    digest = ops._digest(version)

    def request(live: str | None) -> RolloutState:
        return rollout.start(
            endpoint=names.online,
            environment=environment,
            model_name=settings.model_name,
            version=version,
            digest=digest,
            live=live,
            traffic_steps=tuple(config.traffic_steps),
            mirror_percent=config.mirror_percent,
            mirror_minutes=config.mirror_minutes,
            autoscale=config.autoscale.enabled,
        )

    state = rollout.deploy(ops, request, version, log=log)
    if state.succeeded and state.version == version:
        _deploy_batch(client, settings, names.batch, environment, version, digest)
        batch = endpoints.BATCH_DEPLOYMENT_NAME
        log(f"batch endpoint {names.batch}: deployment '{batch}' v{version}")
    return state


def _deploy_batch(
    client: Any, settings: Settings, name: str, environment: str, version: str, digest: str
) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    from . import endpoints

    try:
        endpoint = client.batch_endpoints.get(name)
    except ResourceNotFoundError:
        endpoint = endpoints.batch_endpoint(settings, name, environment)
        endpoint = client.batch_endpoints.begin_create_or_update(endpoint).result()
    compute = (settings.azure.cpu_cluster_name if settings.azure else None) or "cpu-cluster"
    deployment = endpoints.batch_deployment(
        settings, endpoint_name=name, version=version, compute=compute, digest=digest
    )
    client.batch_deployments.begin_create_or_update(deployment).result()
    endpoint.defaults = {"deployment_name": endpoints.BATCH_DEPLOYMENT_NAME}
    client.batch_endpoints.begin_create_or_update(endpoint).result()


def _write_summary(path: Path | None, state: RolloutState | None, **extra: Any) -> None:
    if path is None:
        return
    record = (
        {}
        if state is None
        else {
            "environment": state.environment,
            "endpoint": state.endpoint,
            "deployment": state.new,
            "model_name": state.model_name,
            "version": state.version,
            "digest": state.digest,
            "phase": state.phase.value,
            "succeeded": state.succeeded,
            "error": state.error,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**record, **extra}, indent=2))


# --- commands ---------------------------------------------------------------------------------


def _check_digest(client: Any, settings: Settings, version: str, expected: str) -> None:
    """Refuse, before any traffic moves, a version whose registered digest is not `expected`:
    the number alone does not say it is the model the gate promoted."""
    from ..registry import DIGEST_TAG

    model = client.models.get(settings.model_name, version)
    found = (model.tags or {}).get(DIGEST_TAG, "")
    if found != expected:
        raise PipelineError(
            f"model {settings.model_name} v{version} in workspace {client.workspace_name} has "
            f"digest {found[:12] or 'none'}, not the expected {expected[:12]}: nothing deployed"
        )


def _bring_version(
    client: Any,
    settings: Settings,
    env: str,
    version: str | None,
    *,
    digest: str | None,
    model_package: Path | None,
    from_environment: str | None,
) -> str | None:
    """Make sure the version to deploy is in the target workspace: from a model package, or
    copied from the --from-environment workspace; returns the version (None: the champion)."""
    from .promotion import find_version, import_version, promote_version
    from .workspace import infra_environments

    if model_package is not None:
        if from_environment is not None:
            raise PipelineError("use --model-package or --from-environment, not both")
        package = import_version(
            client,
            model_package,
            log=_echo,
            name=settings.model_name,
            version=version,
            expected_digest=digest,
        )
        return package.version
    first = infra_environments(settings.project_dir)[0]
    source_env = _environment(settings, from_environment or first, "--from-environment")
    if version is not None and source_env != env:
        source = _source_client(settings, source_env)
        promote_version(source, client, settings.model_name, version, log=_echo)
    elif version is not None and find_version(client, settings.model_name, version) is None:
        raise PipelineError(
            f"model {settings.model_name} v{version} is not registered in workspace "
            f"{client.workspace_name}: a version reaches {env} through the release pipeline's "
            "model package (--model-package), or --from-environment with access to both"
        )
    return version


def deploy(
    environment: EnvironmentOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Model version (default: the champion).")
    ] = None,
    digest: Annotated[
        str | None,
        typer.Option("--digest", help="Refuse unless the version has this model.sha256 digest."),
    ] = None,
    model_package: Annotated[
        Path | None,
        typer.Option(
            "--model-package",
            help="Register the version from this `azure export-model` folder first.",
        ),
    ] = None,
    summary: Annotated[
        Path | None, typer.Option("--summary", help="Write the outcome as JSON here.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the YAML only; needs no Azure settings.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", help="Folder for the --dry-run YAML.")
    ] = None,
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
    try:
        settings = cli_settings(config)
        env = _environment(settings, environment)
        if dry_run:
            if output is None:
                raise PipelineError("--dry-run needs --output DIR for the YAML files")
            dry_digest = ""
            if version is None:
                version, dry_digest = local_champion(settings)
            written = write_dry_run(
                settings, output, environment=env, version=version, digest=dry_digest
            )
            for path in written:
                _echo(f"wrote {path}")
            _echo(
                f"model {settings.model_name} v{version} -> {env}; nothing was sent to Azure. "
                "Check: az ml online-endpoint create --file ... (see docs/deployment.md)"
            )
            return
        client = workspace_client(settings, env)
        version = _bring_version(
            client,
            settings,
            env,
            version,
            digest=digest,
            model_package=model_package,
            from_environment=from_environment,
        )
        version = version or _workspace_champion(client, settings)
        if digest:
            _check_digest(client, settings, version, digest)
        state = roll_out(client, settings, env, version, _echo)
    except Exception as error:
        from azure.core.exceptions import AzureError

        if not isinstance(error, PipelineError | AzureError):
            raise
        _write_summary(summary, None, succeeded=False, error=str(error))
        raise _fail(error) from None
    _write_summary(summary, state)
    if not (state.succeeded and state.version == version):
        raise _fail(PipelineError(f"rollout did not complete: {state.describe()}"))
    _echo(f"{state.endpoint}: {state.model_name} v{state.version} serves 100% on {state.new}")


def export_model(
    version: Annotated[str, typer.Option("--version", help="The registered version to export.")],
    output: Annotated[
        Path, typer.Option("--output", help="An empty or new folder for the model package.")
    ],
    environment: EnvironmentOption = None,
    digest: Annotated[
        str | None,
        typer.Option("--digest", help="Refuse unless the version has this model.sha256 digest."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write one registered version as a model package (its files and a manifest, digest
    checked) for `azure deploy --model-package` in another environment's workspace."""
    from .promotion import export_version

    with _clean_errors():
        settings = cli_settings(config)
        env = _environment(settings, environment)
        client = workspace_client(settings, env)
        package = export_version(
            client, settings.model_name, version, output, expected_digest=digest
        )
    _echo(
        f"model {package.name} v{package.version} (digest {package.digest[:12]}) from "
        f"{package.source_workspace} -> {output}"
    )


def rollback(environment: EnvironmentOption = None, config: ConfigOption = None) -> None:
    """Put the previously recorded version back, through the same blue/green rollout.

    An unfinished rollout is aborted instead, which leaves the recorded version serving."""
    from .endpoint_ops import PREVIOUS_PREFIX

    with _clean_errors():
        settings = cli_settings(config)
        env = _environment(settings, environment)
        client = workspace_client(settings, env)
        from . import endpoints, rollout
        from .endpoint_ops import AzureEndpointOperations, journal_from_tags

        names = endpoints.endpoint_names(settings, env)
        tags = client.online_endpoints.get(names.online).tags or {}
        journal = journal_from_tags(tags)
        if rollout.needs_attention(journal):
            aborted = rollout.abort(journal, "aborted by `azure rollback`")
            ops = AzureEndpointOperations(
                client, settings, names.online, mark_serving=lambda state: None
            )
            state = rollout.run_rollout(ops, aborted, log=_echo)
            if state.phase != rollout.Phase.ROLLED_BACK:
                raise PipelineError(f"could not abort the unfinished rollout: {state.describe()}")
            _echo(f"aborted the rollout of v{journal.version}; the recorded version serves")
            return
        previous = tags.get(f"{PREVIOUS_PREFIX}version")
        if not previous:
            raise PipelineError(
                f"no previous version recorded on {names.online}: nothing to roll back to"
            )
        state = roll_out(client, settings, env, previous, _echo)
        if not (state.succeeded and state.version == previous):
            raise PipelineError(f"rollback did not complete: {state.describe()}")
    _echo(f"{state.endpoint}: rolled back to v{previous} on {state.new}")


def wait_for_job(
    get_status: Callable[[], str],
    *,
    timeout_minutes: float,
    poll_seconds: float = 30,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """The job's terminal status, or None when `timeout_minutes` passed first."""
    deadline = clock() + timeout_minutes * 60
    while True:
        status = get_status()
        if status in TERMINAL_JOB_STATES:
            return status
        if clock() >= deadline:
            return None
        sleep(min(poll_seconds, max(deadline - clock(), 0)))


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
    with _clean_errors():
        settings = cli_settings(config)
        env = _environment(settings, environment)
        client = workspace_client(settings, env)
        from . import endpoints

        names = endpoints.endpoint_names(settings, env)
        job = client.batch_endpoints.invoke(
            endpoint_name=names.batch,
            deployment_name=endpoints.BATCH_DEPLOYMENT_NAME,
            inputs={"input": endpoints.batch_job_input(input_path)},
        )
    _echo(job.name)
    if not wait:
        return
    with _clean_errors():
        status = wait_for_job(
            lambda: client.jobs.get(job.name).status, timeout_minutes=timeout_minutes
        )
    if status is None:
        typer.echo(f"{job.name}: still running after {timeout_minutes} min", err=True)
        raise typer.Exit(code=EXIT_TIMEOUT)
    typer.echo(f"{job.name}: {status}")
    if status != "Completed":
        raise typer.Exit(code=1)


def describe_endpoint(
    name: str,
    traffic: dict[str, int],
    mirror: dict[str, int],
    deployments: dict[str, str],
    tags: dict[str, str],
) -> list[str]:
    """`status --endpoint` lines: traffic, deployments, the record and any rollout under way."""
    from .endpoint_ops import PREVIOUS_PREFIX, RECORD_PREFIX, journal_from_tags
    from .rollout import needs_attention

    split = ", ".join(f"{dep} {share}%" for dep, share in traffic.items()) or "no traffic"
    lines = [f"endpoint {name}: {split}"]
    if mirror:
        lines.append("mirror: " + ", ".join(f"{dep} {share}%" for dep, share in mirror.items()))
    for dep, detail in deployments.items():
        lines.append(f"  deployment {dep}: {detail}")
    version = tags.get(f"{RECORD_PREFIX}version")
    if version:
        lines.append(
            f"recorded: {tags.get(f'{RECORD_PREFIX}model')} v{version} on "
            f"{tags.get(f'{RECORD_PREFIX}deployment')} at {tags.get(f'{RECORD_PREFIX}at')}"
            f" (digest {tags.get(f'{RECORD_PREFIX}digest') or '-'}); "
            f"rollback target: v{tags.get(f'{PREVIOUS_PREFIX}version') or '-'}"
        )
    journal = journal_from_tags(tags)
    if journal is not None:
        state = (
            "UNFINISHED (the next deploy resumes or aborts it)"
            if needs_attention(journal)
            else "finished"
        )
        lines.append(f"last rollout {state}: {journal.describe()}")
    return lines


def endpoint_status(environment: EnvironmentOption = None, config: ConfigOption = None) -> None:
    """Traffic, deployments, the deployment record and where the last rollout stands."""
    with _clean_errors():
        settings = cli_settings(config)
        env = _environment(settings, environment)
        client = workspace_client(settings, env)
        from . import endpoints

        names = endpoints.endpoint_names(settings, env)
        endpoint = client.online_endpoints.get(names.online)
        deployments = {
            d.name: f"{d.model} ({d.provisioning_state})"
            for d in client.online_deployments.list(names.online)
        }
    for line in describe_endpoint(
        names.online,
        endpoint.traffic or {},
        endpoint.mirror_traffic or {},
        deployments,
        endpoint.tags or {},
    ):
        _echo(line)
