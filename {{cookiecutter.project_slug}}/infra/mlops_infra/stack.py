"""One TerraformStack per environment, composed from the concern constructs."""

from __future__ import annotations

from .cdk import AzurermBackend, Construct, LocalBackend, TerraformOutput, TerraformStack, azurerm
from .compute import Compute
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .identity import ComputeIdentity
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
        azurerm.provider.AzurermProvider(
            self,
            "azurerm",
            features=[
                azurerm.provider.AzurermProviderFeatures(
                    key_vault=[
                        azurerm.provider.AzurermProviderFeaturesKeyVault(
                            purge_soft_delete_on_destroy=False,
                            recover_soft_deleted_key_vaults=True,
                        )
                    ],
                )
            ],
            # Storage keys are disabled, so the provider's data-plane calls must use Azure AD.
            storage_use_azuread=True,
            # The CI identity holds roles on its resource groups only, so it cannot register
            # resource providers: the platform team registers them once per subscription.
            resource_provider_registrations="none",
        )
        client = azurerm.data_azurerm_client_config.DataAzurermClientConfig(self, "client")
        rg = self._resource_group(config, names)

        monitoring = Monitoring(self, "monitoring", config=config, names=names, rg=rg)
        network = Network(self, "network", config=config, names=names, rg=rg)
        dependencies = WorkspaceDependencies(
            self, "dependencies", config=config, names=names, rg=rg, tenant_id=client.tenant_id
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
        )
        identity = ComputeIdentity(
            self, "identity", config=config, names=names, rg=rg, dependencies=dependencies
        )
        identity.grant_workspace(workspace.workspace.identity.principal_id)
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

        outputs = {
            "resource_group_name": rg,
            "location": config.location,
            "environment": config.environment,
            "network_isolation": config.network_isolation,
            "workspace_name": workspace.workspace.name,
            "workspace_id": workspace.workspace.id,
            "gpu_cluster_name": compute.gpu_cluster.name,
            "cpu_cluster_name": compute.cpu_cluster.name,
            "container_registry_name": dependencies.container_registry.name,
            "storage_account_name": dependencies.storage_account.name,
            "key_vault_name": dependencies.key_vault.name,
            "application_insights_name": monitoring.application_insights.name,
            "log_analytics_workspace_id": monitoring.log_analytics.id,
            "training_subnet_id": network.training_subnet.id,
            "compute_identity_client_id": identity.identity.client_id,
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

    def _resource_group(self, config: EnvironmentConfig, names: Names) -> str:
        if config.create_resource_group:
            return azurerm.resource_group.ResourceGroup(
                self, "resource-group", name=names.resource_group, location=config.location
            ).name
        return azurerm.data_azurerm_resource_group.DataAzurermResourceGroup(
            self, "resource-group", name=names.resource_group
        ).name
