"""One TerraformStack per environment, composed from the concern constructs."""

from __future__ import annotations

from .budget import Budget
from .cdk import AzurermBackend, Construct, LocalBackend, TerraformOutput, TerraformStack, azurerm
from .compute import Compute
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .events import WorkspaceEvents
from .identity import ComputeIdentity, WorkspaceIdentity
from .monitoring import Monitoring
from .naming import Names
from .network import Network
from .private_endpoints import PrivateEndpoints
from .workspace import Workspace

LOCAL_STATE_DIR = "../../.."


def stack_name(config: EnvironmentConfig) -> str:
    return config.environment


class EnvironmentStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, stack_name(config))
        names = Names(
            project_slug=config.project_slug,
            prefix=config.resource_prefix,
            environment=config.environment,
            location=config.location,
        )
        self._backend(config)
        provider_for(self, config)
        client = azurerm.data_azurerm_client_config.DataAzurermClientConfig(self, "client")
        rg, rg_id = self._resource_group(config, names)

        monitoring = Monitoring(self, "monitoring", config=config, names=names, rg=rg)
        network = Network(self, "network", config=config, names=names, rg=rg)
        dependencies = WorkspaceDependencies(
            self, "dependencies", config=config, names=names, rg=rg, tenant_id=client.tenant_id
        )
        workspace_identity = WorkspaceIdentity(
            self, "workspace-identity", config=config, names=names, rg=rg, rg_id=rg_id
        )
        workspace = Workspace(
            self,
            "workspace",
            config=config,
            names=names,
            rg=rg,
            dependencies=dependencies,
            monitoring=monitoring,
            network=network,
            identity=workspace_identity,
        )
        identity = ComputeIdentity(
            self,
            "identity",
            config=config,
            names=names,
            rg=rg,
            dependencies=dependencies,
            application_insights_id=monitoring.application_insights.id,
        )
        events = WorkspaceEvents(
            self,
            "events",
            config=config,
            names=names,
            rg=rg,
            workspace_id=workspace.workspace.id,
            dependencies=dependencies,
        )
        budget = Budget(self, "budget", config=config, names=names, rg_id=rg_id)
        compute = Compute(
            self,
            "compute",
            config=config,
            names=names,
            workspace=workspace,
            network=network,
            identity=identity,
        )
        if config.private:
            PrivateEndpoints(
                self,
                "private-endpoints",
                config=config,
                names=names,
                rg=rg,
                network=network,
                dependencies=dependencies,
                workspace=workspace,
            )
        for target, resource_id in (
            ("workspace", workspace.workspace.id),
            ("key-vault", dependencies.key_vault.id),
            ("registry", dependencies.container_registry.id),
            ("blob", f"{dependencies.storage_account.id}/blobServices/default"),
        ):
            monitoring.send_audit_logs(target, names=names, target_resource_id=resource_id)

        # What CI, training and deployment read (docs/infrastructure.md, "Outputs").
        outputs = {
            "subscription_id": client.subscription_id,
            "resource_group_name": rg,
            "location": config.location,
            "environment": config.environment,
            "production": config.production,
            "network_isolation": config.network_isolation,
            # Endpoint names are derived from these, like every other name (naming.py).
            "project_slug": config.project_slug,
            "resource_prefix": config.resource_prefix,
            "workspace_name": workspace.workspace.name,
            "workspace_id": workspace.workspace.id,
            "workspace_identity_client_id": workspace_identity.identity.client_id,
            "gpu_cluster_name": compute.gpu_cluster.name,
            "cpu_cluster_name": compute.cpu_cluster.name,
            "compute_identity_id": identity.identity.id,
            "compute_identity_client_id": identity.identity.client_id,
            "container_registry_name": dependencies.container_registry.name,
            "container_registry_login_server": dependencies.container_registry.login_server,
            "storage_account_name": dependencies.storage_account.name,
            "storage_replication": config.storage_replication,
            "zone_redundant": config.zone_redundant,
            "key_vault_name": dependencies.key_vault.name,
            "application_insights_name": monitoring.application_insights.name,
            "log_analytics_workspace_id": monitoring.log_analytics.id,
            "event_queue_name": dependencies.event_queue.name,
            "event_queue_storage_account_name": dependencies.storage_account.name,
            "event_grid_system_topic_name": events.topic.name,
            "budget_name": budget.budget.name,
            "vnet_address_space": config.network.vnet_address_space,
            "training_subnet_id": network.training_subnet.id,
        }
        for output_name, value in outputs.items():
            TerraformOutput(self, output_name, value=value)

    def _backend(self, config: EnvironmentConfig) -> None:
        """Azure AD + OIDC remote state from the bootstrap, or local state for a sandbox."""
        if config.state is None:
            # Relative to cdktf.out/stacks/<env>: the file lives in infra/, outside the output
            # folder that every synth rewrites, and the JSON stays machine-independent.
            LocalBackend(self, path=f"{LOCAL_STATE_DIR}/terraform.{config.environment}.tfstate")
            return
        AzurermBackend(
            self,
            resource_group_name=config.state.resource_group_name,
            storage_account_name=config.state.storage_account_name,
            container_name=config.state.container_name,
            key=f"{config.environment}.tfstate",
            use_oidc=True,
            use_azuread_auth=True,
        )

    def _resource_group(self, config: EnvironmentConfig, names: Names) -> tuple[str, str]:
        """(name, id) of the environment's resource group: the bootstrap's, or the sandbox's."""
        if config.create_resource_group:
            group = azurerm.resource_group.ResourceGroup(
                self, "resource-group", name=names.resource_group, location=config.location
            )
        else:
            group = azurerm.data_azurerm_resource_group.DataAzurermResourceGroup(
                self, "resource-group", name=names.resource_group
            )
        return group.name, group.id


def provider_for(scope: Construct, config: EnvironmentConfig) -> azurerm.provider.AzurermProvider:
    """Provider features that decide what apply and destroy do, per environment.

    - Storage data plane off: the accounts are private (or refuse keys), so a plan that reads
      queue or static-website properties from the data plane would fail or hang; nothing the
      stacks create needs it (containers and queues are created through ARM by account id).
    - Non-production: destroy purges the soft-deleted workspace, key vault and Log Analytics
      workspace, so the same deterministic names can be re-created at once. Production keeps
      soft delete and purge protection, and recovers a soft-deleted vault instead of failing.
    """
    features = azurerm.provider
    recreatable = not config.production
    return features.AzurermProvider(
        scope,
        "azurerm",
        features=[
            features.AzurermProviderFeatures(
                key_vault=[
                    features.AzurermProviderFeaturesKeyVault(
                        purge_soft_delete_on_destroy=recreatable,
                        recover_soft_deleted_key_vaults=True,
                    )
                ],
                machine_learning=[
                    features.AzurermProviderFeaturesMachineLearning(
                        purge_soft_deleted_workspace_on_destroy=recreatable
                    )
                ],
                log_analytics_workspace=[
                    features.AzurermProviderFeaturesLogAnalyticsWorkspace(
                        permanently_delete_on_destroy=recreatable
                    )
                ],
                storage=[features.AzurermProviderFeaturesStorage(data_plane_available=False)],
            )
        ],
        # Storage keys are disabled: any storage call the provider still makes uses Azure AD.
        storage_use_azuread=True,
        # The CI identity holds roles on its resource group only, so it cannot register
        # resource providers: the platform bootstrap registers them once per subscription.
        resource_provider_registrations="none",
    )
