"""`azure setup`: the one-time step after the infrastructure exists. Safe to repeat.

The infrastructure disables storage account keys, so the workspace's system datastores must
use identity-based access (`systemDatastoresAuthMode`, which azurerm 4.x cannot set:
hashicorp/terraform-provider-azurerm#22150) and so must its default datastores (the caller's
or the compute's Microsoft Entra identity); then the environments and the training data asset
are registered.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..config import Settings
from .data_asset import data_asset_spec
from .environments import environment_specs
from .submit import azure_call, ensure_data_asset, ensure_environments
from .workspace import WorkspaceCoordinates

DEFAULT_DATASTORES = ("workspaceblobstore", "workspaceartifactstore")
IDENTITY_AUTH_MODE = "identity"


def use_identity_for_system_datastores(client: Any, coordinates: WorkspaceCoordinates) -> bool:
    """Set the workspace's `system_datastores_auth_mode` to identity; True when it changed."""
    workspace = azure_call(
        coordinates,
        "Reading the workspace",
        lambda: client.workspaces.get(coordinates.workspace_name),
    )
    if (workspace.system_datastores_auth_mode or "").lower() == IDENTITY_AUTH_MODE:
        return False
    azure_call(
        coordinates,
        "Switching the system datastores to identity-based access",
        lambda: client.workspaces.begin_update(
            workspace, system_datastores_auth_mode=IDENTITY_AUTH_MODE
        ).result(),
    )
    return True


def use_identity_access(client: Any, coordinates: WorkspaceCoordinates) -> list[str]:
    """Switch the default blob datastores to identity-based access; returns those changed."""
    from azure.ai.ml.entities._credentials import NoneCredentialConfiguration

    changed = []
    for name in DEFAULT_DATASTORES:
        datastore = azure_call(
            coordinates, f"Reading datastore {name}", lambda name=name: client.datastores.get(name)
        )
        if datastore.credentials is None or isinstance(
            datastore.credentials, NoneCredentialConfiguration
        ):
            continue
        datastore.credentials = NoneCredentialConfiguration()
        azure_call(
            coordinates,
            f"Switching datastore {name} to identity-based access",
            lambda datastore=datastore: client.datastores.create_or_update(datastore),
        )
        changed.append(name)
    return changed


def setup_workspace(
    settings: Settings, client: Any, coordinates: WorkspaceCoordinates
) -> dict[str, list[str]]:
    """Datastores, environments, data asset: what each part changed (empty when up to date)."""
    system = use_identity_for_system_datastores(client, coordinates)
    datastores = use_identity_access(client, coordinates)
    with tempfile.TemporaryDirectory() as scratch:
        environments = ensure_environments(
            client, coordinates, environment_specs(settings), Path(scratch)
        )
    data = ensure_data_asset(client, coordinates, data_asset_spec(settings))
    return {
        "workspace": ["system datastores: identity"] if system else [],
        "datastores": datastores,
        "environments": environments,
        "data": [data] if data else [],
    }
