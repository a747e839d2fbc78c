"""Managed identities of one environment and their least-privilege role assignments.

- The clusters' identity (created here): pull images, read/write data, read secrets, consume
  the workspace events; each assignment is scoped to one resource or to the queue.
- The workspace's identity: user-assigned and created by the platform bootstrap with the roles
  Azure ML needs on the resource group (roles.WORKSPACE_ROLES), because the CI identity may not
  grant Contributor or Key Vault Administrator. Only a sandbox without the bootstrap
  (`create_resource_group`) creates it here, with the same roles.
"""

from __future__ import annotations

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .naming import Names
from .roles import COMPUTE_ROLES, QUEUE_CONSUMER_ROLE, TELEMETRY_PUBLISHER_ROLE, WORKSPACE_ROLES


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
        application_insights_id: str,
    ) -> None:
        super().__init__(scope, id_)
        self.identity = azurerm.user_assigned_identity.UserAssignedIdentity(
            self,
            "compute-identity",
            name=names.compute_identity,
            resource_group_name=rg,
            location=config.location,
        )
        self.role_assignments = [
            assign(
                self,
                assignment_id,
                role,
                getattr(dependencies, target).id,
                self.identity.principal_id,
            )
            for assignment_id, role, target in COMPUTE_ROLES
        ]
        self.role_assignments.append(
            assign(
                self,
                "queue-consumer",
                QUEUE_CONSUMER_ROLE,
                dependencies.event_queue_scope,
                self.identity.principal_id,
            )
        )
        # App Insights refuses key-only telemetry (local auth off): the deployments that run as
        # this identity publish with its Entra token.
        self.role_assignments.append(
            assign(
                self,
                "telemetry-publisher",
                TELEMETRY_PUBLISHER_ROLE,
                application_insights_id,
                self.identity.principal_id,
            )
        )


class WorkspaceIdentity(Construct):
    """The bootstrap's workspace identity, or (sandbox) one created here with the same roles."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        rg: str,
        rg_id: str,
    ) -> None:
        super().__init__(scope, id_)
        self.role_assignments: list[azurerm.role_assignment.RoleAssignment] = []
        if not config.create_resource_group:
            self.identity = (
                azurerm.data_azurerm_user_assigned_identity.DataAzurermUserAssignedIdentity(
                    self,
                    "workspace-identity",
                    name=names.workspace_identity,
                    resource_group_name=rg,
                )
            )
            return
        self.identity = azurerm.user_assigned_identity.UserAssignedIdentity(
            self,
            "workspace-identity",
            name=names.workspace_identity,
            resource_group_name=rg,
            location=config.location,
        )
        self.role_assignments = [
            assign(self, f"workspace-{index}", role, rg_id, self.identity.principal_id)
            for index, role in enumerate(WORKSPACE_ROLES)
        ]


def assign(
    scope: Construct,
    id_: str,
    role: str | None,
    target_scope: str,
    principal_id: str,
    *,
    role_definition_id: str | None = None,
    condition: str | None = None,
) -> azurerm.role_assignment.RoleAssignment:
    """A role (by name, or a custom one by `role_definition_id`) for a service principal, with
    an optional ABAC `condition`; the platform bootstrap assigns through this too."""
    return azurerm.role_assignment.RoleAssignment(
        scope,
        id_,
        scope=target_scope,
        role_definition_name=role,
        role_definition_id=role_definition_id,
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        # The identity is created in the same apply: do not wait for Graph replication.
        skip_service_principal_aad_check=True,
        condition=condition,
        condition_version="2.0" if condition else None,
    )
