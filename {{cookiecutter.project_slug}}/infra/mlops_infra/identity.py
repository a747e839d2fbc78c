"""The clusters' managed identity and least-privilege role assignments.

Every assignment is scoped to one resource of this environment; nothing is assigned at
subscription or resource-group scope.
"""

from __future__ import annotations

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .naming import Names

# (id, role, target) for the compute identity: pull images, read/write data, read secrets.
COMPUTE_ROLES = (
    ("acr-pull", "AcrPull", "container_registry"),
    ("blob-data", "Storage Blob Data Contributor", "storage_account"),
    ("secrets", "Key Vault Secrets User", "key_vault"),
)

# The workspace reaches its default datastores with its identity instead of account keys.
WORKSPACE_ROLES = (
    ("workspace-blob-data", "Storage Blob Data Contributor", "storage_account"),
    ("workspace-file-data", "Storage File Data Privileged Contributor", "storage_account"),
)


class ComputeIdentity(Construct):
    """A user-assigned identity, so its roles exist before the clusters that use it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        rg: str,
        dependencies: WorkspaceDependencies,
    ) -> None:
        super().__init__(scope, id_)
        self._dependencies = dependencies
        self.identity = azurerm.user_assigned_identity.UserAssignedIdentity(
            self,
            "compute-identity",
            name=names.compute_identity,
            resource_group_name=rg,
            location=config.location,
        )
        self.role_assignments = [
            self.assign(assignment_id, role, target, self.identity.principal_id)
            for assignment_id, role, target in COMPUTE_ROLES
        ]

    def assign(
        self, id_: str, role: str, target: str, principal_id: str
    ) -> azurerm.role_assignment.RoleAssignment:
        return azurerm.role_assignment.RoleAssignment(
            self,
            id_,
            scope=getattr(self._dependencies, target).id,
            role_definition_name=role,
            principal_id=principal_id,
            principal_type="ServicePrincipal",
            # The identity is created in the same apply: do not wait for Graph replication.
            skip_service_principal_aad_check=True,
        )

    def grant_workspace(self, workspace_principal_id: str) -> None:
        for assignment_id, role, target in WORKSPACE_ROLES:
            self.assign(assignment_id, role, target, workspace_principal_id)
