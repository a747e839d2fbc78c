"""The Azure ML workspace, wired to its dependencies."""

from __future__ import annotations

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .identity import WorkspaceIdentity
from .monitoring import Monitoring
from .naming import Names
from .network import Network


class Workspace(Construct):
    """User-assigned identity, no public network when private, no v1 legacy APIs."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        rg: str,
        dependencies: WorkspaceDependencies,
        monitoring: Monitoring,
        network: Network,
        identity: WorkspaceIdentity,
    ) -> None:
        super().__init__(scope, id_)
        self.workspace = azurerm.machine_learning_workspace.MachineLearningWorkspace(
            self,
            "workspace",
            name=names.workspace,
            resource_group_name=rg,
            location=config.location,
            friendly_name=f"{config.project_slug} ({config.environment})",
            sku_name="Basic",
            storage_account_id=dependencies.storage_account.id,
            key_vault_id=dependencies.key_vault.id,
            container_registry_id=dependencies.container_registry.id,
            application_insights_id=monitoring.application_insights.id,
            # User-assigned, with its roles granted before the workspace exists (by the
            # bootstrap): Azure ML does not have to create role assignments at creation time,
            # which the CI identity could not do for Contributor or Key Vault Administrator.
            identity=azurerm.machine_learning_workspace.MachineLearningWorkspaceIdentity(
                type="UserAssigned", identity_ids=[identity.identity.id]
            ),
            primary_user_assigned_identity=identity.identity.id,
            public_network_access_enabled=not config.private,
            high_business_impact=config.high_business_impact,
            v1_legacy_mode_enabled=False,
            # Isolation comes from our own VNet and private endpoints, not the managed VNet.
            managed_network=azurerm.machine_learning_workspace.MachineLearningWorkspaceManagedNetwork(
                isolation_mode="Disabled"
            ),
            # Serverless jobs run in the training subnet, without public IPs, like the clusters.
            serverless_compute=azurerm.machine_learning_workspace.MachineLearningWorkspaceServerlessCompute(
                subnet_id=network.training_subnet.id, public_ip_enabled=False
            ),
            # A private registry cannot be reached by Azure's shared build agents: environment
            # images are built on the CPU cluster inside the VNet instead.
            image_build_compute_name=names.cpu_cluster if config.private else None,
            depends_on=identity.role_assignments or None,
        )
