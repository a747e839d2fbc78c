"""Every security property the infrastructure promises, asserted on the synthesized JSON."""

from __future__ import annotations

import ipaddress
import re

import pytest
from mlops_infra import address_plan
from mlops_infra.naming import PRIVATE_DNS_ZONES, RULES
from mlops_infra.roles import (
    COMPUTE_ROLES,
    DEPLOYER_ASSIGNABLE,
    QUEUE_CONSUMER_ROLE,
    QUEUE_SENDER_ROLE,
    TELEMETRY_PUBLISHER_ROLE,
    WORKSPACE_ROLES,
)

from .synthesis import Synthesis, SynthesizedStack, tf_ref

pytestmark = pytest.mark.slow

ISOLATIONS = ("private", "public")
# What training, deployment and CI read (docs/infrastructure.md, "Outputs", lists the same).
REQUIRED_OUTPUTS = {
    "subscription_id",
    "resource_group_name",
    "location",
    "environment",
    "production",
    "network_isolation",
    "project_slug",
    "resource_prefix",
    "workspace_name",
    "workspace_id",
    "workspace_identity_client_id",
    "gpu_cluster_name",
    "cpu_cluster_name",
    "compute_identity_id",
    "compute_identity_client_id",
    "container_registry_name",
    "container_registry_login_server",
    "storage_account_name",
    "storage_replication",
    "zone_redundant",
    "key_vault_name",
    "application_insights_name",
    "log_analytics_workspace_id",
    "event_queue_name",
    "event_queue_storage_account_name",
    "event_grid_system_topic_name",
    "budget_name",
    "vnet_address_space",
    "training_subnet_id",
}
EVENT_TYPES = {
    "model-registered": "Microsoft.MachineLearningServices.ModelRegistered",
    "run-status-changed": "Microsoft.MachineLearningServices.RunStatusChanged",
    "data-drift-detected": "Microsoft.MachineLearningServices.DatasetDriftDetected",
}
# Resource types whose `name` is fixed by Azure or absent, so the naming rules do not apply.
UNNAMED_OR_FIXED = {
    "azurerm_private_dns_zone",  # must be exactly the privatelink zone name
    "azurerm_role_assignment",
    "azurerm_subnet_network_security_group_association",
    "azurerm_subnet_nat_gateway_association",
    "azurerm_nat_gateway_public_ip_association",
}


def _queue_scope(stack: SynthesizedStack) -> str:
    return (
        stack.ref("azurerm_storage_account")
        + "/queueServices/default/queues/"
        + stack.ref("azurerm_storage_queue", "name")
    )


def _stacks(synthesis: Synthesis, isolation: str) -> list[SynthesizedStack]:
    stacks = synthesis.by_isolation(isolation)
    assert [s.config.environment for s in stacks] == list(synthesis.settings.environments)
    return stacks


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_one_stack_per_environment_with_the_pipeline_outputs(
    synthesis: Synthesis, isolation: str
) -> None:
    for stack in _stacks(synthesis, isolation):
        assert set(stack.tf["output"]) == REQUIRED_OUTPUTS
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
def test_key_vault_uses_rbac_and_only_production_cannot_be_purged(
    synthesis: Synthesis, isolation: str
) -> None:
    private = isolation == "private"
    stages = set()
    for stack in _stacks(synthesis, isolation):
        vault = stack.only("azurerm_key_vault")
        production = stack.config.production
        stages.add(production)
        assert stack.tf["output"]["production"]["value"] is production
        assert vault["rbac_authorization_enabled"] is True
        assert "access_policy" not in vault
        assert vault["purge_protection_enabled"] is production
        assert vault["soft_delete_retention_days"] == (90 if production else 7)
        assert vault["public_network_access_enabled"] is (not private)
        assert vault["network_acls"]["default_action"] == ("Deny" if private else "Allow")
    # The default bake's last environment is production, the others are re-creatable.
    assert stages == ({True, False} if len(synthesis.settings.environments) > 1 else {True})


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
        # Azure refuses Docker Content Trust on new registries since 2026-05-31.
        assert stack.only("azurerm_container_registry")["trust_policy_enabled"] is False


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_application_insights_is_workspace_based_without_local_auth(
    synthesis: Synthesis, isolation: str
) -> None:
    for stack in _stacks(synthesis, isolation):
        insights = stack.only("azurerm_application_insights")
        assert insights["workspace_id"] == stack.ref("azurerm_log_analytics_workspace")
        assert insights["local_authentication_disabled"] is True
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
        # The bootstrap's user-assigned identity, which already holds the roles Azure ML needs.
        ((logical_id, data_identity),) = stack.tf["data"]["azurerm_user_assigned_identity"].items()
        attached = "${data.azurerm_user_assigned_identity." + logical_id + ".id}"
        assert workspace["identity"] == {"type": "UserAssigned", "identity_ids": [attached]}
        assert workspace["primary_user_assigned_identity"] == attached
        assert data_identity["name"] == (
            f"id-{stack.config.project_slug}-{stack.config.environment}-workspace"
        )
        assert workspace["high_business_impact"] is synthesis.settings.high_business_impact
        assert workspace["v1_legacy_mode_enabled"] is False
        assert workspace["storage_account_id"] == stack.ref("azurerm_storage_account")
        assert workspace["key_vault_id"] == stack.ref("azurerm_key_vault")
        assert workspace["container_registry_id"] == stack.ref("azurerm_container_registry")
        assert workspace["application_insights_id"] == stack.ref("azurerm_application_insights")
        # Its roles come from the bootstrap: the stack assigns none to it.
        assert "workspace-identity" not in str(stack.resources("azurerm_role_assignment"))


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
        "queue": ("azurerm_storage_account", {"queue"}),
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


