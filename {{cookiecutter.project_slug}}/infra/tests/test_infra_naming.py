"""Names fit Azure's rules at the extremes the pre-gen hook allows, and are stable."""

from __future__ import annotations

import inspect

import pytest
from mlops_infra.naming import RULES, Names, short_hash, violations

EXTREMES = [
    Names("abc", "a1", "d", "westeurope"),
    Names("a" * 40, "abcdefgh", "abcdefg", "southeastasia"),
    Names("a-b-c-d", "z9999999", "prod", "eastus2"),
]


def _all_names(names: Names) -> dict[str, str]:
    """Every name the Names class produces, keyed by its attribute."""
    produced = {}
    for attr, member in inspect.getmembers(type(names)):
        if isinstance(member, property):
            produced[attr] = getattr(names, attr)
    for target in ("workspace", "blob", "file", "vault", "registry"):
        produced[f"private_endpoint[{target}]"] = names.private_endpoint(target)
    for subnet in ("training", "private-endpoints"):
        produced[f"nsg[{subnet}]"] = names.network_security_group(subnet)
    produced["dns_zone_link"] = names.dns_zone_link("workspace-notebooks")
    produced["diagnostic_setting"] = names.diagnostic_setting("key-vault")
    return produced


@pytest.mark.parametrize("names", EXTREMES, ids=lambda n: f"{n.prefix}-{n.environment}")
def test_every_name_is_valid_at_the_extremes(names: Names) -> None:
    # Names._checked raises on any violation, so producing them is the assertion; the count
    # guards against the helper silently producing nothing.
    produced = _all_names(names)
    assert len(produced) >= 20


def test_globally_unique_names_differ_between_projects_with_the_same_prefix() -> None:
    team_a = Names("churn-a", "ml", "dev", "westeurope")
    team_b = Names("churn-b", "ml", "dev", "westeurope")
    for attr in ("storage_account", "key_vault", "container_registry", "workspace"):
        assert getattr(team_a, attr) != getattr(team_b, attr), attr


def test_hash_is_pinned() -> None:
    # Changing the hash renames (replaces) every globally unique resource of deployed projects.
    assert short_hash("customer-churn", "custom", "dev", "westeurope") == "d06785"
    assert (
        Names("customer-churn", "custom", "dev", "westeurope").storage_account
        == "stcustomdevd06785"
    )


@pytest.mark.parametrize(
    ("resource_type", "name"),
    [
        ("azurerm_storage_account", "st-has-hyphens"),
        ("azurerm_storage_account", "s" * 25),
        ("azurerm_key_vault", "kv--double"),
        ("azurerm_key_vault", "1startsdigit"),
        ("azurerm_container_registry", "cr1"),
        ("azurerm_machine_learning_workspace", "w" * 34),
        ("azurerm_machine_learning_compute_cluster", "cluster-name-too-long"),
        ("azurerm_resource_group", "ends.with.period."),
    ],
)
def test_rules_reject_invalid_names(resource_type: str, name: str) -> None:
    assert violations(resource_type, name)


def test_every_rule_accepts_a_typical_name() -> None:
    typical = {
        "azurerm_storage_account": "stmldev0a1b2c",
        "azurerm_container_registry": "crmldev0a1b2c",
        "azurerm_machine_learning_compute_cluster": "gpu-cluster",
    }
    for resource_type, rule in RULES.items():
        name = typical.get(resource_type, "name-ok-1")
        assert not rule.violations(name), (resource_type, name)
