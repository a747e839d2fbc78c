"""The bootstrap stack: remote state storage, and per project a scoped deployment identity."""

from __future__ import annotations

from pathlib import Path

from mlops_infra.dependencies import hardened_storage_account

from .cdk import App, Construct, LocalBackend, TerraformOutput, TerraformStack, azurerm
from .config import BootstrapConfig, Project
from .naming import (
    ci_output_name,
    deploy_identity_name,
    log_analytics_name,
    platform_resource_group_name,
    project_resource_group_name,
    state_container_name,
    state_storage_account_name,
)

STACK_NAME = "platform"
# Terraform state is the one thing that cannot be rebuilt: keep deleted blobs twice as long.
STATE_SOFT_DELETE_DAYS = 30
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
AZURE_DEVOPS_ISSUER = "https://vstoken.dev.azure.com/{organization_id}"
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"

# Resource providers the projects deploy with; their identities cannot register providers.
RESOURCE_PROVIDERS = (
    "Microsoft.ContainerRegistry",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.MachineLearningServices",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
)

# The only roles a project's deployment identity may assign (to service principals, i.e. the
# managed identities its stacks create), inside its own resource groups. Built-in role ids.
ASSIGNABLE_ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
}


def role_assignment_condition(role_ids: list[str], own_principal_id: str) -> str:
    """Azure ABAC condition: write/delete role assignments only for `role_ids`, write only to
    service principals other than the deploying identity itself (Microsoft's "constrain roles
    and principal types" delegation example, plus a self-exclusion so the CI identity cannot
    grant itself data access)."""
    ids = ", ".join(sorted(role_ids))
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{ids}}} AND "
        "@Request[Microsoft.Authorization/roleAssignments:PrincipalType] "
        "ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'} AND "
        "@Request[Microsoft.Authorization/roleAssignments:PrincipalId] "
        f"ForAnyOfAllValues:GuidNotEquals {{{own_principal_id}}})) AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{ids}}}))"
    )


class StateStorage(Construct):
    """Storage for every project's Terraform state: Azure AD only, versioned, soft-deleted."""

    def __init__(self, scope: Construct, id_: str, *, config: BootstrapConfig, rg: str) -> None:
        super().__init__(scope, id_)
        public = config.state_public_network_access
        self.account = hardened_storage_account(
            self,
            "account",
            name=state_storage_account_name(config.prefix, config.location),
            resource_group_name=rg,
            location=config.location,
            public=public,
            soft_delete_days=STATE_SOFT_DELETE_DAYS,
        )
        self.containers = {
            project.project_slug: azurerm.storage_container.StorageContainer(
                self,
                f"container-{project.project_slug}",
                name=state_container_name(project.project_slug),
                # By ARM id, not account name: the data plane refuses keys and may be private.
                storage_account_id=self.account.id,
                container_access_type="private",
            )
            for project in config.projects
        }

    def container_scope(self, project_slug: str) -> str:
        """ARM scope of one container, for a role assignment on that container only."""
        name = state_container_name(project_slug)
        return f"{self.account.id}/blobServices/default/containers/{name}"


