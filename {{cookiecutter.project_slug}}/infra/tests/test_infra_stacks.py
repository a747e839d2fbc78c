"""Every security property the infrastructure promises, asserted on the synthesized JSON."""

from __future__ import annotations

import re

import pytest
from mlops_infra.naming import PRIVATE_DNS_ZONES, RULES

from .synthesis import Synthesis, SynthesizedStack, tf_ref

pytestmark = pytest.mark.slow

ISOLATIONS = ("private", "public")
REQUIRED_OUTPUTS = {
    "resource_group_name",
    "location",
    "workspace_name",
    "gpu_cluster_name",
    "cpu_cluster_name",
    "container_registry_name",
    "storage_account_name",
    "key_vault_name",
    "application_insights_name",
}
# Resource types whose `name` is fixed by Azure or absent, so the naming rules do not apply.
UNNAMED_OR_FIXED = {
    "azurerm_private_dns_zone",  # must be exactly the privatelink zone name
    "azurerm_role_assignment",
    "azurerm_subnet_network_security_group_association",
    "azurerm_subnet_nat_gateway_association",
    "azurerm_nat_gateway_public_ip_association",
}


def _stacks(synthesis: Synthesis, isolation: str) -> list[SynthesizedStack]:
    stacks = synthesis.by_isolation(isolation)
    assert [s.config.environment for s in stacks] == list(synthesis.settings.environments)
    return stacks


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_one_stack_per_environment_with_the_pipeline_outputs(
    synthesis: Synthesis, isolation: str
) -> None:
    for stack in _stacks(synthesis, isolation):
        assert set(stack.tf["output"]) >= REQUIRED_OUTPUTS
        assert stack.tf["output"]["network_isolation"]["value"] == isolation
        assert stack.tf["output"]["workspace_name"]["value"] == stack.ref(
            "azurerm_machine_learning_workspace", "name"
        )


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_storage_is_azure_ad_only_and_recoverable(synthesis: Synthesis, isolation: str) -> None:
    private = isolation == "private"
    for stack in _stacks(synthesis, isolation):
        assert synthesis.testing.to_have_resource_with_properties(
            stack.text,
            "azurerm_storage_account",
            {
                "shared_access_key_enabled": False,
                "allow_nested_items_to_be_public": False,
                "public_network_access_enabled": not private,
                "min_tls_version": "TLS1_2",
                "https_traffic_only_enabled": True,
                "local_user_enabled": False,
                "network_rules": {"default_action": "Deny" if private else "Allow"},
                "blob_properties": {
                    "versioning_enabled": True,
                    "delete_retention_policy": {"days": 14},
                    "container_delete_retention_policy": {"days": 14},
                },
            },
        )


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_key_vault_uses_rbac_and_cannot_be_purged(synthesis: Synthesis, isolation: str) -> None:
    private = isolation == "private"
    for stack in _stacks(synthesis, isolation):
        vault = stack.only("azurerm_key_vault")
        assert vault["rbac_authorization_enabled"] is True
        assert "access_policy" not in vault
        assert vault["purge_protection_enabled"] is True
        assert vault["soft_delete_retention_days"] >= 7
        assert vault["public_network_access_enabled"] is (not private)
        assert vault["network_acls"]["default_action"] == ("Deny" if private else "Allow")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_registry_is_premium_without_admin_user(synthesis: Synthesis, isolation: str) -> None:
    for stack in _stacks(synthesis, isolation):
        assert synthesis.testing.to_have_resource_with_properties(
            stack.text,
            "azurerm_container_registry",
            {
                "sku": "Premium",
                "admin_enabled": False,
                "anonymous_pull_enabled": False,
                "public_network_access_enabled": isolation == "public",
                "retention_policy_in_days": 7,
            },
        )


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_application_insights_is_workspace_based(synthesis: Synthesis, isolation: str) -> None:
    for stack in _stacks(synthesis, isolation):
        insights = stack.only("azurerm_application_insights")
        assert insights["workspace_id"] == stack.ref("azurerm_log_analytics_workspace")
        assert (
            stack.only("azurerm_log_analytics_workspace")["local_authentication_enabled"] is False
        )


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_workspace_is_wired_private_and_identity_based(
    synthesis: Synthesis, isolation: str
) -> None:
    for stack in _stacks(synthesis, isolation):
        workspace = stack.only("azurerm_machine_learning_workspace")
        assert workspace["public_network_access_enabled"] is (isolation == "public")
        assert workspace["identity"]["type"] == "SystemAssigned"
        assert workspace["high_business_impact"] is synthesis.settings.high_business_impact
        assert workspace["v1_legacy_mode_enabled"] is False
        assert workspace["storage_account_id"] == stack.ref("azurerm_storage_account")
        assert workspace["key_vault_id"] == stack.ref("azurerm_key_vault")
        assert workspace["container_registry_id"] == stack.ref("azurerm_container_registry")
        assert workspace["application_insights_id"] == stack.ref("azurerm_application_insights")
        # Identity-based datastore access: the workspace identity holds data roles on storage.
        principal = stack.ref("azurerm_machine_learning_workspace", "identity[0].principal_id")
        data_roles = {
            a["role_definition_name"]
            for a in stack.resources("azurerm_role_assignment").values()
            if a["principal_id"] == principal
        }
        assert data_roles == {
            "Storage Blob Data Contributor",
            "Storage File Data Privileged Contributor",
        }


