"""Private endpoints (private mode only): workspace, blob, file, queue, vault and registry."""

from __future__ import annotations

from dataclasses import dataclass

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .naming import Names
from .network import Network
from .workspace import Workspace


@dataclass(frozen=True)
class _Target:
    key: str
    resource_id: str
    subresource: str
    dns_zones: tuple[str, ...]


class PrivateEndpoints(Construct):
    """Each endpoint registers its A records in the matching private DNS zone."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        rg: str,
        network: Network,
        dependencies: WorkspaceDependencies,
        workspace: Workspace,
    ) -> None:
        super().__init__(scope, id_)
        if network.private_endpoint_subnet is None:
            raise ValueError("private endpoints need the network's private-endpoint subnet")
        storage_id = dependencies.storage_account.id
        targets = (
            _Target(
                "workspace",
                workspace.workspace.id,
                "amlworkspace",
                ("workspace-api", "workspace-notebooks"),
            ),
            _Target("blob", storage_id, "blob", ("blob",)),
            _Target("file", storage_id, "file", ("file",)),
            # Event consumers inside the VNet read the workspace-events queue.
            _Target("queue", storage_id, "queue", ("queue",)),
            _Target("vault", dependencies.key_vault.id, "vault", ("vault",)),
            _Target("registry", dependencies.container_registry.id, "registry", ("registry",)),
        )
        pe = azurerm.private_endpoint
        self.endpoints = {
            target.key: pe.PrivateEndpoint(
                self,
                target.key,
                name=names.private_endpoint(target.key),
                resource_group_name=rg,
                location=config.location,
                subnet_id=network.private_endpoint_subnet.id,
                private_service_connection=pe.PrivateEndpointPrivateServiceConnection(
                    name=names.private_endpoint(target.key),
                    private_connection_resource_id=target.resource_id,
                    subresource_names=[target.subresource],
                    is_manual_connection=False,
                ),
                private_dns_zone_group=pe.PrivateEndpointPrivateDnsZoneGroup(
                    name="default",
                    private_dns_zone_ids=[network.dns_zone_ids[zone] for zone in target.dns_zones],
                ),
            )
            for target in targets
        }
