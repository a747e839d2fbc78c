"""One private, non-overlapping VNet range per environment, so every environment can be peered
to the same hub network.

Standard library only: the template's pre-generation hook loads this file to reject a bad
`address_space` answer before anything is generated, and config.py applies it to settings.json.

`address_space` is either ONE range that is split into a /20 per environment, in promotion
order (default `10.100.0.0/16`: dev 10.100.0.0/20, prod 10.100.16.0/20), or exactly one range
per environment, comma-separated, each /12 to /21. Inside each environment's range the first /22
is the training subnet and the /24 after it the private-endpoint subnet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DERIVED_PREFIX = 20
SMALLEST_VNET_PREFIX = 21  # room for the /22 training subnet and the /24 endpoint subnet
LARGEST_VNET_PREFIX = 12
TRAINING_PREFIX = 22
PRIVATE_ENDPOINT_PREFIX = 24
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


class AddressPlanError(ValueError):
    """The reason an address space answer cannot be used (without the option name)."""


@dataclass(frozen=True)
class VnetPlan:
    vnet_address_space: str
    training_subnet: str
    private_endpoint_subnet: str


def _network(text: str) -> ipaddress.IPv4Network:
    if "/" not in text:
        raise AddressPlanError(f"{text!r} needs a prefix length, such as '10.100.0.0/16'")
    try:
        network = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise AddressPlanError(f"{text!r} is not an IPv4 range such as '10.100.0.0/16'") from None
    if str(network) != text:
        raise AddressPlanError(f"{text!r} has host bits set; the range starts at {network}")
    if not any(network.subnet_of(private) for private in PRIVATE_RANGES):
        raise AddressPlanError(
            f"{text} is not inside a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
        )
    return network


def _subnets(vnet: ipaddress.IPv4Network) -> VnetPlan:
    training = next(vnet.subnets(new_prefix=TRAINING_PREFIX))
    # The first /24 after the training subnet.
    endpoints = ipaddress.IPv4Network(
        (int(training.broadcast_address) + 1, PRIVATE_ENDPOINT_PREFIX)
    )
    return VnetPlan(str(vnet), str(training), str(endpoints))


def plan(address_space: str, environments: list[str] | tuple[str, ...]) -> dict[str, VnetPlan]:
    """Environment -> its VNet and subnets; AddressPlanError says what is wrong and how to fix."""
    parts = [part.strip() for part in str(address_space).split(",")]
    networks = [_network(part) for part in parts]
    count = len(environments)
    if len(networks) == 1:
        (base,) = networks
        if base.prefixlen > DERIVED_PREFIX or 2 ** (DERIVED_PREFIX - base.prefixlen) < count:
            raise AddressPlanError(
                f"{base} cannot hold a /{DERIVED_PREFIX} for each of {count} environment(s); "
                f"use a larger range such as 10.100.0.0/16"
            )
        blocks = base.subnets(new_prefix=DERIVED_PREFIX)
        return {env: _subnets(next(blocks)) for env in environments}
    if len(networks) != count:
        raise AddressPlanError(
            f"give one range to split, or exactly one range per environment ({count}), "
            f"not {len(networks)}"
        )
    for network in networks:
        if not LARGEST_VNET_PREFIX <= network.prefixlen <= SMALLEST_VNET_PREFIX:
            raise AddressPlanError(
                f"{network} must be /{LARGEST_VNET_PREFIX} to /{SMALLEST_VNET_PREFIX} to hold the "
                "training and private-endpoint subnets"
            )
    for index, network in enumerate(networks):
        for other_env, other in zip(environments[index + 1 :], networks[index + 1 :], strict=True):
            if network.overlaps(other):
                raise AddressPlanError(
                    f"{environments[index]} ({network}) overlaps {other_env} ({other}); "
                    "environments peered to one hub need distinct ranges"
                )
    return {env: _subnets(network) for env, network in zip(environments, networks, strict=True)}


def overlapping(plans: dict[str, VnetPlan]) -> list[tuple[str, str]]:
    """Pairs of environments whose VNets overlap (the stacks' own check of a finished plan)."""
    items = [(env, ipaddress.IPv4Network(p.vnet_address_space)) for env, p in plans.items()]
    return [
        (env, other_env)
        for index, (env, network) in enumerate(items)
        for other_env, other in items[index + 1 :]
        if network.overlaps(other)
    ]