def test_high_business_impact_is_an_option(synthesis: Synthesis) -> None:
    from mlops_infra.stack import EnvironmentStack

    config = synthesis.stacks["private/" + synthesis.settings.environments[0]].config
    flipped = config.model_copy(update={"high_business_impact": not config.high_business_impact})
    app = synthesis.testing.app()
    text = synthesis.testing.synth(EnvironmentStack(app, flipped))
    assert synthesis.testing.to_have_resource_with_properties(
        text,
        "azurerm_machine_learning_workspace",
        {"high_business_impact": flipped.high_business_impact},
    )


def test_private_endpoints_cover_workspace_blob_file_vault_registry(synthesis: Synthesis) -> None:
    expected = {
        "amlworkspace": (
            "azurerm_machine_learning_workspace",
            {"workspace-api", "workspace-notebooks"},
        ),
        "blob": ("azurerm_storage_account", {"blob"}),
        "file": ("azurerm_storage_account", {"file"}),
        "vault": ("azurerm_key_vault", {"vault"}),
        "registry": ("azurerm_container_registry", {"registry"}),
    }
    for stack in _stacks(synthesis, "private"):
        zone_ref = {
            tf_ref("azurerm_private_dns_zone", logical_id): zone["name"]
            for logical_id, zone in stack.resources("azurerm_private_dns_zone").items()
        }
        endpoints = stack.resources("azurerm_private_endpoint").values()
        found = {}
        for endpoint in endpoints:
            (subresource,) = endpoint["private_service_connection"]["subresource_names"]
            zones = {
                zone_ref[z] for z in endpoint["private_dns_zone_group"]["private_dns_zone_ids"]
            }
            found[subresource] = (endpoint["private_service_connection"], zones, endpoint)
        assert set(found) == set(expected)
        for subresource, (target_type, zone_keys) in expected.items():
            connection, zones, endpoint = found[subresource]
            assert connection["private_connection_resource_id"] == stack.ref(target_type)
            assert connection["is_manual_connection"] is False
            assert zones == {PRIVATE_DNS_ZONES[key] for key in zone_keys}
            pe_subnet = [
                tf_ref("azurerm_subnet", logical_id)
                for logical_id, s in stack.resources("azurerm_subnet").items()
                if s["name"] == "snet-private-endpoints"
            ]
            assert [endpoint["subnet_id"]] == pe_subnet


