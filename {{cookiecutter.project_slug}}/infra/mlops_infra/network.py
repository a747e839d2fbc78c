"""VNet, subnets, NSGs, NAT egress and private DNS zones for one environment."""

from __future__ import annotations

from dataclasses import dataclass

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .naming import PRIVATE_DNS_ZONES, Names


@dataclass(frozen=True)
class _Outbound:
    name: str
    service_tag: str
    protocol: str
    ports: tuple[str, ...]


def compute_outbound_rules(location: str) -> list[_Outbound]:
    """Outbound traffic Azure ML compute without a public IP needs (Microsoft's documented list).

    Written out explicitly so that the training subnet keeps working if a later change (or a
    hub firewall policy) denies general internet egress.
    """
    return [
        _Outbound("aad", "AzureActiveDirectory", "Tcp", ("80", "443")),
        _Outbound("aml", "AzureMachineLearning", "Tcp", ("443", "8787", "18881")),
        _Outbound("aml-udp", "AzureMachineLearning", "Udp", ("5831",)),
        _Outbound("batch", f"BatchNodeManagement.{location}", "Tcp", ("443",)),
        _Outbound("arm", "AzureResourceManager", "Tcp", ("443",)),
        _Outbound("storage", f"Storage.{location}", "Tcp", ("443", "445")),
        _Outbound("frontdoor", "AzureFrontDoor.FrontEnd", "Tcp", ("443",)),
        _Outbound("frontdoor-fp", "AzureFrontDoor.FirstParty", "Tcp", ("443",)),
        _Outbound("mcr", f"MicrosoftContainerRegistry.{location}", "Tcp", ("443",)),
        _Outbound("acr", f"AzureContainerRegistry.{location}", "Tcp", ("443",)),
        _Outbound("monitor", "AzureMonitor", "Tcp", ("443",)),
        _Outbound("keyvault", f"AzureKeyVault.{location}", "Tcp", ("443",)),
    ]


