"""The platform bootstrap (infra/): state storage, per-environment CI identities, the hand-over.

Synthesizes once per module, in this process: the default config (state reachable by hosted
runners) and a private-state variant with two projects, then asserts on the JSON and runs
checkov with the bootstrap's reviewed skips through the project template's own scan script.
A project stack in bootstrap mode is synthesized in the same process to prove that the CI
identity's role-assignment condition allows every role that stack assigns.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import ValidationError

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
BOOTSTRAP_DIR = TEMPLATE_DIR / "infra"
PROJECT_INFRA_DIR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "infra"
CHECKOV = TEMPLATE_DIR / ".tools" / "bin" / "checkov"
sys.path.insert(0, str(BOOTSTRAP_DIR))
# The project template's Jinja-free infra package, which the bootstrap also imports.
sys.path.insert(1, str(PROJECT_INFRA_DIR))

from mlops_infra.config import STATE_VARIABLES  # noqa: E402
from mlops_infra.roles import DEPLOYER_ASSIGNABLE, ROLE_IDS, WORKSPACE_ROLES  # noqa: E402
from platform_bootstrap.config import BootstrapConfig, load_config  # noqa: E402
from platform_bootstrap.naming import project_resource_group_name  # noqa: E402

CI_VARIABLES = {
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_SUBSCRIPTION_ID",
    "TF_STATE_RESOURCE_GROUP",
    "TF_STATE_STORAGE_ACCOUNT",
    "TF_STATE_CONTAINER",
}
GUID = r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
ORG_ID = "00000000-0000-0000-0000-000000000000"  # bootstrap.json's organization_id
# The form Azure DevOps shows on a workload identity federation service connection created
# today (Microsoft Entra issuer); the encoded parts are opaque to the bootstrap.
ENTRA_SUBJECT = f"/eid1/c/pub/t/v4Bz3Kq1WUq/a/qjiQTTbgykaXjMSNPF8B/sc/{ORG_ID}/" + (
    "11111111-2222-3333-4444-555555555555"
)
TENANT_REF = "${data.azurerm_client_config.client.tenant_id}"


def _load(name: str, path: Path) -> ModuleType:
    """Import a Jinja-free file of the project template directly from the template tree."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The slow tests share one synthesis (module fixture): one xdist worker runs the module.
pytestmark = pytest.mark.xdist_group("bootstrap-synth")

project_naming = _load("template_project_naming", PROJECT_INFRA_DIR / "mlops_infra" / "naming.py")
project_scan = _load("template_project_scan", PROJECT_INFRA_DIR / "scan.py")


def _private_variant() -> BootstrapConfig:
    raw = json.loads((BOOTSTRAP_DIR / "bootstrap.json").read_text())
    # Phase 2 of the Azure DevOps set-up for `dev` only; `prod` is still pending.
    first = raw["projects"][0]
    raw["projects"][0] = {
        **first,
        "azure_devops": {
            **first["azure_devops"],
            "service_connection_subjects": {"dev": ENTRA_SUBJECT},
        },
    }
    second = {
        "project_slug": "fraud-detection-with-a-very-long-name-x1",
        "environments": ["d", "abcdefg", "prod"],
        "github": {"repository": "contoso/fraud"},
    }
    return BootstrapConfig.model_validate(
        {
            **raw,
            "prefix": "abcdefgh",
            "location": "westus",  # no availability zones: state storage is GRS there
            "state_public_network_access": False,
            # A platform whose private projects bring their own hub (or that has none).
            "hub": None,
            "projects": [*raw["projects"], second],
        }
    )


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Path]]:
    from platform_bootstrap.stack import build_app

    results = {}
    for label, config in (("default", load_config()), ("private", _private_variant())):
        outdir = tmp_path_factory.mktemp(f"bootstrap-{label}")
        build_app(config, outdir).synth()
        stack_file = outdir / "stacks" / "platform" / "cdk.tf.json"
        results[label] = (json.loads(stack_file.read_text()), outdir / "stacks", config)
    return results


def _resources(tf: dict, resource_type: str) -> dict[str, dict]:
    return tf.get("resource", {}).get(resource_type, {})


def _ref(resource_type: str, logical_id: str, attribute: str = "id") -> str:
    return "${" + f"{resource_type}.{logical_id}.{attribute}" + "}"


def _by_name(tf: dict, resource_type: str, attribute: str = "id") -> dict[str, str]:
    return {
        body["name"]: _ref(resource_type, logical_id, attribute)
        for logical_id, body in _resources(tf, resource_type).items()
    }


