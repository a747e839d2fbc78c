"""The platform bootstrap (infra/): state storage, scoped CI identities, and the hand-over.

Synthesizes once per module, in this process: the default config (state reachable by hosted
runners) and a private-state variant with two projects, then asserts on the JSON and runs
checkov with the bootstrap's reviewed skips through the project template's own scan script.
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
project_config = _load("template_project_config", PROJECT_INFRA_DIR / "mlops_infra" / "config.py")
project_scan = _load("template_project_scan", PROJECT_INFRA_DIR / "scan.py")


def _private_variant() -> BootstrapConfig:
    raw = json.loads((BOOTSTRAP_DIR / "bootstrap.json").read_text())
    second = {
        "project_slug": "fraud-detection-with-a-very-long-name-x1",
        "environments": ["d", "abcdefg", "prod"],
        "github": {"repository": "contoso/fraud", "pull_requests": True},
    }
    return BootstrapConfig.model_validate(
        {
            **raw,
            "prefix": "abcdefgh",
            "state_public_network_access": False,
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


# --- fast: config and the naming contract with baked projects --------------------------------


def test_resource_groups_match_what_baked_projects_deploy_into() -> None:
    for slug, env in (("customer-churn", "dev"), ("a" * 40, "abcdefg"), ("abc", "d")):
        assert project_resource_group_name(slug, env) == project_naming.resource_group_name(
            slug, env
        )


def test_ci_outputs_are_the_variables_baked_projects_read() -> None:
    assert set(project_config.STATE_VARIABLES) <= CI_VARIABLES
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
    ],
    ids=["no-projects", "bad-prefix", "no-ci-provider", "duplicate-environments"],
)
def test_invalid_bootstrap_config_is_rejected(change: dict) -> None:
    raw = json.loads((BOOTSTRAP_DIR / "bootstrap.json").read_text())
    with pytest.raises(ValidationError):
        BootstrapConfig.model_validate({**raw, **change})


# --- slow: synthesized stack -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_state_storage_is_hardened_and_versioned(synthesized: dict, label: str) -> None:
    tf, _, config = synthesized[label]
    (account,) = _resources(tf, "azurerm_storage_account").values()
    public = config.state_public_network_access
    assert account["shared_access_key_enabled"] is False
    assert account["allow_nested_items_to_be_public"] is False
    assert account["min_tls_version"] == "TLS1_2"
    assert account["https_traffic_only_enabled"] is True
    assert account["public_network_access_enabled"] is public
    assert account["network_rules"]["default_action"] == ("Allow" if public else "Deny")
    blob = account["blob_properties"]
    assert blob["versioning_enabled"] is True
    assert blob["delete_retention_policy"]["days"] >= 7
    assert blob["container_delete_retention_policy"]["days"] >= 7
    containers = _resources(tf, "azurerm_storage_container").values()
    assert {c["name"] for c in containers} == {
        "tfstate-" + re.sub("-+", "-", p.project_slug) for p in config.projects
    }
    for container in containers:
        assert container["container_access_type"] == "private"
        assert container["storage_account_id"].startswith("${azurerm_storage_account.")
    (diagnostic,) = _resources(tf, "azurerm_monitor_diagnostic_setting").values()
    assert diagnostic["target_resource_id"].endswith("/blobServices/default")


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_each_project_gets_its_own_federated_identity(synthesized: dict, label: str) -> None:
    tf, _, config = synthesized[label]
    identities = {
        body["name"]: _ref("azurerm_user_assigned_identity", logical_id)
        for logical_id, body in _resources(tf, "azurerm_user_assigned_identity").items()
    }
    assert set(identities) == {f"id-{p.project_slug}-deploy" for p in config.projects}
    credentials = _resources(tf, "azurerm_federated_identity_credential").values()
    for project in config.projects:
        parent = identities[f"id-{project.project_slug}-deploy"]
        subjects = {(c["issuer"], c["subject"]) for c in credentials if c["parent_id"] == parent}
        expected = set()
        if project.github:
            repo = project.github.repository
            issuer = "https://token.actions.githubusercontent.com"
            expected |= {(issuer, f"repo:{repo}:environment:{e}") for e in project.environments}
            if project.github.pull_requests:
                expected.add((issuer, f"repo:{repo}:pull_request"))
        if project.azure_devops:
            ado = project.azure_devops
            expected.add(
                (
                    f"https://vstoken.dev.azure.com/{ado.organization_id}",
                    f"sc://{ado.organization}/{ado.project}/{ado.service_connection}",
                )
            )
        assert subjects == expected
    for credential in credentials:
        assert credential["audience"] == ["api://AzureADTokenExchange"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_roles_are_scoped_to_the_project_groups_and_state_container(
    synthesized: dict, label: str
) -> None:
    tf, _, config = synthesized[label]
    groups = {
        body["name"]: _ref("azurerm_resource_group", logical_id)
        for logical_id, body in _resources(tf, "azurerm_resource_group").items()
    }
    (account_id,) = _resources(tf, "azurerm_storage_account")
    identities = {
        body["name"]: _ref("azurerm_user_assigned_identity", logical_id, "principal_id")
        for logical_id, body in _resources(tf, "azurerm_user_assigned_identity").items()
    }
    assignments = list(_resources(tf, "azurerm_role_assignment").values())
    for project in config.projects:
        slug = project.project_slug
        principal = identities[f"id-{slug}-deploy"]
        granted = [a for a in assignments if a["principal_id"] == principal]
        expected_scopes = {
            groups[project_resource_group_name(slug, e)] for e in project.environments
        }
        state_scope = (
            _ref("azurerm_storage_account", account_id)
            + "/blobServices/default/containers/tfstate-"
            + re.sub("-+", "-", slug)
        )
        assert {a["scope"] for a in granted} == expected_scopes | {state_scope}
        for assignment in granted:
            assert assignment["principal_type"] == "ServicePrincipal"
            if assignment["scope"] == state_scope:
                assert assignment["role_definition_name"] == "Storage Blob Data Contributor"
            elif assignment["role_definition_name"] == "Role Based Access Control Administrator":
                condition = assignment["condition"]
                assert assignment["condition_version"] == "2.0"
                assert "StringEqualsIgnoreCase {'ServicePrincipal'}" in condition
                # ...and never to itself (no self-granted data access).
                assert f"GuidNotEquals {{{principal}}}" in condition
                allowed = set(re.findall(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", condition))
                # AcrPull, Storage Blob/File data, Key Vault Secrets User: what the stacks assign.
                assert allowed == {
                    "7f951dda-4ed3-4680-a7ca-43fe172d538d",
                    "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
                    "69566ab7-960f-475b-8e7c-b3118f30c6bd",
                    "4633458b-17de-408a-b874-0445c86b69e6",
                }
            else:
                assert assignment["role_definition_name"] == "Contributor"
    # Nothing at subscription scope, nothing on the platform resource group.
    for assignment in assignments:
        assert not assignment["scope"].startswith("/subscriptions/")
        assert assignment["scope"] not in {groups[f"rg-{config.prefix}-mlops-platform"]}


@pytest.mark.slow
def test_project_stacks_assign_only_roles_the_bootstrap_delegates(synthesized: dict) -> None:
    """The project's identity.py roles must be inside the bootstrap's ABAC condition."""
    from platform_bootstrap.stack import ASSIGNABLE_ROLES

    identity_source = (PROJECT_INFRA_DIR / "mlops_infra" / "identity.py").read_text()
    assigned = set(
        re.findall(r'"(AcrPull|Storage [A-Za-z ]+|Key Vault [A-Za-z ]+)"', identity_source)
    )
    assert assigned
    assert assigned <= set(ASSIGNABLE_ROLES)


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_outputs_are_exactly_the_ci_variables(synthesized: dict, label: str) -> None:
    tf, _, config = synthesized[label]
    outputs = tf["output"]
    for project in config.projects:
        value = outputs["ci_" + project.project_slug.replace("-", "_")]["value"]
        assert set(value) == CI_VARIABLES
    assert tf["terraform"]["backend"] == {"local": {"path": "../../../terraform.platform.tfstate"}}
    (provider,) = tf["provider"]["azurerm"]
    assert provider["storage_use_azuread"] is True
    assert "Microsoft.MachineLearningServices" in provider["resource_providers_to_register"]


@pytest.mark.slow
@pytest.mark.parametrize("label", ["default", "private"])
def test_every_bootstrap_name_follows_azure_rules(synthesized: dict, label: str) -> None:
    tf, _, _ = synthesized[label]
    for resource_type, resources in tf["resource"].items():
        if resource_type == "azurerm_role_assignment":
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
    readme = (BOOTSTRAP_DIR / "README.md").read_text()
    for skip in skips:
        assert skip.check in readme, f"{skip.check} missing from infra/README.md"
