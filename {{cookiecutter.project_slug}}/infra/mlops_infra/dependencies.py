"""The workspace's dependencies: storage account, key vault and container registry.

Every security-relevant argument is set explicitly (no reliance on provider defaults, which
changed between azurerm 3.x and 4.x). `private` only switches network exposure: the identity
and key settings are the same in the public sandbox.
"""

from __future__ import annotations

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .naming import Names

SOFT_DELETE_DAYS = 14
UNTAGGED_MANIFEST_RETENTION_DAYS = 7
# Production vaults keep the longest soft delete and cannot be purged; other environments use
# the shortest and are purged on destroy (provider features in stack.py), so the same
# deterministic name can be re-created straight away.
PRODUCTION_VAULT_RETENTION_DAYS = 90
RECREATABLE_VAULT_RETENTION_DAYS = 7


def hardened_storage_account(
    scope: Construct,
    id_: str,
    *,
    name: str,
    resource_group_name: str,
    location: str,
    public: bool,
    soft_delete_days: int,
    replication: str,
) -> azurerm.storage_account.StorageAccount:
    """The one storage baseline, shared by the project stacks and the platform bootstrap's
    state storage: Azure AD only, versioned, soft-deleted, TLS 1.2, no public blobs.

    `replication` comes from the region table (regions.py): ZRS/GZRS only where the region has
    availability zones, GRS/GZRS only where it has a pair. Nothing here needs the storage data
    plane, so the provider can run with `storage.data_plane_available = false`."""
    sa = azurerm.storage_account
    return sa.StorageAccount(
        scope,
        id_,
        name=name,
        resource_group_name=resource_group_name,
        location=location,
        account_kind="StorageV2",
        account_tier="Standard",
        account_replication_type=replication,
        https_traffic_only_enabled=True,
        min_tls_version="TLS1_2",
        # Azure AD only: no account keys, no SAS signed with them, no local SFTP users.
        shared_access_key_enabled=False,
        default_to_oauth_authentication=True,
        local_user_enabled=False,
        sftp_enabled=False,
        allow_nested_items_to_be_public=False,
        cross_tenant_replication_enabled=False,
        infrastructure_encryption_enabled=True,
        public_network_access_enabled=public,
        network_rules=sa.StorageAccountNetworkRules(
            default_action="Allow" if public else "Deny", bypass=["AzureServices"]
        ),
        blob_properties=sa.StorageAccountBlobProperties(
            versioning_enabled=True,
            change_feed_enabled=True,
            delete_retention_policy=sa.StorageAccountBlobPropertiesDeleteRetentionPolicy(
                days=soft_delete_days
            ),
            container_delete_retention_policy=(
                sa.StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(days=soft_delete_days)
            ),
        ),
        sas_policy=sa.StorageAccountSasPolicy(
            expiration_period="0.01:00:00", expiration_action="Log"
        ),
    )


class WorkspaceDependencies(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        rg: str,
        tenant_id: str,
    ) -> None:
        super().__init__(scope, id_)
        public = not config.private
        self.storage_account = hardened_storage_account(
            self,
            "storage",
            name=names.storage_account,
            resource_group_name=rg,
            location=config.location,
            public=public,
            soft_delete_days=SOFT_DELETE_DAYS,
            replication=config.storage_replication,
        )
        # Workspace events (Event Grid) land here; created through ARM by account id, so it
        # needs no data-plane access, and it is private with the account.
        self.event_queue = azurerm.storage_queue.StorageQueue(
            self,
            "event-queue",
            name=names.event_queue,
            storage_account_id=self.storage_account.id,
        )

        self.key_vault = azurerm.key_vault.KeyVault(
            self,
            "key-vault",
            name=names.key_vault,
            resource_group_name=rg,
            location=config.location,
            tenant_id=tenant_id,
            sku_name="standard",
            rbac_authorization_enabled=True,
            purge_protection_enabled=config.production,
            soft_delete_retention_days=(
                PRODUCTION_VAULT_RETENTION_DAYS
                if config.production
                else RECREATABLE_VAULT_RETENTION_DAYS
            ),
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
            public_network_access_enabled=public,
            network_acls=azurerm.key_vault.KeyVaultNetworkAcls(
                default_action="Allow" if public else "Deny",
                bypass="AzureServices",
            ),
        )

        self.container_registry = azurerm.container_registry.ContainerRegistry(
            self,
            "registry",
            name=names.container_registry,
            resource_group_name=rg,
            location=config.location,
            # Premium: private link, retention policy, zone redundancy and data endpoints.
            sku="Premium",
            admin_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access_enabled=public,
            network_rule_bypass_option="AzureServices",
            retention_policy_in_days=UNTAGGED_MANIFEST_RETENTION_DAYS,
            # Docker Content Trust: Azure refuses to enable it on new registries since
            # 2026-05-31 and removes it on 2028-03-31 (ContentTrustUnsupported; aka.ms/acr/
            # dctdeprecation, `az acr config content-trust` docs, Azure/kars#515; read 2026-12).
            # Sign with Notary Project (notation) instead if signing is needed; checkov skip.
            trust_policy_enabled=False,
            data_endpoint_enabled=True,
            # Only where the region has availability zones (regions.py); elsewhere Azure
            # rejects the registry at apply time.
            zone_redundancy_enabled=config.zone_redundant,
            export_policy_enabled=public,
            # Quarantine would hold every image Azure ML builds until a scanner releases it,
            # which breaks environment builds; see the checkov skips file.
            quarantine_policy_enabled=False,
        )

    @property
    def event_queue_scope(self) -> str:
        """ARM scope of the event queue alone, for queue-level role assignments."""
        return f"{self.storage_account.id}/queueServices/default/queues/{self.event_queue.name}"