def _environments(config: BootstrapConfig) -> list[tuple[str, str]]:
    return [(p.project_slug, env) for p in config.projects for env in p.environments]


def _role(tf: dict, name_start: str) -> tuple[str, dict]:
    (found,) = [
        (logical_id, body)
        for logical_id, body in _resources(tf, "azurerm_role_definition").items()
        if body["name"].startswith(name_start)
    ]
    return found


def _container(slug: str, env: str) -> str:
    return "tfstate-" + re.sub("-+", "-", slug) + "-" + env


# --- fast: config and the naming contract with baked projects --------------------------------


def test_resource_groups_match_what_baked_projects_deploy_into() -> None:
    for slug, env in (("customer-churn", "dev"), ("a" * 40, "abcdefg"), ("abc", "d")):
        assert project_resource_group_name(slug, env) == project_naming.resource_group_name(
            slug, env
        )


def test_ci_outputs_are_the_variables_baked_projects_read() -> None:
    assert set(STATE_VARIABLES) <= CI_VARIABLES
    docs = (
        TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "docs" / "infrastructure.md"
    ).read_text()
    for variable in CI_VARIABLES:
        assert variable in docs


@pytest.mark.parametrize(
    "change",
    [
        {"projects": []},
        {"prefix": "Platform"},
        {"location": "mars"},
        {"projects": [{"project_slug": "x-y", "environments": ["dev"]}]},
        {
            "projects": [
                {
                    "project_slug": "abc",
                    "environments": ["dev", "dev"],
                    "github": {"repository": "o/r"},
                }
            ]
        },
        {
            "projects": [
                {
                    "project_slug": "abc",
                    "environments": ["dev"],
                    "github": {"repository": "o/r", "pull_requests": True},
                }
            ]
        },
        *[
            {
                "projects": [
                    {
                        "project_slug": "abc",
                        "environments": ["dev"],
                        "azure_devops": {
                            "organization": "contoso",
                            "organization_id": ORG_ID,
                            "project": "mlops",
                            "service_connection_subjects": {env: subject},
                        },
                    }
                ]
            }
            for env, subject in (
                ("dev", "sc://contoso/mlops/azure-abc-dev"),
                ("dev", ENTRA_SUBJECT.replace(ORG_ID, "0" * 7 + "1" + ORG_ID[8:])),
                ("prod", ENTRA_SUBJECT),
            )
        ],
        {"hub": {"address_space": "20.0.0.0/24"}},
        {"hub": {"address_space": "10.99.0.0/28"}},
    ],
    ids=[
        "no-projects",
        "bad-prefix",
        "unknown-region",
        "no-ci-provider",
        "duplicate-environments",
        "pull-requests-get-no-deployment-identity",
        "retiring-azure-devops-subject-form",
        "subject-of-another-organization",
        "subject-for-an-unknown-environment",
        "hub-range-not-private",
        "hub-range-too-small",
    ],
)
def test_invalid_bootstrap_config_is_rejected(change: dict) -> None:
    raw = json.loads((BOOTSTRAP_DIR / "bootstrap.json").read_text())
    with pytest.raises(ValidationError):
        BootstrapConfig.model_validate({**raw, **change})


