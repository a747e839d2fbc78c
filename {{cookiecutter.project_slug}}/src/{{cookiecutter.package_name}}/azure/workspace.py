"""Workspace coordinates and the `MLClient` (the minimum `azure deploy` needs; issue 9 owns it).

Coordinates come from the config's `azure:` section, overridden by the environment variables CI
sets (AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_ML_WORKSPACE); a missing one is named
in the error. Authentication is `DefaultAzureCredential` only (OIDC in CI, `az login` locally).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PipelineError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

    from ..config import Settings

VARIABLES = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group_name": "AZURE_RESOURCE_GROUP",
    "workspace_name": "AZURE_ML_WORKSPACE",
}


class WorkspaceError(PipelineError):
    """The workspace coordinates are incomplete."""


@dataclass(frozen=True)
class WorkspaceCoordinates:
    subscription_id: str
    resource_group_name: str
    workspace_name: str
    cpu_cluster_name: str | None
    gpu_cluster_name: str | None
    environment: str | None


def resolve_workspace(settings: Settings, environment: str | None = None) -> WorkspaceCoordinates:
    """Config `azure:` section < environment variables."""
    configured = settings.azure.model_dump() if settings.azure else {}
    values = {
        key: os.environ.get(variable) or configured.get(key) for key, variable in VARIABLES.items()
    }
    missing = [VARIABLES[key] for key, value in values.items() if not value]
    if missing:
        raise WorkspaceError(
            f"Azure ML workspace not configured: set {', '.join(missing)} (or the `azure:` "
            "section of config/pipeline.yaml)"
        )
    return WorkspaceCoordinates(
        **values,
        cpu_cluster_name=configured.get("cpu_cluster_name") or "cpu-cluster",
        gpu_cluster_name=configured.get("gpu_cluster_name") or "gpu-cluster",
        environment=environment,
    )


def ml_client(settings: Settings, environment: str | None = None) -> MLClient:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    where = resolve_workspace(settings, environment)
    return MLClient(
        DefaultAzureCredential(),
        subscription_id=where.subscription_id,
        resource_group_name=where.resource_group_name,
        workspace_name=where.workspace_name,
    )
