"""Which workspace, resource group and clusters to use, and an authenticated `MLClient`.

Precedence: the config `azure:` section < environment variables (`AZURE_SUBSCRIPTION_ID`,
`AZURE_RESOURCE_GROUP`, `AZURE_ML_WORKSPACE`, set per environment by CI; `AZURE_ML_ENVIRONMENT`,
`AZURE_ML_CPU_CLUSTER`, `AZURE_ML_GPU_CLUSTER`, which the scheduled drift job's definition sets,
since its code snapshot has no `infra/`); `--environment` on the command line picks the
environment. A name nobody configured is derived the way the infrastructure names it
(`infra/mlops_infra/naming.py`, read from the project checkout, never duplicated here), so a
project deployed with its own `infra/` needs only the subscription id.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..config import PACKAGE_NAME, Settings
from ..errors import PipelineError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"
RESOURCE_GROUP_ENV = "AZURE_RESOURCE_GROUP"
WORKSPACE_ENV = "AZURE_ML_WORKSPACE"
ENVIRONMENT_ENV = "AZURE_ML_ENVIRONMENT"
CPU_CLUSTER_ENV = "AZURE_ML_CPU_CLUSTER"
GPU_CLUSTER_ENV = "AZURE_ML_GPU_CLUSTER"
INFRA_SETTINGS = Path("infra") / "settings.json"
INFRA_NAMING = Path("infra") / "mlops_infra" / "naming.py"


class AzureConfigError(PipelineError):
    """Workspace coordinates are missing or the infrastructure settings cannot be read."""


@dataclass(frozen=True)
class WorkspaceCoordinates:
    """Where Azure ML objects go; `derived` names the fields taken from the infra naming."""

    subscription_id: str | None
    resource_group_name: str
    workspace_name: str
    cpu_cluster_name: str
    gpu_cluster_name: str
    environment: str
    derived: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        return f"workspace '{self.workspace_name}' (resource group '{self.resource_group_name}')"


def _infra_settings(project_dir: Path) -> dict[str, Any]:
    path = project_dir / INFRA_SETTINGS
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise AzureConfigError(
            f"Cannot read {path} ({error}): set azure.resource_group_name and "
            "azure.workspace_name in config/pipeline.yaml instead"
        ) from None


def _naming_module(project_dir: Path) -> ModuleType:
    """The infrastructure's own naming module, loaded from the checkout (not a copy)."""
    path = project_dir / INFRA_NAMING
    module_name = f"_{PACKAGE_NAME}_infra_naming"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise AzureConfigError(
            f"{path} is missing: set azure.resource_group_name and azure.workspace_name"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def infra_environments(project_dir: Path) -> list[str]:
    """The environments the infrastructure deploys, in promotion order."""
    raw = str(_infra_settings(project_dir).get("environments", ""))
    return [part.strip() for part in raw.split(",") if part.strip()]


def unique_suffix(project_dir: Path, environment: str) -> str:
    """The short stable hash `infra/` puts in globally unique names, for other such names
    (endpoints) that the infrastructure does not create."""
    infra = _infra_settings(project_dir)
    return _naming_module(project_dir).short_hash(
        infra["project_slug"], infra["resource_prefix"], environment, infra["location"]
    )


def derived_names(project_dir: Path, environment: str) -> dict[str, str]:
    """The names `infra/` gives one environment's resource group, workspace and clusters."""
    infra = _infra_settings(project_dir)
    names = _naming_module(project_dir).Names(
        project_slug=infra["project_slug"],
        prefix=infra["resource_prefix"],
        environment=environment,
        location=infra["location"],
    )
    return {
        "resource_group_name": names.resource_group,
        "workspace_name": names.workspace,
        "cpu_cluster_name": names.cpu_cluster,
        "gpu_cluster_name": names.gpu_cluster,
    }


def resolve_workspace(
    settings: Settings, environment: str | None = None, *, require_subscription: bool = True
) -> WorkspaceCoordinates:
    """Coordinates for `environment` (default: `azure.environment`, else the first infra one).

    `require_subscription=False` is for offline work (`submit --dry-run`), which never needs
    the subscription id.
    """
    azure = settings.azure
    project_dir = settings.project_dir
    subscription_id = os.environ.get(SUBSCRIPTION_ENV) or azure.subscription_id
    if require_subscription and not subscription_id:
        raise AzureConfigError(
            f"No Azure subscription: set {SUBSCRIPTION_ENV} or azure.subscription_id in "
            "config/pipeline.yaml (`azure submit --dry-run` works without one)"
        )
    environment = environment or os.environ.get(ENVIRONMENT_ENV) or azure.environment
    if environment is None:
        environments = infra_environments(project_dir)
        if not environments:
            raise AzureConfigError(f"No environments in {project_dir / INFRA_SETTINGS}")
        environment = environments[0]
    given: dict[str, str | None] = {
        "subscription_id": subscription_id,
        "resource_group_name": os.environ.get(RESOURCE_GROUP_ENV) or azure.resource_group_name,
        "workspace_name": os.environ.get(WORKSPACE_ENV) or azure.workspace_name,
        "cpu_cluster_name": os.environ.get(CPU_CLUSTER_ENV) or azure.cpu_cluster_name,
        "gpu_cluster_name": os.environ.get(GPU_CLUSTER_ENV) or azure.gpu_cluster_name,
    }
    missing = [key for key, value in given.items() if not value and key != "subscription_id"]
    derived: dict[str, str] = {}
    if missing and environment not in (known := infra_environments(project_dir)):
        raise AzureConfigError(
            f"Environment '{environment}' is not one of {', '.join(known)} (infra/settings.json)"
        )
    if missing:
        derived = {key: derived_names(project_dir, environment)[key] for key in missing}
    values = {**given, **derived}
    return WorkspaceCoordinates(
        subscription_id=values["subscription_id"],
        resource_group_name=str(values["resource_group_name"]),
        workspace_name=str(values["workspace_name"]),
        cpu_cluster_name=str(values["cpu_cluster_name"]),
        gpu_cluster_name=str(values["gpu_cluster_name"]),
        environment=environment,
        derived=tuple(derived),
    )


def job_environment_variables(coordinates: WorkspaceCoordinates) -> dict[str, str]:
    """What a job needs to find its own workspace again with `resolve_workspace`, without
    `infra/` (which its code snapshot leaves out)."""
    values = {
        SUBSCRIPTION_ENV: coordinates.subscription_id,
        RESOURCE_GROUP_ENV: coordinates.resource_group_name,
        WORKSPACE_ENV: coordinates.workspace_name,
        ENVIRONMENT_ENV: coordinates.environment,
        CPU_CLUSTER_ENV: coordinates.cpu_cluster_name,
        GPU_CLUSTER_ENV: coordinates.gpu_cluster_name,
    }
    return {name: value for name, value in values.items() if value}


def ml_client(settings: Settings, environment: str | None = None) -> MLClient:
    """An `MLClient` for the resolved workspace, authenticated with the one credential of the
    place it runs in (credentials.py: a refreshing federated credential in CI, the cluster's
    identity in a job, `az login` on a laptop; never a machine's identity by accident)."""
    coordinates = resolve_workspace(settings, environment)  # fails fast, before the SDK import
    from azure.ai.ml import MLClient

    from .credentials import azure_credential

    return MLClient(
        azure_credential(),
        subscription_id=coordinates.subscription_id,
        resource_group_name=coordinates.resource_group_name,
        workspace_name=coordinates.workspace_name,
    )