def test_private_dns_zones_are_linked_to_the_vnet(synthesis: Synthesis) -> None:
    for stack in _stacks(synthesis, "private"):
        zones = stack.resources("azurerm_private_dns_zone")
        assert {z["name"] for z in zones.values()} == set(PRIVATE_DNS_ZONES.values())
        links = stack.resources("azurerm_private_dns_zone_virtual_network_link").values()
        linked = {link["private_dns_zone_name"] for link in links}
        assert linked == {tf_ref("azurerm_private_dns_zone", z, "name") for z in zones}
        assert {link["virtual_network_id"] for link in links} == {
            stack.ref("azurerm_virtual_network")
        }


def test_public_sandbox_has_no_private_endpoints_or_zones(synthesis: Synthesis) -> None:
    for stack in _stacks(synthesis, "public"):
        assert not stack.resources("azurerm_private_endpoint")
        assert not stack.resources("azurerm_private_dns_zone")
        assert not stack.resources("azurerm_nat_gateway")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_every_subnet_has_an_nsg(synthesis: Synthesis, isolation: str) -> None:
    for stack in _stacks(synthesis, isolation):
        subnets = {tf_ref("azurerm_subnet", s) for s in stack.resources("azurerm_subnet")}
        associations = stack.resources("azurerm_subnet_network_security_group_association")
        assert {a["subnet_id"] for a in associations.values()} == subnets
        expected_subnets = 2 if isolation == "private" else 1
        assert len(subnets) == expected_subnets


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_training_nsg_carries_the_azure_ml_compute_rules(
    synthesis: Synthesis, isolation: str
) -> None:
    for stack in _stacks(synthesis, isolation):
        (training_nsg,) = [
            nsg
            for nsg in stack.resources("azurerm_network_security_group").values()
            if nsg["name"].endswith("-training")
        ]
        allowed = {
            (r["destination_address_prefix"], r["protocol"], port)
            for r in training_nsg["security_rule"]
            if r["direction"] == "Outbound" and r["access"] == "Allow"
            for port in r["destination_port_ranges"]
        }
        location = stack.config.location
        for required in (
            ("AzureActiveDirectory", "Tcp", "443"),
            ("AzureMachineLearning", "Tcp", "443"),
            ("AzureMachineLearning", "Tcp", "18881"),
            ("AzureMachineLearning", "Udp", "5831"),
            (f"BatchNodeManagement.{location}", "Tcp", "443"),
            ("AzureResourceManager", "Tcp", "443"),
            (f"Storage.{location}", "Tcp", "443"),
            (f"MicrosoftContainerRegistry.{location}", "Tcp", "443"),
            ("AzureFrontDoor.FirstParty", "Tcp", "443"),
            ("AzureMonitor", "Tcp", "443"),
        ):
            assert required in allowed, required
        # Clusters have no public IP: nothing may come in from the internet.
        assert not [r for r in training_nsg["security_rule"] if r["direction"] == "Inbound"]
        priorities = [r["priority"] for r in training_nsg["security_rule"]]
        assert len(priorities) == len(set(priorities))


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_clusters_scale_to_zero_without_public_ip_or_local_auth(
    synthesis: Synthesis, isolation: str
) -> None:
    settings = synthesis.settings
    for stack in _stacks(synthesis, isolation):
        clusters = {
            c["name"]: c
            for c in stack.resources("azurerm_machine_learning_compute_cluster").values()
        }
        assert set(clusters) == {"gpu-cluster", "cpu-cluster"}
        training_subnet = [
            tf_ref("azurerm_subnet", logical_id)
            for logical_id, s in stack.resources("azurerm_subnet").items()
            if s["name"] == "snet-training"
        ]
        for name, expected in (
            ("gpu-cluster", settings.gpu_cluster),
            ("cpu-cluster", settings.cpu_cluster),
        ):
            cluster = clusters[name]
            assert cluster["vm_size"] == expected.vm_size
            assert cluster["scale_settings"] == {
                "min_node_count": 0,
                "max_node_count": expected.max_nodes,
                "scale_down_nodes_after_idle_duration": expected.scale_down_after,
            }
            assert cluster["node_public_ip_enabled"] is False
            assert cluster["local_auth_enabled"] is False
            assert cluster["ssh_public_access_enabled"] is False
            assert [cluster["subnet_resource_id"]] == training_subnet
            assert cluster["identity"] == {
                "type": "UserAssigned",
                "identity_ids": [stack.ref("azurerm_user_assigned_identity")],
            }


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_compute_identity_has_least_privilege_roles(synthesis: Synthesis, isolation: str) -> None:
    for stack in _stacks(synthesis, isolation):
        principal = stack.ref("azurerm_user_assigned_identity", "principal_id")
        granted = {
            (a["role_definition_name"], a["scope"])
            for a in stack.resources("azurerm_role_assignment").values()
            if a["principal_id"] == principal
        }
        assert granted == {
            ("AcrPull", stack.ref("azurerm_container_registry")),
            ("Storage Blob Data Contributor", stack.ref("azurerm_storage_account")),
            ("Key Vault Secrets User", stack.ref("azurerm_key_vault")),
        }


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_no_role_is_assigned_above_resource_scope(synthesis: Synthesis, isolation: str) -> None:
    resource_scope = re.compile(r"^\$\{azurerm_[a-z_]+\.[\w-]+\.id\}$")
    for stack in _stacks(synthesis, isolation):
        assignments = stack.resources("azurerm_role_assignment").values()
        assert assignments
        for assignment in assignments:
            assert resource_scope.match(assignment["scope"]), assignment["scope"]
            assert not assignment["scope"].startswith("${azurerm_resource_group")
            assert assignment["role_definition_name"] not in {
                "Owner",
                "Contributor",
                "User Access Administrator",
            }


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_every_resource_name_follows_azure_rules(synthesis: Synthesis, isolation: str) -> None:
    for stack in _stacks(synthesis, isolation):
        for resource_type, resources in stack.tf["resource"].items():
            if resource_type in UNNAMED_OR_FIXED:
                continue
            assert resource_type in RULES, f"add a naming rule for {resource_type}"
            for body in resources.values():
                assert not RULES[resource_type].violations(body["name"]), body["name"]