# --- slow: synthesized stack -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_state_storage_is_hardened_versioned_and_per_environment(
    synthesized: dict, label: str
) -> None:
    tf, _, config = synthesized[label]
    (account,) = _resources(tf, "azurerm_storage_account").values()
    public = config.state_public_network_access
    assert account["shared_access_key_enabled"] is False
    assert account["allow_nested_items_to_be_public"] is False
    assert account["min_tls_version"] == "TLS1_2"
    assert account["https_traffic_only_enabled"] is True
    assert account["public_network_access_enabled"] is public
    assert account["network_rules"]["default_action"] == ("Allow" if public else "Deny")
    # The region table decides: westeurope has zones and a pair, westus only a pair.
    expected = {"westeurope": "GZRS", "westus": "GRS"}[config.location]
    assert account["account_replication_type"] == expected
    blob = account["blob_properties"]
    assert blob["versioning_enabled"] is True
    assert blob["delete_retention_policy"]["days"] >= 7
    assert blob["container_delete_retention_policy"]["days"] >= 7
    containers = _resources(tf, "azurerm_storage_container").values()
    assert sorted(c["name"] for c in containers) == sorted(
        _container(slug, env) for slug, env in _environments(config)
    )
    for container in containers:
        assert container["container_access_type"] == "private"
        assert container["storage_account_id"].startswith("${azurerm_storage_account.")
    (diagnostic,) = _resources(tf, "azurerm_monitor_diagnostic_setting").values()
    assert diagnostic["target_resource_id"].endswith("/blobServices/default")
    (provider,) = tf["provider"]["azurerm"]
    assert provider["features"] == [{"storage": [{"data_plane_available": False}]}]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_each_environment_gets_its_own_identity_federated_for_that_environment_only(
    synthesized: dict, label: str
) -> None:
    tf, _, config = synthesized[label]
    identities = _by_name(tf, "azurerm_user_assigned_identity")
    deploy = {name for name in identities if name.endswith("-deploy")}
    assert deploy == {f"id-{slug}-{env}-deploy" for slug, env in _environments(config)}
    credentials = list(_resources(tf, "azurerm_federated_identity_credential").values())
    for project in config.projects:
        for env in project.environments:
            parent = identities[f"id-{project.project_slug}-{env}-deploy"]
            subjects = {
                (c["issuer"], c["subject"]) for c in credentials if c["parent_id"] == parent
            }
            expected = set()
            if project.github:
                expected.add(
                    (
                        "https://token.actions.githubusercontent.com",
                        f"repo:{project.github.repository}:environment:{env}",
                    )
                )
            subject = (
                project.azure_devops.service_connection_subjects.get(env)
                if project.azure_devops
                else None
            )
            if subject:
                # The Microsoft Entra issuer of the tenant, never the retiring vstoken issuer.
                expected.add((f"https://login.microsoftonline.com/{TENANT_REF}/v2.0", subject))
            assert subjects == expected
    # Connections without a subject yet are named in an output (phase 1 of the set-up).
    pending = tf["output"]["azure_devops_federation_pending"]["value"]
    assert pending == [
        f"azure-{p.project_slug}-{env}"
        for p in config.projects
        if p.azure_devops
        for env in p.environments
        if env not in p.azure_devops.service_connection_subjects
    ]
    assert {"default": 2, "private": 1}[label] == len(pending)
    # Every credential belongs to a deployment identity; none trusts pull requests or branches.
    assert {c["parent_id"] for c in credentials} == {identities[name] for name in deploy}
    for credential in credentials:
        assert credential["audience"] == ["api://AzureADTokenExchange"]
        assert "pull_request" not in credential["subject"]
        assert ":ref:" not in credential["subject"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_deployment_roles_are_scoped_to_its_own_group_and_state_container(
    synthesized: dict, label: str
) -> None:
    tf, _, config = synthesized[label]
    groups = _by_name(tf, "azurerm_resource_group")
    (account_id,) = _resources(tf, "azurerm_storage_account")
    principals = _by_name(tf, "azurerm_user_assigned_identity", "principal_id")
    deployer_id, _ = _role(tf, "MLOps environment deployer")
    deployer = _ref("azurerm_role_definition", deployer_id, "role_definition_resource_id")
    hub_grant = set()
    if config.hub is not None:
        hub_role_id, _ = _role(tf, "MLOps hub network joiner")
        hub_grant = {
            (
                _ref("azurerm_role_definition", hub_role_id, "role_definition_resource_id"),
                groups[f"rg-{config.prefix}-mlops-hub"],
            )
        }
    assignments = list(_resources(tf, "azurerm_role_assignment").values())
    allowed_ids = {ROLE_IDS[role] for role in DEPLOYER_ASSIGNABLE}
    for slug, env in _environments(config):
        principal = principals[f"id-{slug}-{env}-deploy"]
        group = groups[project_resource_group_name(slug, env)]
        state = (
            _ref("azurerm_storage_account", account_id)
            + "/blobServices/default/containers/"
            + _container(slug, env)
        )
        granted = {
            (a.get("role_definition_name") or a["role_definition_id"], a["scope"])
            for a in assignments
            if a["principal_id"] == principal
        }
        assert granted == {
            (deployer, group),
            ("Role Based Access Control Administrator", group),
            ("Storage Blob Data Contributor", state),
            # Identity-based datastores upload with the caller's token: blob data on its own
            # environment's group only (the condition forbids granting it to itself).
            ("Storage Blob Data Contributor", group),
            *hub_grant,
        }
        (rbac,) = [a for a in assignments if a["principal_id"] == principal and a.get("condition")]
        condition = rbac["condition"]
        assert rbac["condition_version"] == "2.0"
        assert "StringEqualsIgnoreCase {'ServicePrincipal'}" in condition
        # ...and never to itself (no self-granted data access).
        assert f"GuidNotEquals {{{principal}}}" in condition
        assert set(re.findall(GUID, condition)) == allowed_ids
    # Nothing at subscription scope, nothing on the platform resource group.
    for assignment in assignments:
        assert not assignment["scope"].startswith("/subscriptions/")
        assert assignment["scope"] != groups[f"rg-{config.prefix}-mlops-platform"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_the_deployer_role_is_narrower_than_contributor(synthesized: dict, label: str) -> None:
    tf, _, config = synthesized[label]
    _, role = _role(tf, "MLOps environment deployer")
    (permissions,) = role["permissions"]
    assert "*" not in permissions["actions"]
    assert not [
        a
        for a in permissions["actions"]
        if a.lower().startswith("microsoft.authorization/") and not a.endswith("/read")
    ]
    assert {
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete",
    } <= set(permissions["not_actions"])
    groups = _by_name(tf, "azurerm_resource_group")
    assert sorted(role["assignable_scopes"]) == sorted(
        groups[project_resource_group_name(slug, env)] for slug, env in _environments(config)
    )


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_the_workspace_identity_gets_what_azure_ml_needs_from_the_bootstrap(
    synthesized: dict, label: str
) -> None:
    tf, _, config = synthesized[label]
    groups = _by_name(tf, "azurerm_resource_group", "name")
    group_ids = _by_name(tf, "azurerm_resource_group")
    principals = _by_name(tf, "azurerm_user_assigned_identity", "principal_id")
    identities = {
        body["name"]: body for body in _resources(tf, "azurerm_user_assigned_identity").values()
    }
    assignments = list(_resources(tf, "azurerm_role_assignment").values())
    for slug, env in _environments(config):
        name = project_naming.workspace_identity_name(slug, env)
        rg_name = project_resource_group_name(slug, env)
        # In the environment's group, where the project stack looks it up by name.
        assert identities[name]["resource_group_name"] == groups[rg_name]
        granted = {
            (a["role_definition_name"], a["scope"])
            for a in assignments
            if a["principal_id"] == principals[name]
        }
        assert granted == {(role, group_ids[rg_name]) for role in WORKSPACE_ROLES}
        # The deployment identities live in the platform group, out of every pipeline's reach.
        deploy = identities[f"id-{slug}-{env}-deploy"]
        assert deploy["resource_group_name"] == groups[f"rg-{config.prefix}-mlops-platform"]


@pytest.mark.slow
def test_the_ci_identity_can_assign_every_role_a_project_stack_assigns(synthesized: dict) -> None:
    """Synthesize a project stack as CI deploys it (bootstrap mode) and check each assignment
    against the bootstrap's condition: no role the deployer could not grant at apply time."""
    from mlops_infra.cdk import Testing
    from mlops_infra.config import ProjectSettings
    from mlops_infra.stack import EnvironmentStack
    from platform_bootstrap.stack import ASSIGNABLE_ROLES

    settings = ProjectSettings.model_validate(
        {
            "project_slug": "customer-churn",
            "resource_prefix": "churn",
            "location": "westeurope",
            "environments": "dev,prod",
            "network_isolation": "private",
            "gpu_cluster": {"vm_size": "Standard_NC4as_T4_v3", "max_nodes": "1"},
            "cpu_cluster": {"vm_size": "Standard_D4s_v3", "max_nodes": "2"},
            "budget": {"monthly_amount": "100", "contact_emails": ["team@contoso.com"]},
        }
    )
    for config in settings.environment_configs():
        stack = json.loads(Testing.synth(EnvironmentStack(Testing.app(), config)))
        roles = {
            a["role_definition_name"] for a in _resources(stack, "azurerm_role_assignment").values()
        }
        assert roles
        assert roles <= set(ASSIGNABLE_ROLES), roles - set(ASSIGNABLE_ROLES)
        # The workspace identity is the bootstrap's, with its roles already in place.
        assert "azurerm_user_assigned_identity" in stack["data"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_outputs_are_exactly_the_ci_variables_per_environment(
    synthesized: dict, label: str
) -> None:
    tf, _, config = synthesized[label]
    outputs = tf["output"]
    containers = {
        body["name"]: _ref("azurerm_storage_container", logical_id, "name")
        for logical_id, body in _resources(tf, "azurerm_storage_container").items()
    }
    client_ids = _by_name(tf, "azurerm_user_assigned_identity", "client_id")
    ci_outputs = {name for name in outputs if name.startswith("ci_")}
    assert ci_outputs == {
        "ci_" + slug.replace("-", "_") + "_" + env for slug, env in _environments(config)
    }
    for slug, env in _environments(config):
        value = outputs["ci_" + slug.replace("-", "_") + "_" + env]["value"]
        hub = {"HUB_VNET_ID", "HUB_DNS_ZONE_RESOURCE_GROUP_ID"} if config.hub else set()
        assert set(value) == CI_VARIABLES | hub
        assert value["TF_STATE_CONTAINER"] == containers[_container(slug, env)]
        assert value["AZURE_CLIENT_ID"] == client_ids[f"id-{slug}-{env}-deploy"]
    assert tf["terraform"]["backend"] == {"local": {"path": "../../../terraform.platform.tfstate"}}
    (provider,) = tf["provider"]["azurerm"]
    assert provider["storage_use_azuread"] is True
    for namespace in (
        "Microsoft.MachineLearningServices",
        "Microsoft.EventGrid",
        "Microsoft.Consumption",
    ):
        assert namespace in provider["resource_providers_to_register"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_every_bootstrap_name_follows_azure_rules(synthesized: dict, label: str) -> None:
    tf, _, _ = synthesized[label]
    for resource_type, resources in tf["resource"].items():
        # Unnamed (associations, assignments), or named by Azure (privatelink zones).
        if resource_type == "azurerm_role_assignment" or "association" in resource_type:
            continue
        if resource_type == "azurerm_private_dns_zone":
            continue
        for body in resources.values():
            assert not project_naming.violations(resource_type, body["name"]), body["name"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_checkov_passes_with_only_reviewed_skips(synthesized: dict, label: str) -> None:
    _, stacks_dir, _ = synthesized[label]
    skips = project_scan.load_skips(BOOTSTRAP_DIR / "checkov-skips.yaml")
    (report,) = project_scan.evaluate(
        stacks_dir, project_scan.run_checkov(stacks_dir, CHECKOV), skips
    )
    assert report.failed == [] and report.stale == [], (report.failed, report.stale)
    assert report.passed >= 10
    print(f"bootstrap {label}: {report.passed} passed, {len(report.skipped)} skipped, 0 failed")
    readme = (BOOTSTRAP_DIR / "README.md").read_text()
    for skip in skips:
        assert skip.check in readme, f"{skip.check} missing from infra/README.md"


@pytest.mark.slow
def test_the_hub_holds_the_runners_and_the_shared_zones_every_private_environment_joins(
    synthesized: dict,
) -> None:
    tf, _, config = synthesized["default"]
    without = synthesized["private"][0]
    assert "hub_runner_subnet_id" not in without["output"], "no hub unless configured"
    assert not _resources(without, "azurerm_virtual_network")
    groups = _by_name(tf, "azurerm_resource_group")
    hub_group = groups[f"rg-{config.prefix}-mlops-hub"]
    ((vnet_id, vnet),) = _resources(tf, "azurerm_virtual_network").items()
    assert vnet["address_space"] == ["10.99.0.0/24"]
    (subnet,) = _resources(tf, "azurerm_subnet").values()
    assert subnet["name"] == "snet-runners" and subnet["default_outbound_access_enabled"] is False
    assert _resources(tf, "azurerm_subnet_network_security_group_association")
    assert _resources(tf, "azurerm_subnet_nat_gateway_association")
    zones = _resources(tf, "azurerm_private_dns_zone").values()
    assert {z["name"] for z in zones} == set(project_naming.PRIVATE_DNS_ZONES.values())
    links = _resources(tf, "azurerm_private_dns_zone_virtual_network_link").values()
    assert {link["virtual_network_id"] for link in links} == {
        _ref("azurerm_virtual_network", vnet_id)
    }
    assert len(links) == len(project_naming.PRIVATE_DNS_ZONES)
    _, role = _role(tf, "MLOps hub network joiner")
    (permissions,) = role["permissions"]
    # Peer, join and link: nothing that deletes, nothing beyond the network provider.
    assert all(a.startswith("Microsoft.Network/") for a in permissions["actions"])
    assert not [a for a in permissions["actions"] if "delete" in a.lower() or "*" in a]
    assert role["assignable_scopes"] == [hub_group]
    for slug, env in _environments(config):
        value = tf["output"]["ci_" + slug.replace("-", "_") + "_" + env]["value"]
        assert value["HUB_VNET_ID"] == _ref("azurerm_virtual_network", vnet_id)
        assert value["HUB_DNS_ZONE_RESOURCE_GROUP_ID"] == hub_group