def test_a_private_environment_joins_the_hub_and_its_shared_dns_zones(synthesis: Synthesis) -> None:
    """With the bootstrap's hub: no zones of its own (one runner in the hub must resolve every
    environment), its endpoints register in the hub's zones, the zones are linked to its VNet
    (its clusters resolve them too), and the VNets are peered in both directions."""
    stack = synthesis.stacks["variant/hub"]
    hub = stack.config.hub
    vnet = stack.ref("azurerm_virtual_network")
    assert not stack.resources("azurerm_private_dns_zone")
    zone_ids = {hub.dns_zone_id(zone) for zone in PRIVATE_DNS_ZONES.values()}
    endpoints = stack.resources("azurerm_private_endpoint").values()
    used = {z for e in endpoints for z in e["private_dns_zone_group"]["private_dns_zone_ids"]}
    assert used == zone_ids
    links = stack.resources("azurerm_private_dns_zone_virtual_network_link").values()
    assert {link["private_dns_zone_name"] for link in links} == set(PRIVATE_DNS_ZONES.values())
    for link in links:
        assert link["resource_group_name"] == "rg-plat-mlops-hub"
        assert link["virtual_network_id"] == vnet
        assert link["registration_enabled"] is False
    peerings = {
        (p["resource_group_name"], p["virtual_network_name"], p["remote_virtual_network_id"])
        for p in stack.resources("azurerm_virtual_network_peering").values()
    }
    assert peerings == {
        (
            stack.ref("azurerm_virtual_network", "resource_group_name"),
            stack.ref("azurerm_virtual_network", "name"),
            hub.vnet_id,
        ),
        ("rg-plat-mlops-hub", "vnet-plat-mlops-hub", vnet),
    }
    for peering in stack.resources("azurerm_virtual_network_peering").values():
        assert peering["allow_forwarded_traffic"] is False
        assert peering["use_remote_gateways"] is False


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
            (QUEUE_CONSUMER_ROLE, _queue_scope(stack)),
            # App Insights has local auth off: deployments publish with this identity's token.
            (TELEMETRY_PUBLISHER_ROLE, stack.ref("azurerm_application_insights")),
        }
        assert {role for _, role, _ in COMPUTE_ROLES} < {role for role, _ in granted}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_no_role_is_assigned_above_resource_scope(synthesis: Synthesis, isolation: str) -> None:
    resource_scope = re.compile(r"^\$\{azurerm_[a-z_]+\.[\w-]+\.id\}$")
    for stack in _stacks(synthesis, isolation):
        assignments = stack.resources("azurerm_role_assignment").values()
        assert assignments
        for assignment in assignments:
            scope = assignment["scope"]
            assert resource_scope.match(scope) or scope == _queue_scope(stack), scope
            # The CI identity's role-assignment condition (the bootstrap) allows exactly these.
            assert assignment["role_definition_name"] in DEPLOYER_ASSIGNABLE
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


# --- apply-time behaviour: provider features, region capabilities, address plan ---------------


def test_provider_features_keep_production_and_let_other_environments_be_recreated(
    synthesis: Synthesis,
) -> None:
    for stack in synthesis.stacks.values():
        (provider,) = stack.tf["provider"]["azurerm"]
        (features,) = provider["features"]
        recreatable = not stack.config.production
        assert features["key_vault"] == [
            {"purge_soft_delete_on_destroy": recreatable, "recover_soft_deleted_key_vaults": True}
        ]
        assert features["machine_learning"] == [
            {"purge_soft_deleted_workspace_on_destroy": recreatable}
        ]
        assert features["log_analytics_workspace"] == [
            {"permanently_delete_on_destroy": recreatable}
        ]
        # Private storage: plans never call the unreachable data plane.
        assert features["storage"] == [{"data_plane_available": False}]