def test_provider_uses_azure_ad_for_storage_and_registers_nothing(synthesis: Synthesis) -> None:
    for stack in synthesis.stacks.values():
        (provider,) = stack.tf["provider"]["azurerm"]
        assert provider["storage_use_azuread"] is True
        assert provider["resource_provider_registrations"] == "none"
        assert "client_secret" not in provider


def test_state_is_local_for_a_sandbox_and_remote_with_oidc(synthesis: Synthesis) -> None:
    for stack in synthesis.by_isolation("private"):
        assert stack.tf["terraform"]["backend"] == {
            "local": {"path": f"../../../terraform.{stack.config.environment}.tfstate"}
        }
    remote = synthesis.stacks["variant/remote"].tf["terraform"]["backend"]
    assert remote == {
        "azurerm": {
            "resource_group_name": "rg-tfstate",
            "storage_account_name": "sttfstate",
            "container_name": "proj",
            "key": "remote.tfstate",
            "use_oidc": True,
            "use_azuread_auth": True,
        }
    }


def test_resource_group_is_referenced_unless_the_sandbox_creates_it(synthesis: Synthesis) -> None:
    env = synthesis.settings.environments[0]
    referenced = synthesis.stacks[f"private/{env}"].tf
    assert referenced["data"]["azurerm_resource_group"]["resource-group"]["name"] == (
        f"rg-{synthesis.settings.project_slug}-{env}"
    )
    assert "azurerm_resource_group" not in referenced["resource"]
    sandbox = synthesis.stacks["variant/sandbox"]
    assert sandbox.only("azurerm_resource_group")["name"] == (
        f"rg-{synthesis.settings.project_slug}-sandbox"
    )
