"""Deploying to Azure ML endpoints, as a library: which version, from where, and the rollout.

`deploy_version` resolves the version and its digest once (from a model package, another
environment's workspace or the champion), then drives the blue/green state machine in
`rollout.py` through `AzureEndpointOperations`, which deploys that digest. The CLI commands in
`cli/deploy.py` only parse options and print. The SDK (about 12 s to import) is imported inside
the functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError
from ..registry import DIGEST_TAG

if TYPE_CHECKING:
    from ..config import Settings
    from .rollout import RolloutState

Log = Callable[[str], None]


def resolve_environment(
    settings: Settings, environment: str | None, flag: str = "--environment"
) -> str:
    """The environment a command acts on: as given, else azure.environment, else the first."""
    from .workspace import infra_environments

    known = infra_environments(settings.project_dir)
    chosen = environment or settings.azure.environment or known[0]
    if chosen not in known:
        raise PipelineError(f"{flag} '{chosen}' is not one of this project's: {', '.join(known)}")
    return chosen


def workspace_client(settings: Settings, environment: str | None) -> Any:
    from .workspace import ml_client

    return ml_client(settings, environment)


# --- dry run -----------------------------------------------------------------------------------


def local_champion(settings: Settings) -> tuple[str, str]:
    """The local registry's champion (version, digest): what a dry run shows by default."""
    from ..deployments import client_for
    from ..registry import get_champion_version

    champion = get_champion_version(client_for(settings), settings.model_name)
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
                compute=_batch_compute(settings),
                digest=digest,
            ),
            output / "batch-deployment.yml",
            code_dir=code,
        ),
    ]


def _batch_compute(settings: Settings) -> str:
    return (settings.azure.cpu_cluster_name if settings.azure else None) or "cpu-cluster"


# --- which version -----------------------------------------------------------------------------


def _source_client(settings: Settings, environment: str) -> Any:
    """The client for the workspace a version is copied from. AZURE_RESOURCE_GROUP and
    AZURE_ML_WORKSPACE name the target's workspace (as in CI), so they are ignored here and
    the source's names come from config/pipeline.yaml or the infrastructure's naming."""
    from . import workspace

    names = (workspace.RESOURCE_GROUP_ENV, workspace.WORKSPACE_ENV)
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        return workspace.ml_client(settings, environment)
    finally:
        os.environ.update(saved)


def workspace_mlflow(client: Any) -> Any:
    from mlflow import MlflowClient

    uri = client.workspaces.get(client.workspace_name).mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _workspace_champion(client: Any, settings: Settings) -> str:
    """The version tagged `production` in the workspace's registry (MLflow on Azure ML)."""
    from ..registry import get_champion_version

    champion = get_champion_version(workspace_mlflow(client), settings.model_name)
    if champion is None:
        raise PipelineError(
            f"no champion of '{settings.model_name}' in workspace {client.workspace_name}: "
            "run `azure submit` first, or pass --version"
        )
    return str(champion.version)


def registered_digest(
    client: Any, settings: Settings, version: str, expected: str | None = None
) -> str:
    """The version's registered model.sha256, read once per deploy; with `expected`, refuse
    (before any traffic moves) a version whose files are not the ones the gate promoted: the
    number alone does not say so."""
    model = client.models.get(settings.model_name, version)
    found = (model.tags or {}).get(DIGEST_TAG, "")
    if expected and found != expected:
        raise PipelineError(
            f"model {settings.model_name} v{version} in workspace {client.workspace_name} has "
            f"digest {found[:12] or 'none'}, not the expected {expected[:12]}: nothing deployed"
        )
    return found