def test_nothing_needs_the_storage_or_key_vault_data_plane(synthesis: Synthesis) -> None:
    data_plane_only = {
        "azurerm_storage_blob",
        "azurerm_storage_share",
        "azurerm_storage_table",
        "azurerm_storage_data_lake_gen2_filesystem",
        "azurerm_key_vault_secret",
        "azurerm_key_vault_key",
        "azurerm_key_vault_certificate",
    }
    for stack in synthesis.stacks.values():
        assert not data_plane_only & set(stack.tf["resource"])
        account = stack.only("azurerm_storage_account")
        # Properties the provider can only read or write through the data plane.
        assert not {"queue_properties", "static_website", "share_properties"} & set(account)
        queue = stack.only("azurerm_storage_queue")
        assert queue["storage_account_id"] == stack.ref("azurerm_storage_account")
        assert "storage_account_name" not in queue


@pytest.mark.parametrize(
    ("key", "replication", "zone_redundant"),
    [("variant/nozones", "GRS", False), ("variant/nopair", "ZRS", True)],
)
def test_zone_and_geo_redundancy_follow_the_region_table(
    synthesis: Synthesis, key: str, replication: str, zone_redundant: bool
) -> None:
    stack = synthesis.stacks[key]
    assert stack.only("azurerm_storage_account")["account_replication_type"] == replication
    assert stack.only("azurerm_container_registry")["zone_redundancy_enabled"] is zone_redundant
    assert stack.tf["output"]["storage_replication"]["value"] == replication
    assert stack.tf["output"]["zone_redundant"]["value"] is zone_redundant


def test_default_region_gets_zone_and_geo_redundancy(synthesis: Synthesis) -> None:
    from mlops_infra.regions import capabilities

    for stack in _stacks(synthesis, "private"):
        region = capabilities(stack.config.location)
        account = stack.only("azurerm_storage_account")
        assert account["account_replication_type"] == stack.config.storage_replication
        registry = stack.only("azurerm_container_registry")
        assert registry["zone_redundancy_enabled"] is region.availability_zones


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_every_environment_has_its_own_non_overlapping_address_space(
    synthesis: Synthesis, isolation: str
) -> None:
    stacks = _stacks(synthesis, isolation)
    expected = address_plan.plan(synthesis.settings.address_space, synthesis.settings.environments)
    ranges = {}
    for stack in stacks:
        (space,) = stack.only("azurerm_virtual_network")["address_space"]
        vnet = ipaddress.IPv4Network(space)
        ranges[stack.config.environment] = vnet
        assert space == expected[stack.config.environment].vnet_address_space
        for subnet in stack.resources("azurerm_subnet").values():
            (prefix,) = subnet["address_prefixes"]
            assert ipaddress.IPv4Network(prefix).subnet_of(vnet)
    networks = list(ranges.values())
    for index, network in enumerate(networks):
        for other in networks[index + 1 :]:
            assert not network.overlaps(other), ranges
    assert len(ranges) == len(synthesis.settings.environments)