class Network(Construct):
    """Training subnet (compute clusters) and, when private, a private-endpoint subnet.

    Every subnet gets its own NSG. Private mode egresses through a NAT gateway (Azure retires
    default outbound access for new subnets); public mode keeps the free default outbound access.
    """

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, names: Names, rg: str
    ) -> None:
        super().__init__(scope, id_)
        location = config.location
        self.vnet = azurerm.virtual_network.VirtualNetwork(
            self,
            "vnet",
            name=names.virtual_network,
            resource_group_name=rg,
            location=location,
            address_space=[config.network.vnet_address_space],
        )

        self.training_subnet = azurerm.subnet.Subnet(
            self,
            "training",
            name=names.training_subnet,
            resource_group_name=rg,
            virtual_network_name=self.vnet.name,
            address_prefixes=[config.network.training_subnet],
            default_outbound_access_enabled=not config.private,
        )
        training_nsg = azurerm.network_security_group.NetworkSecurityGroup(
            self,
            "training-nsg",
            name=names.network_security_group("training"),
            resource_group_name=rg,
            location=location,
            security_rule=[
                azurerm.network_security_group.NetworkSecurityGroupSecurityRule(
                    name=f"allow-out-{rule.name}",
                    description=f"Azure ML compute needs {rule.service_tag}",
                    priority=100 + index * 10,
                    direction="Outbound",
                    access="Allow",
                    protocol=rule.protocol,
                    source_address_prefix="VirtualNetwork",
                    source_port_range="*",
                    destination_address_prefix=rule.service_tag,
                    destination_port_ranges=list(rule.ports),
                )
                for index, rule in enumerate(compute_outbound_rules(location))
            ],
        )
        azurerm.subnet_network_security_group_association.SubnetNetworkSecurityGroupAssociation(
            self,
            "training-nsg-association",
            subnet_id=self.training_subnet.id,
            network_security_group_id=training_nsg.id,
        )

        self.private_endpoint_subnet: azurerm.subnet.Subnet | None = None
        self.dns_zone_ids: dict[str, str] = {}
        if config.private:
            self._nat_gateway(config, names, rg)
            self._private_endpoint_subnet(config, names, rg)
            if config.hub is None:
                self._private_dns_zones(names, rg)
            else:
                self._join_hub(config, names)

    def _nat_gateway(self, config: EnvironmentConfig, names: Names, rg: str) -> None:
        public_ip = azurerm.public_ip.PublicIp(
            self,
            "nat-ip",
            name=names.nat_public_ip,
            resource_group_name=rg,
            location=config.location,
            allocation_method="Static",
            sku="Standard",
        )
        nat = azurerm.nat_gateway.NatGateway(
            self,
            "nat",
            name=names.nat_gateway,
            resource_group_name=rg,
            location=config.location,
            sku_name="Standard",
            idle_timeout_in_minutes=10,
        )
        azurerm.nat_gateway_public_ip_association.NatGatewayPublicIpAssociation(
            self, "nat-ip-association", nat_gateway_id=nat.id, public_ip_address_id=public_ip.id
        )
        azurerm.subnet_nat_gateway_association.SubnetNatGatewayAssociation(
            self, "training-nat", subnet_id=self.training_subnet.id, nat_gateway_id=nat.id
        )

    def _private_endpoint_subnet(self, config: EnvironmentConfig, names: Names, rg: str) -> None:
        self.private_endpoint_subnet = azurerm.subnet.Subnet(
            self,
            "private-endpoints",
            name=names.private_endpoint_subnet,
            resource_group_name=rg,
            virtual_network_name=self.vnet.name,
            address_prefixes=[config.network.private_endpoint_subnet],
            default_outbound_access_enabled=False,
            # Lets the NSG below apply to the private endpoints themselves.
            private_endpoint_network_policies="Enabled",
        )
        nsg = azurerm.network_security_group.NetworkSecurityGroup(
            self,
            "private-endpoints-nsg",
            name=names.network_security_group("private-endpoints"),
            resource_group_name=rg,
            location=config.location,
            security_rule=[
                azurerm.network_security_group.NetworkSecurityGroupSecurityRule(
                    name="allow-in-vnet-https",
                    description="Clients in the VNet reach the private endpoints over TLS",
                    priority=100,
                    direction="Inbound",
                    access="Allow",
                    protocol="Tcp",
                    source_address_prefix="VirtualNetwork",
                    source_port_range="*",
                    destination_address_prefix="VirtualNetwork",
                    destination_port_ranges=["443", "445"],
                ),
                azurerm.network_security_group.NetworkSecurityGroupSecurityRule(
                    name="deny-in-other",
                    description="Nothing else reaches the private endpoints",
                    priority=4000,
                    direction="Inbound",
                    access="Deny",
                    protocol="*",
                    source_address_prefix="*",
                    source_port_range="*",
                    destination_address_prefix="*",
                    destination_port_range="*",
                ),
            ],
        )
        azurerm.subnet_network_security_group_association.SubnetNetworkSecurityGroupAssociation(
            self,
            "private-endpoints-nsg-association",
            subnet_id=self.private_endpoint_subnet.id,
            network_security_group_id=nsg.id,
        )

    def _join_hub(self, config: EnvironmentConfig, names: Names) -> None:
        """Peer with the hub (both directions) and use its shared privatelink zones, linked to
        this VNet too: the hub's runner resolves and reaches this environment's private
        endpoints, and so do this environment's clusters. The deployment identity holds the
        bootstrap's hub role for exactly these calls (peer, join, link)."""
        hub = config.hub
        assert hub is not None
        peering = azurerm.virtual_network_peering
        peering.VirtualNetworkPeering(
            self,
            "peer-to-hub",
            name=names.hub_peering("to-hub"),
            resource_group_name=self.vnet.resource_group_name,
            virtual_network_name=self.vnet.name,
            remote_virtual_network_id=hub.vnet_id,
            allow_virtual_network_access=True,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
            use_remote_gateways=False,
        )
        peering.VirtualNetworkPeering(
            self,
            "peer-from-hub",
            name=names.hub_peering("from-hub"),
            resource_group_name=hub.vnet_resource_group,
            virtual_network_name=hub.vnet_name,
            remote_virtual_network_id=self.vnet.id,
            allow_virtual_network_access=True,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
            use_remote_gateways=False,
        )
        for key, zone_name in PRIVATE_DNS_ZONES.items():
            azurerm.private_dns_zone_virtual_network_link.PrivateDnsZoneVirtualNetworkLink(
                self,
                f"zone-link-{key}",
                name=names.hub_dns_zone_link(key),
                resource_group_name=hub.dns_zone_resource_group,
                private_dns_zone_name=zone_name,
                virtual_network_id=self.vnet.id,
                registration_enabled=False,
            )
            self.dns_zone_ids[key] = hub.dns_zone_id(zone_name)

    def _private_dns_zones(self, names: Names, rg: str) -> None:
        for key, zone_name in PRIVATE_DNS_ZONES.items():
            zone = azurerm.private_dns_zone.PrivateDnsZone(
                self, f"zone-{key}", name=zone_name, resource_group_name=rg
            )
            azurerm.private_dns_zone_virtual_network_link.PrivateDnsZoneVirtualNetworkLink(
                self,
                f"zone-link-{key}",
                name=names.dns_zone_link(key),
                resource_group_name=rg,
                private_dns_zone_name=zone.name,
                virtual_network_id=self.vnet.id,
                registration_enabled=False,
            )
            self.dns_zone_ids[key] = zone.id