def bring_version(
    client: Any,
    settings: Settings,
    environment: str,
    version: str | None,
    *,
    digest: str | None,
    model_package: Path | None,
    from_environment: str | None,
    log: Log,
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
            log=log,
            name=settings.model_name,
            version=version,
            expected_digest=digest,
        )
        return package.version
    first = infra_environments(settings.project_dir)[0]
    source_env = resolve_environment(settings, from_environment or first, "--from-environment")
    if version is not None and source_env != environment:
        source = _source_client(settings, source_env)
        promote_version(source, client, settings.model_name, version, log=log)
    elif version is not None and find_version(client, settings.model_name, version) is None:
        raise PipelineError(
            f"model {settings.model_name} v{version} is not registered in workspace "
            f"{client.workspace_name}: a version reaches {environment} through the release "
            "pipeline's model package (--model-package), or --from-environment with access to both"
        )
    return version


# --- the rollout -------------------------------------------------------------------------------


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


def roll_out(
    client: Any, settings: Settings, environment: str, version: str, digest: str, log: Log
) -> RolloutState:
    """Blue/green rollout of `version` (files `digest`) on the environment's online endpoint,
    then the batch deployment of the same version once the online rollout succeeded."""
    from . import endpoints, rollout
    from .endpoint_ops import AzureEndpointOperations, mark_serving

    names = endpoints.endpoint_names(settings, environment)
    _ensure_online_endpoint(client, settings, names.online, environment)
    config = settings.deployment
    mlflow_client = workspace_mlflow(client)
    ops = AzureEndpointOperations(
        client,
        settings,
        names.online,
        mark_serving=lambda state: mark_serving(mlflow_client, state, settings=settings),
    )

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
    deployment = endpoints.batch_deployment(
        settings,
        endpoint_name=name,
        version=version,
        compute=_batch_compute(settings),
        digest=digest,
    )
    client.batch_deployments.begin_create_or_update(deployment).result()
    endpoint.defaults = {"deployment_name": endpoints.BATCH_DEPLOYMENT_NAME}
    client.batch_endpoints.begin_create_or_update(endpoint).result()


def deploy_version(
    client: Any,
    settings: Settings,
    environment: str,
    *,
    version: str | None,
    digest: str | None,
    model_package: Path | None,
    from_environment: str | None,
    log: Log,
) -> tuple[str, RolloutState]:
    """The whole `azure deploy`: bring the version into the workspace, resolve its digest once
    (checked against `digest` when given), then roll it out. Returns the version it meant to
    deploy and where the rollout ended (an interrupted earlier rollout may stop it first)."""
    version = bring_version(
        client,
        settings,
        environment,
        version,
        digest=digest,
        model_package=model_package,
        from_environment=from_environment,
        log=log,
    )
    version = version or _workspace_champion(client, settings)
    found = registered_digest(client, settings, version, expected=digest)
    return version, roll_out(client, settings, environment, version, found, log)


def roll_back(client: Any, settings: Settings, environment: str, log: Log) -> RolloutState:
    """Abort an unfinished rollout (the recorded version keeps serving), or put the previously
    recorded version back through the same blue/green rollout."""
    from . import endpoints, rollout
    from .endpoint_ops import PREVIOUS_PREFIX, AzureEndpointOperations, journal_from_tags

    names = endpoints.endpoint_names(settings, environment)
    tags = client.online_endpoints.get(names.online).tags or {}
    journal = journal_from_tags(tags)
    if rollout.needs_attention(journal):
        aborted = rollout.abort(journal, "aborted by `azure rollback`")
        ops = AzureEndpointOperations(
            client, settings, names.online, mark_serving=lambda state: None
        )
        state = rollout.run_rollout(ops, aborted, log=log)
        if state.phase != rollout.Phase.ROLLED_BACK:
            raise PipelineError(f"could not abort the unfinished rollout: {state.describe()}")
        return state
    previous = tags.get(f"{PREVIOUS_PREFIX}version")
    if not previous:
        raise PipelineError(
            f"no previous version recorded on {names.online}: nothing to roll back to"
        )
    digest = registered_digest(client, settings, previous)
    state = roll_out(client, settings, environment, previous, digest, log)
    if not (state.succeeded and state.version == previous):
        raise PipelineError(f"rollback did not complete: {state.describe()}")
    return state


def write_summary(path: Path | None, state: RolloutState | None, **extra: Any) -> None:
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