# --- Event Grid, budget ---------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_workspace_events_reach_a_private_queue_with_identity_based_delivery(
    synthesis: Synthesis, isolation: str
) -> None:
    settings = synthesis.settings
    for stack in _stacks(synthesis, isolation):
        topic = stack.only("azurerm_eventgrid_system_topic")
        assert topic["topic_type"] == "Microsoft.MachineLearningServices.Workspaces"
        assert topic["source_resource_id"] == stack.ref("azurerm_machine_learning_workspace")
        assert topic["identity"] == {"type": "SystemAssigned"}
        topic_principal = stack.ref("azurerm_eventgrid_system_topic", "identity[0].principal_id")
        (sender,) = [
            (logical_id, a)
            for logical_id, a in stack.resources("azurerm_role_assignment").items()
            if a["principal_id"] == topic_principal
        ]
        assert sender[1]["role_definition_name"] == QUEUE_SENDER_ROLE
        assert sender[1]["scope"] == _queue_scope(stack)

        subscriptions = {
            s["name"].removeprefix("evgs-"): s
            for s in stack.resources("azurerm_eventgrid_system_topic_event_subscription").values()
        }
        assert set(subscriptions) == set(EVENT_TYPES)
        for key, subscription in subscriptions.items():
            assert subscription["included_event_types"] == [EVENT_TYPES[key]]
            assert subscription["system_topic"] == stack.ref(
                "azurerm_eventgrid_system_topic", "name"
            )
            assert subscription["delivery_identity"] == {"type": "SystemAssigned"}
            endpoint = subscription["storage_queue_endpoint"]
            assert endpoint["storage_account_id"] == stack.ref("azurerm_storage_account")
            assert endpoint["queue_name"] == stack.ref("azurerm_storage_queue", "name")
            assert "webhook_endpoint" not in subscription
            assert subscription["depends_on"] == [f"azurerm_role_assignment.{sender[0]}"]
        filters = {
            key: {f["key"]: f["values"] for f in s.get("advanced_filter", {}).get("string_in", [])}
            for key, s in subscriptions.items()
        }
        assert filters == {
            "model-registered": {"data.ModelName": list(settings.events.model_names)},
            "run-status-changed": {
                "data.RunStatus": list(settings.events.run_statuses),
                "data.ExperimentName": list(settings.events.experiment_names),
            },
            "data-drift-detected": {},
        }
        # The queue lives in the environment's storage account: private with it, no keys.
        account = stack.only("azurerm_storage_account")
        assert account["shared_access_key_enabled"] is False
        assert account["public_network_access_enabled"] is (isolation == "public")
        assert account["network_rules"]["bypass"] == ["AzureServices"]


def test_event_filters_come_from_the_config(synthesis: Synthesis) -> None:
    from mlops_infra.config import EventsConfig
    from mlops_infra.stack import EnvironmentStack

    config = synthesis.stacks["private/" + synthesis.settings.environments[0]].config
    events = EventsConfig(model_names=("churn", "churn-large"), run_statuses=("Failed",))
    text = synthesis.testing.synth(
        EnvironmentStack(synthesis.testing.app(), config.model_copy(update={"events": events}))
    )
    assert synthesis.testing.to_have_resource_with_properties(
        text,
        "azurerm_eventgrid_system_topic_event_subscription",
        {
            "name": "evgs-model-registered",
            "advanced_filter": {
                "string_in": [{"key": "data.ModelName", "values": ["churn", "churn-large"]}]
            },
        },
    )
    assert synthesis.testing.to_have_resource_with_properties(
        text,
        "azurerm_eventgrid_system_topic_event_subscription",
        {
            "name": "evgs-run-status-changed",
            "advanced_filter": {"string_in": [{"key": "data.RunStatus", "values": ["Failed"]}]},
        },
    )


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_each_environment_resource_group_has_a_budget(synthesis: Synthesis, isolation: str) -> None:
    budget_config = synthesis.settings.budget
    for stack in _stacks(synthesis, isolation):
        budget = stack.only("azurerm_consumption_budget_resource_group")
        assert budget["resource_group_id"] == "${data.azurerm_resource_group.resource-group.id}"
        assert budget["amount"] == budget_config.monthly_amount
        assert budget["time_grain"] == "Monthly"
        # First of the current month at apply time, then left alone.
        assert "formatdate" in budget["time_period"]["start_date"]
        assert budget["lifecycle"] == {"ignore_changes": ["time_period"]}
        notifications = {(n["threshold_type"], n["threshold"]) for n in budget["notification"]}
        assert notifications == {
            *(("Actual", t) for t in budget_config.actual_thresholds),
            *(("Forecasted", t) for t in budget_config.forecast_thresholds),
        }
        for notification in budget["notification"]:
            assert notification["contact_emails"] == list(budget_config.contact_emails)
            assert notification["enabled"] is True


def test_a_sandbox_creates_the_workspace_identity_and_its_roles(synthesis: Synthesis) -> None:
    sandbox = synthesis.stacks["variant/sandbox"]
    (identity_id, identity) = next(
        (logical_id, body)
        for logical_id, body in sandbox.resources("azurerm_user_assigned_identity").items()
        if body["name"].endswith("-workspace")
    )
    principal = "${azurerm_user_assigned_identity." + identity_id + ".principal_id}"
    roles = {
        (a["role_definition_name"], a["scope"])
        for a in sandbox.resources("azurerm_role_assignment").values()
        if a["principal_id"] == principal
    }
    group = sandbox.ref("azurerm_resource_group")
    assert roles == {(role, group) for role in WORKSPACE_ROLES}
    workspace = sandbox.only("azurerm_machine_learning_workspace")
    assert len(workspace["depends_on"]) == len(WORKSPACE_ROLES)
    assert identity["name"] == f"id-{sandbox.config.project_slug}-sandbox-workspace"
