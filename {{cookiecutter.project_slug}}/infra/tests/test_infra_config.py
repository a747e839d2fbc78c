"""Typed settings: cookiecutter strings become validated values, state comes from TF_STATE_*."""

from __future__ import annotations

import json

import pytest
from mlops_infra.config import (
    HUB_VARIABLES,
    STATE_VARIABLES,
    Hub,
    ProjectSettings,
    StateBackend,
    configs_from_environment,
    load_settings,
)
from pydantic import ValidationError


def _settings(**overrides: object) -> ProjectSettings:
    raw = json.loads(load_settings().model_dump_json())
    raw["environments"] = ",".join(raw["environments"])
    return ProjectSettings.model_validate({**raw, **overrides})


def test_settings_json_holds_the_answers_as_typed_values() -> None:
    settings = load_settings()
    assert settings.environments, "settings.json must list at least one environment"
    assert isinstance(settings.gpu_cluster.max_nodes, int)
    configs = settings.environment_configs()
    assert [c.environment for c in configs] == list(settings.environments)


def test_node_counts_arrive_as_strings_and_are_converted() -> None:
    settings = _settings(gpu_cluster={"vm_size": "Standard_NC6s_v3", "max_nodes": "4"})
    assert settings.gpu_cluster.max_nodes == 4


@pytest.mark.parametrize(
    "overrides",
    [
        {"resource_prefix": "9abc"},
        {"resource_prefix": "abcdefghi"},
        {"environments": "dev,Prod"},
        {"environments": "dev,dev"},
        {"environments": "a,b,c,d,e,f"},
        {"network_isolation": "hybrid"},
        {"cpu_cluster": {"vm_size": "Standard_D4s_v3", "max_nodes": "0"}},
        {"address_space": "10.0.0.0/16,10.0.0.0/17"},
        {"address_space": "10.0.0.1/16"},
        {"address_space": "8.8.0.0/16"},
        {"location": "westus", "storage_redundancy": "GZRS"},
        {"location": "italynorth", "storage_redundancy": "GRS"},
        {"location": "mars"},
        {"budget": {"monthly_amount": "0", "contact_emails": ["a@b.co"]}},
        {"budget": {"monthly_amount": "10", "contact_emails": ["not an address"]}},
        {"budget": {"monthly_amount": "10", "contact_emails": []}},
        {"production_environments": ["live"]},
        {"events": {"run_statuses": ["Exploded"]}},
    ],
    ids=str,
)
def test_invalid_settings_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _settings(**overrides)


def test_state_backend_is_local_without_variables() -> None:
    assert StateBackend.from_environment({}) is None


def test_state_backend_reads_all_three_variables() -> None:
    env = dict(zip(STATE_VARIABLES, ("rg-state", "ststate", "tfstate-proj"), strict=True))
    assert StateBackend.from_environment(env) == StateBackend(
        resource_group_name="rg-state",
        storage_account_name="ststate",
        container_name="tfstate-proj",
    )


def test_partial_state_variables_name_the_missing_ones() -> None:
    with pytest.raises(ValueError, match="TF_STATE_CONTAINER"):
        StateBackend.from_environment(
            {"TF_STATE_RESOURCE_GROUP": "rg", "TF_STATE_STORAGE_ACCOUNT": "st"}
        )


def test_the_last_environment_is_production_unless_configured() -> None:
    settings = _settings(environments="dev,test,prod")
    assert [c.production for c in settings.environment_configs()] == [False, False, True]
    configured = _settings(environments="dev,test,prod", production_environments=["test", "prod"])
    assert [c.production for c in configured.environment_configs()] == [False, True, True]


def test_each_environment_gets_its_slice_of_the_address_space() -> None:
    settings = _settings(environments="dev,test,prod", address_space="172.16.0.0/16")
    networks = [c.network for c in settings.environment_configs()]
    assert [n.vnet_address_space for n in networks] == [
        "172.16.0.0/20",
        "172.16.16.0/20",
        "172.16.32.0/20",
    ]
    assert networks[2].training_subnet == "172.16.32.0/22"
    assert networks[2].private_endpoint_subnet == "172.16.36.0/24"


def test_storage_redundancy_auto_follows_the_region() -> None:
    for location, expected in (("westeurope", "GZRS"), ("westus", "GRS"), ("italynorth", "ZRS")):
        (config, *_) = _settings(location=location).environment_configs()
        assert config.storage_replication == expected, location


HUB_VNET = (
    "/subscriptions/s/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
)


def test_the_hub_comes_from_the_bootstrap_variables_all_or_none() -> None:
    assert Hub.from_environment({}) is None
    hub = Hub.from_environment(
        {
            "HUB_VNET_ID": HUB_VNET,
            "HUB_DNS_ZONE_RESOURCE_GROUP_ID": "/subscriptions/s/resourceGroups/rg-dns",
        }
    )
    assert (hub.vnet_resource_group, hub.vnet_name, hub.dns_zone_resource_group) == (
        "rg-hub",
        "vnet-hub",
        "rg-dns",
    )
    assert hub.dns_zone_id("privatelink.blob.core.windows.net") == (
        "/subscriptions/s/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
        "privatelink.blob.core.windows.net"
    )
    with pytest.raises(ValueError, match=HUB_VARIABLES[1]):
        Hub.from_environment({"HUB_VNET_ID": HUB_VNET})
    with pytest.raises(ValidationError):
        Hub(vnet_id="/subscriptions/s/resourceGroups/rg-hub", dns_zone_resource_group_id="x")


def test_a_shared_private_environment_needs_the_hub() -> None:
    settings = _settings(network_isolation="private")
    state = {name: "x" for name in STATE_VARIABLES}
    hub = {
        "HUB_VNET_ID": HUB_VNET,
        "HUB_DNS_ZONE_RESOURCE_GROUP_ID": "/subscriptions/s/resourceGroups/rg-dns",
    }
    with pytest.raises(ValueError, match="HUB_VNET_ID"):
        configs_from_environment(settings, state)
    configs = configs_from_environment(settings, {**state, **hub})
    assert {config.hub.vnet_name for config in configs} == {"vnet-hub"}
    # A local sandbox and a public environment do not need it.
    assert configs_from_environment(settings, {})[0].hub is None
    public = _settings(network_isolation="public", environments="dev,test")
    assert configs_from_environment(public, state)[0].hub is None