class ProjectAccess(Construct):
    """A project's resource groups and its CI identity, trusted only by its own pipelines."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: BootstrapConfig,
        project: Project,
        rg: str,
        state: StateStorage,
    ) -> None:
        super().__init__(scope, id_)
        slug = project.project_slug
        self.identity = azurerm.user_assigned_identity.UserAssignedIdentity(
            self,
            "identity",
            name=deploy_identity_name(slug),
            resource_group_name=rg,
            location=config.location,
        )
        for name, subject, issuer in self._federations(project):
            azurerm.federated_identity_credential.FederatedIdentityCredential(
                self,
                f"federation-{name}",
                name=name,
                resource_group_name=rg,
                parent_id=self.identity.id,
                issuer=issuer,
                subject=subject,
                audience=[FEDERATION_AUDIENCE],
            )

        self.resource_groups = {}
        for env in project.environments:
            group = azurerm.resource_group.ResourceGroup(
                self,
                f"rg-{env}",
                name=project_resource_group_name(slug, env),
                location=config.location,
            )
            self.resource_groups[env] = group
            self._assign(f"deploy-{env}", "Contributor", group.id)
            self._assign(
                f"assign-{env}",
                "Role Based Access Control Administrator",
                group.id,
                condition=role_assignment_condition(
                    list(ASSIGNABLE_ROLES.values()), self.identity.principal_id
                ),
            )
        self._assign(
            "state", "Storage Blob Data Contributor", state.container_scope(slug)
        ).node.add_dependency(state.containers[slug])

    def _federations(self, project: Project) -> list[tuple[str, str, str]]:
        """(credential name, subject, issuer) for every pipeline allowed to log in."""
        federations = []
        if project.github:
            repo = project.github.repository
            federations += [
                (f"github-{env}", f"repo:{repo}:environment:{env}", GITHUB_ISSUER)
                for env in project.environments
            ]
            if project.github.pull_requests:
                federations.append(
                    ("github-pull-request", f"repo:{repo}:pull_request", GITHUB_ISSUER)
                )
        if project.azure_devops:
            ado = project.azure_devops
            federations.append(
                (
                    "azure-devops",
                    f"sc://{ado.organization}/{ado.project}/{ado.service_connection}",
                    AZURE_DEVOPS_ISSUER.format(organization_id=ado.organization_id),
                )
            )
        return federations

    def _assign(
        self, id_: str, role: str, scope: str, condition: str | None = None
    ) -> azurerm.role_assignment.RoleAssignment:
        return azurerm.role_assignment.RoleAssignment(
            self,
            id_,
            scope=scope,
            role_definition_name=role,
            principal_id=self.identity.principal_id,
            principal_type="ServicePrincipal",
            skip_service_principal_aad_check=True,
            condition=condition,
            condition_version="2.0" if condition else None,
        )


class PlatformStack(TerraformStack):
    def __init__(self, scope: Construct, config: BootstrapConfig) -> None:
        super().__init__(scope, STACK_NAME)
        # Local state: this stack creates the remote state account (see README: migrate after).
        # Relative to cdktf.out/stacks/platform, i.e. infra/: outside what every synth rewrites.
        LocalBackend(self, path="../../../terraform.platform.tfstate")
        azurerm.provider.AzurermProvider(
            self,
            "azurerm",
            features=[azurerm.provider.AzurermProviderFeatures()],
            storage_use_azuread=True,
            resource_provider_registrations="none",
            resource_providers_to_register=list(RESOURCE_PROVIDERS),
        )
        client = azurerm.data_azurerm_client_config.DataAzurermClientConfig(self, "client")
        platform_rg = azurerm.resource_group.ResourceGroup(
            self,
            "platform-rg",
            name=platform_resource_group_name(config.prefix),
            location=config.location,
        )
        state = StateStorage(self, "state", config=config, rg=platform_rg.name)
        self._audit_state_access(config, platform_rg.name, state)

        TerraformOutput(self, "state_resource_group_name", value=platform_rg.name)
        TerraformOutput(self, "state_storage_account_name", value=state.account.name)
        TerraformOutput(
            self,
            "network_isolation",
            value="public" if config.state_public_network_access else "private",
        )
        for project in config.projects:
            access = ProjectAccess(
                self,
                f"project-{project.project_slug}",
                config=config,
                project=project,
                rg=platform_rg.name,
                state=state,
            )
            # Exactly the variables a baked project's CI reads (docs/infrastructure.md there).
            TerraformOutput(
                self,
                ci_output_name(project.project_slug),
                value={
                    "AZURE_CLIENT_ID": access.identity.client_id,
                    "AZURE_TENANT_ID": client.tenant_id,
                    "AZURE_SUBSCRIPTION_ID": client.subscription_id,
                    "TF_STATE_RESOURCE_GROUP": platform_rg.name,
                    "TF_STATE_STORAGE_ACCOUNT": state.account.name,
                    "TF_STATE_CONTAINER": state.containers[project.project_slug].name,
                },
            )

    def _audit_state_access(self, config: BootstrapConfig, rg: str, state: StateStorage) -> None:
        """State holds every project's secrets-in-plain-text: log who reads and writes it."""
        logs = azurerm.log_analytics_workspace.LogAnalyticsWorkspace(
            self,
            "audit-logs",
            name=log_analytics_name(config.prefix),
            resource_group_name=rg,
            location=config.location,
            sku="PerGB2018",
            retention_in_days=365,
            local_authentication_enabled=False,
        )
        azurerm.monitor_diagnostic_setting.MonitorDiagnosticSetting(
            self,
            "state-audit",
            name="diag-state-blob",
            target_resource_id=f"{state.account.id}/blobServices/default",
            log_analytics_workspace_id=logs.id,
            enabled_log=[
                azurerm.monitor_diagnostic_setting.MonitorDiagnosticSettingEnabledLog(
                    category_group="allLogs"
                )
            ],
        )


def build_app(config: BootstrapConfig, outdir: Path | None = None) -> App:
    app = App(outdir=str(outdir)) if outdir else App()
    PlatformStack(app, config)
    return app
