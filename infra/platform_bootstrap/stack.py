"""The bootstrap stack: remote state storage and, per project AND environment, a deployment
identity that can reach that environment's resource group and state container only."""

from __future__ import annotations

from pathlib import Path

from mlops_infra.dependencies import hardened_storage_account
from mlops_infra.identity import assign
from mlops_infra.naming import PRIVATE_DNS_ZONES, workspace_identity_name
from mlops_infra.regions import storage_redundancy
from mlops_infra.roles import DEPLOYER_ASSIGNABLE, DEPLOYER_DATA_ROLE, ROLE_IDS, WORKSPACE_ROLES

from .cdk import App, Construct, LocalBackend, TerraformOutput, TerraformStack, azurerm
from .config import BootstrapConfig, HubNetwork, Project
from .naming import (
    azure_devops_service_connection,
    ci_output_name,
    deploy_identity_name,
    deployer_role_name,
    hub_network_name,
    hub_resource_group_name,
    hub_role_name,
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
# Azure DevOps service connections created today present the Microsoft Entra issuer (and a
# subject Azure DevOps generates, see config.ENTRA_SUBJECT_PATTERN); the Azure DevOps issuer
# `https://vstoken.dev.azure.com/<org-id>` retires on 2027-07-01
# (learn.microsoft.com/azure/devops/pipelines/release/convert-service-connections, read 2026-12).
AZURE_DEVOPS_ISSUER = "https://login.microsoftonline.com/{tenant_id}/v2.0"
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"

# Resource providers the projects deploy with; their identities cannot register providers.
RESOURCE_PROVIDERS = (
    "Microsoft.Consumption",
    "Microsoft.ContainerRegistry",
    "Microsoft.EventGrid",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.MachineLearningServices",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
)

# The only roles a deployment identity may assign (to service principals other than itself,
# i.e. the managed identities its stack creates), inside its own resource group: exactly what
# the project stacks assign (mlops_infra/roles.py, one table for both).
ASSIGNABLE_ROLES = {role: ROLE_IDS[role] for role in DEPLOYER_ASSIGNABLE}

# The custom role of every deployment identity, on its environment's resource group only:
# the resource types the project stacks create, and nothing else. Narrower than Contributor: no
# other resource provider, no resource group deletion, no role assignments (those come from
# the conditional RBAC Administrator assignment), and no federated identity credentials (with
# those, a pipeline could federate an identity it creates to any issuer and log in as it).
DEPLOYER_ACTIONS = (
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Authorization/*/read",
    "Microsoft.Consumption/budgets/*",
    "Microsoft.ContainerRegistry/*",
    "Microsoft.EventGrid/*",
    "Microsoft.Insights/*",
    "Microsoft.KeyVault/*",
    "Microsoft.MachineLearningServices/*",
    "Microsoft.ManagedIdentity/*",
    "Microsoft.Network/*",
    "Microsoft.OperationalInsights/*",
    "Microsoft.Storage/*",
)
DEPLOYER_NOT_ACTIONS = (
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
)


# What a private environment's deployment identity may do in the hub, and nothing else: peer
# its VNet with the hub's (both directions), register its private endpoints in the shared
# zones and link them to its VNet. No deletes: removing an environment's peering or links is
# the platform engineer's job (infra/README.md, hub).
HUB_ACTIONS = (
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/peer/action",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
    "Microsoft.Network/privateDnsZones/read",
    "Microsoft.Network/privateDnsZones/join/action",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/read",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/write",
)


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
    """Storage for every environment's Terraform state: Azure AD only, versioned, soft-deleted."""

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
            # The best the region supports (mlops_infra/regions.py, shared with the projects).
            replication=storage_redundancy(config.location, "auto"),
        )
        self.containers = {
            (project.project_slug, env): azurerm.storage_container.StorageContainer(
                self,
                f"container-{project.project_slug}-{env}",
                name=state_container_name(project.project_slug, env),
                # By ARM id, not account name: the data plane refuses keys and may be private.
                storage_account_id=self.account.id,
                container_access_type="private",
            )
            for project in config.projects
            for env in project.environments
        }

    def container_scope(self, project_slug: str, environment: str) -> str:
        """ARM scope of one container, for a role assignment on that container only."""
        name = state_container_name(project_slug, environment)
        return f"{self.account.id}/blobServices/default/containers/{name}"


class Hub(Construct):
    """The hub network private projects join (config `hub`): a VNet with a runners subnet
    (its own NSG, egress through a NAT gateway), the shared privatelink zones linked to it, and
    the custom role that lets each deployment identity join its environment to it."""

    def __init__(
        self, scope: Construct, id_: str, *, config: BootstrapConfig, hub: HubNetwork, sub: str
    ) -> None:
        super().__init__(scope, id_)
        location = config.location
        self.resource_group = azurerm.resource_group.ResourceGroup(
            self, "rg", name=hub_resource_group_name(config.prefix), location=location
        )
        rg = self.resource_group.name
        base = f"{config.prefix}-mlops-hub"
        self.vnet = azurerm.virtual_network.VirtualNetwork(
            self,
            "vnet",
            name=hub_network_name(config.prefix),
            resource_group_name=rg,
            location=location,
            address_space=[hub.address_space],
        )
        self.runners = azurerm.subnet.Subnet(
            self,
            "runners",
            name="snet-runners",
            resource_group_name=rg,
            virtual_network_name=self.vnet.name,
            address_prefixes=[hub.address_space],
            default_outbound_access_enabled=False,
        )
        nsg = azurerm.network_security_group.NetworkSecurityGroup(
            self,
            "runners-nsg",
            name=f"nsg-{base}-runners",
            resource_group_name=rg,
            location=location,
        )
        azurerm.subnet_network_security_group_association.SubnetNetworkSecurityGroupAssociation(
            self,
            "runners-nsg-association",
            subnet_id=self.runners.id,
            network_security_group_id=nsg.id,
        )
        # Runners fetch jobs, packages and tokens from the internet: explicit egress.
        public_ip = azurerm.public_ip.PublicIp(
            self,
            "nat-ip",
            name=f"pip-{base}-nat",
            resource_group_name=rg,
            location=location,
            allocation_method="Static",
            sku="Standard",
        )
        nat = azurerm.nat_gateway.NatGateway(
            self,
            "nat",
            name=f"ng-{base}",
            resource_group_name=rg,
            location=location,
            sku_name="Standard",
        )
        azurerm.nat_gateway_public_ip_association.NatGatewayPublicIpAssociation(
            self, "nat-ip-association", nat_gateway_id=nat.id, public_ip_address_id=public_ip.id
        )
        azurerm.subnet_nat_gateway_association.SubnetNatGatewayAssociation(
            self, "runners-nat", subnet_id=self.runners.id, nat_gateway_id=nat.id
        )
        for key, zone_name in PRIVATE_DNS_ZONES.items():
            zone = azurerm.private_dns_zone.PrivateDnsZone(
                self, f"zone-{key}", name=zone_name, resource_group_name=rg
            )
            azurerm.private_dns_zone_virtual_network_link.PrivateDnsZoneVirtualNetworkLink(
                self,
                f"zone-link-{key}",
                name=f"link-{base}-{key}",
                resource_group_name=rg,
                private_dns_zone_name=zone.name,
                virtual_network_id=self.vnet.id,
                registration_enabled=False,
            )
        self.role = azurerm.role_definition.RoleDefinition(
            self,
            "joiner-role",
            name=hub_role_name(config.prefix),
            scope=sub,
            description="Joins one MLOps environment to the hub: peering, shared DNS zones.",
            permissions=[
                azurerm.role_definition.RoleDefinitionPermissions(actions=list(HUB_ACTIONS))
            ],
            assignable_scopes=[self.resource_group.id],
        )

    def ci_variables(self) -> dict[str, str]:
        """What a private environment's stack reads to join the hub (mlops_infra Hub)."""
        return {
            "HUB_VNET_ID": self.vnet.id,
            "HUB_DNS_ZONE_RESOURCE_GROUP_ID": self.resource_group.id,
        }


class EnvironmentAccess(Construct):
    """One project environment: its resource group, its deployment identity (trusted only by
    that environment's pipelines) and the workspace identity its stack attaches."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: BootstrapConfig,
        project: Project,
        environment: str,
        rg: str,
        state: StateStorage,
        deployer_role_id: str,
        tenant_id: str,
        hub: Hub | None = None,
    ) -> None:
        super().__init__(scope, id_)
        slug = project.project_slug
        self.resource_group = azurerm.resource_group.ResourceGroup(
            self,
            "rg",
            name=project_resource_group_name(slug, environment),
            location=config.location,
        )
        # In the platform group, where no deployment identity has any role: an environment's
        # pipeline cannot change its own identity or its federation.
        self.identity = azurerm.user_assigned_identity.UserAssignedIdentity(
            self,
            "deploy-identity",
            name=deploy_identity_name(slug, environment),
            resource_group_name=rg,
            location=config.location,
        )
        for name, subject, issuer in federations(project, environment, tenant_id):
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

        group = self.resource_group.id
        principal = self.identity.principal_id
        assign(self, "deploy", None, group, principal, role_definition_id=deployer_role_id)
        assign(
            self,
            "assign",
            "Role Based Access Control Administrator",
            group,
            principal,
            condition=role_assignment_condition(list(ASSIGNABLE_ROLES.values()), principal),
        )
        assign(
            self,
            "state",
            "Storage Blob Data Contributor",
            state.container_scope(slug, environment),
            principal,
        ).node.add_dependency(state.containers[(slug, environment)])
        # Data-plane access to its own environment's storage only: `azure setup` switches the
        # workspace datastores to identity-based access, so data-asset, environment and code
        # uploads, `export-model` and the package import use the caller's own token. Granted
        # here (the role-assignment condition forbids the identity granting itself any role).
        assign(self, "data", DEPLOYER_DATA_ROLE, group, principal)
        if hub is not None:
            assign(
                self,
                "hub",
                None,
                hub.resource_group.id,
                principal,
                role_definition_id=hub.role.role_definition_resource_id,
            )

        # The workspace's identity and the roles Azure ML needs, granted here (with the platform
        # engineer's rights) before the workspace exists: the deployment identity may not grant
        # Contributor or Key Vault Administrator, and does not have to.
        self.workspace_identity = azurerm.user_assigned_identity.UserAssignedIdentity(
            self,
            "workspace-identity",
            name=workspace_identity_name(slug, environment),
            resource_group_name=self.resource_group.name,
            location=config.location,
        )
        for index, role in enumerate(WORKSPACE_ROLES):
            assign(self, f"workspace-{index}", role, group, self.workspace_identity.principal_id)


def federations(project: Project, environment: str, tenant_id: str) -> list[tuple[str, str, str]]:
    """(credential name, subject, issuer) of the only pipelines that may log in as the
    environment's identity: its GitHub environment and its Azure DevOps service connection
    (once its subject is configured: phase 2 of the set-up, infra/README.md)."""
    result = []
    if project.github:
        result.append(
            (
                "github",
                f"repo:{project.github.repository}:environment:{environment}",
                GITHUB_ISSUER,
            )
        )
    if project.azure_devops and environment in project.azure_devops.service_connection_subjects:
        result.append(
            (
                "azure-devops",
                project.azure_devops.service_connection_subjects[environment],
                AZURE_DEVOPS_ISSUER.format(tenant_id=tenant_id),
            )
        )
    return result


def pending_azure_devops_connections(config: BootstrapConfig) -> list[str]:
    """Service connections whose subject is not configured yet (phase 1 of the set-up)."""
    return [
        azure_devops_service_connection(project.project_slug, env)
        for project in config.projects
        if project.azure_devops
        for env in project.environments
        if env not in project.azure_devops.service_connection_subjects
    ]


class PlatformStack(TerraformStack):
    def __init__(self, scope: Construct, config: BootstrapConfig) -> None:
        super().__init__(scope, STACK_NAME)
        # Local state: this stack creates the remote state account (see README: migrate after).
        # Relative to cdktf.out/stacks/platform, i.e. infra/: outside what every synth rewrites.
        LocalBackend(self, path="../../../terraform.platform.tfstate")
        azurerm.provider.AzurermProvider(
            self,
            "azurerm",
            # Nothing here needs the storage data plane (containers are created through ARM by
            # account id), and the state account may be private: plans must not call it.
            features=[
                azurerm.provider.AzurermProviderFeatures(
                    storage=[
                        azurerm.provider.AzurermProviderFeaturesStorage(data_plane_available=False)
                    ]
                )
            ],
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
            self, "storage_replication", value=storage_redundancy(config.location, "auto")
        )
        TerraformOutput(
            self,
            "network_isolation",
            value="public" if config.state_public_network_access else "private",
        )
        deployer = azurerm.role_definition.RoleDefinition(
            self,
            "deployer-role",
            name=deployer_role_name(config.prefix),
            scope=f"/subscriptions/{client.subscription_id}",
            description=(
                "Deploys one MLOps environment: the resource types its stack creates, no "
                "role assignments, no federated identity credentials (see infra/README.md)."
            ),
            permissions=[
                azurerm.role_definition.RoleDefinitionPermissions(
                    actions=list(DEPLOYER_ACTIONS), not_actions=list(DEPLOYER_NOT_ACTIONS)
                )
            ],
            assignable_scopes=[],  # filled below, once the groups exist
        )
        hub = None
        if config.hub is not None:
            hub = Hub(
                self,
                "hub",
                config=config,
                hub=config.hub,
                sub=f"/subscriptions/{client.subscription_id}",
            )
            TerraformOutput(self, "hub_runner_subnet_id", value=hub.runners.id)
        groups = []
        for project in config.projects:
            for env in project.environments:
                access = EnvironmentAccess(
                    self,
                    f"project-{project.project_slug}-{env}",
                    config=config,
                    project=project,
                    environment=env,
                    rg=platform_rg.name,
                    state=state,
                    deployer_role_id=deployer.role_definition_resource_id,
                    tenant_id=client.tenant_id,
                    hub=hub,
                )
                groups.append(access.resource_group.id)
                # Exactly the variables the environment's CI reads (the project's docs).
                TerraformOutput(
                    self,
                    ci_output_name(project.project_slug, env),
                    value={
                        "AZURE_CLIENT_ID": access.identity.client_id,
                        "AZURE_TENANT_ID": client.tenant_id,
                        "AZURE_SUBSCRIPTION_ID": client.subscription_id,
                        "TF_STATE_RESOURCE_GROUP": platform_rg.name,
                        "TF_STATE_STORAGE_ACCOUNT": state.account.name,
                        "TF_STATE_CONTAINER": state.containers[(project.project_slug, env)].name,
                        **(hub.ci_variables() if hub else {}),
                    },
                )
        deployer.assignable_scopes = groups
        # Phase 1 of the Azure DevOps set-up: create these connections, copy each one's subject
        # into bootstrap.json (service_connection_subjects) and apply again (infra/README.md).
        TerraformOutput(
            self,
            "azure_devops_federation_pending",
            value=pending_azure_devops_connections(config),
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
