"""`azure doctor` offline: every check against responses shaped like each API's (the JSON files
in tests/doctor_responses, trimmed from the documented REST responses at the api-versions in
doctor.API; not recorded from a live subscription), once passing and once failing, each failure
naming its fix. The source records every call, so the tests also prove that nothing writes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from azure_fixtures import azure_project
from conftest import PROJECT_DIR

from {{ cookiecutter.package_name }}.azure import doctor
from {{ cookiecutter.package_name }}.azure.doctor import AzureCallError, CheckResult, run_doctor
from {{ cookiecutter.package_name }}.config import load_settings

RESPONSES = Path(__file__).parent / "doctor_responses"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
HEALTHY = {
    "permissions": "permissions_deployer.json",
    "usages": "usages.json",
    "vm_sizes": "vm_sizes.json",
    "workspace": "workspace.json",
    "datastores": "datastores_identity.json",
    "budgets": "budgets.json",
    "locations": "locations.json",
    "alias": "supported",
}
# The region check's name; the recorded locations answer for whatever azure_location was baked.
REGION_CHECK = "region: LOCATION"
PRIVATE_ADDRESS = {"STORAGE": ["10.100.1.4"], "WORKSPACE": ["10.100.1.5"]}


def _load(name: str) -> Any:
    return json.loads((RESPONSES / name).read_text())


class RecordedSource:
    """Answers each read-only call from the recorded files; logs every call."""

    def __init__(self, target: doctor.Target, **choices: Any) -> None:
        self.target = target
        self.files = {**HEALTHY, **{k: v for k, v in choices.items() if k in HEALTHY}}
        self.dns = choices.get("dns", PRIVATE_ADDRESS)
        self.open_ports = choices.get("open", True)
        self.missing_images = set(choices.get("missing_images", ()))
        self.calls: list[tuple[str, str]] = []

    def _answer(self, name: str) -> dict[str, Any]:
        body = json.loads(
            json.dumps(_load(name))
            .replace("BUDGET", self.target.budget_name)
            .replace("WORKSPACE", self.target.coordinates.workspace_name)
            .replace("LOCATION", self.target.location)  # the recorded region is the project's
        )
        if "error" in body:
            raise AzureCallError(body["status"], body["error"]["code"], body["error"]["message"])
        return body

    def arm_get(self, path: str, api_version: str) -> dict[str, Any]:
        self.calls.append(("GET", path))
        assert path.startswith(f"/subscriptions/{SUBSCRIPTION}")
        resources = (self.target.workspace, self.target.storage, self.target.registry)
        if self.files["workspace"] == "not_found.json" and path.startswith(resources):
            return self._answer("not_found.json")  # nothing of the stack exists yet
        for suffix, kind in (
            ("/providers/Microsoft.Authorization/permissions", "permissions"),
            ("/usages", "usages"),
            ("/vmSizes", "vm_sizes"),
            ("/datastores", "datastores"),
            ("/providers/Microsoft.Consumption/budgets", "budgets"),
            ("/locations", "locations"),
        ):
            if path.endswith(suffix):
                assert api_version == doctor.API[kind]
                return self._answer(self.files[kind])
        assert path == self.target.workspace, path
        return self._answer(self.files["workspace"])

    def resolve(self, host: str) -> list[str]:
        self.calls.append(("DNS", host))
        key = "STORAGE" if host.startswith(self.target.storage_account) else "WORKSPACE"
        return self.dns.get(key, [])

    def can_connect(self, host: str, port: int) -> bool:
        self.calls.append(("TCP", f"{host}:{port}"))
        return self.open_ports

    def image_exists(self, image: str) -> bool:
        self.calls.append(("HEAD", image))
        return image not in self.missing_images

    def mlflow_get(self, tracking_path: str, params: dict[str, str]) -> tuple[int, dict]:
        self.calls.append(("GET", tracking_path))
        answer = _load("mlflow_alias.json")[self.files["alias"]]
        return answer["status"], answer["body"]


def _project(tmp_path, empty_store, monkeypatch, isolation: str):
    folder = azure_project(tmp_path, empty_store)
    shutil.copy(
        PROJECT_DIR / "infra" / "mlops_infra" / "regions.py",
        folder / "infra" / "mlops_infra" / "regions.py",
    )
    infra = json.loads((folder / "infra" / "settings.json").read_text())
    infra["network_isolation"] = isolation  # the same checks whatever this bake chose
    (folder / "infra" / "settings.json").write_text(json.dumps(infra))
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    for name in ("AZURE_RESOURCE_GROUP", "AZURE_ML_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return load_settings(folder / "config" / "pipeline.yaml")


@pytest.fixture
def settings(tmp_path, empty_store, monkeypatch):
    return _project(tmp_path, empty_store, monkeypatch, "private")


def test_a_public_environment_may_resolve_to_public_addresses(
    tmp_path, empty_store, monkeypatch
) -> None:
    public = _project(tmp_path, empty_store, monkeypatch, "public")
    results, _ = _run(public, dns={"STORAGE": ["20.60.1.1"], "WORKSPACE": ["20.60.1.2"]})
    assert _failing(results) == {}


def _run(settings, **choices) -> tuple[dict[str, CheckResult], RecordedSource]:
    source = RecordedSource(doctor.target_for(settings, None), **choices)
    results = run_doctor(settings, None, source)
    assert len({r.name for r in results}) == len(results)
    return {r.name: r for r in results}, source


def _failing(results: dict[str, CheckResult]) -> dict[str, CheckResult]:
    failing = {name: r for name, r in results.items() if not r.ok}
    for result in failing.values():
        assert result.fix, f"{result.name} fails without naming a fix"
    return failing


def test_a_ready_environment_passes_every_check_with_reads_only(settings) -> None:
    results, source = _run(settings)
    assert _failing(results) == {}
    assert doctor.failed(results.values()) == []
    names = list(results)
    for expected in (
        "permissions: resource group",
        "permissions: workspace",
        "permissions: storage data plane",
        "permissions: container registry",
        "network: storage",
        "network: workspace",
        "datastores: identity-based",
        "registry: model aliases",
        "budget",
        REGION_CHECK,
    ):
        assert expected.replace("LOCATION", doctor.target_for(settings, None).location) in names
    assert sum(name.startswith("quota: ") for name in names) == 2
    assert sum(name.startswith("base image: ") for name in names) == 2
    assert {method for method, _ in source.calls} <= {"GET", "DNS", "TCP", "HEAD"}


def test_before_the_first_deploy_workspace_checks_wait_and_permissions_are_inherited(
    settings,
) -> None:
    results, _ = _run(settings, workspace="not_found.json", budgets="budgets_empty.json")
    assert _failing(results) == {}
    assert "not deployed yet" in results["network: workspace"].detail
    assert "inherited" in results["permissions: workspace"].detail
    assert "not created yet" in results["budget"].detail


@pytest.mark.parametrize(
    ("choices", "check", "detail", "fix"),
    [
        (
            {"permissions": "permissions_reader.json"},
            "permissions: resource group",
            "Microsoft.MachineLearningServices/workspaces/write",
            "platform bootstrap",
        ),
        (
            {"permissions": "permissions_without_data_role.json"},
            "permissions: storage data plane",
            "blobs/write",
            "Storage Blob Data Contributor",
        ),
        (
            {"usages": "usages_new_subscription.json"},
            "quota: gpu-cluster",
            "standardNCASv3_T4Family: 4 vCPUs needed (1 x Standard_NC4as_T4_v3), 0 free of 0",
            "request at least 4 vCPUs",
        ),
        (
            {"dns": {"STORAGE": ["20.60.1.1"], "WORKSPACE": ["10.100.1.5"]}},
            "network: storage",
            "resolves to public 20.60.1.1",
            "runner",
        ),
        ({"dns": {}}, "network: storage", "does not resolve", "privatelink"),
        ({"open": False}, "network: workspace", "TCP 443", "outbound 443"),
        (
            {"missing_images": [doctor.CPU_BASE_IMAGE]},
            f"base image: {doctor.CPU_BASE_IMAGE}",
            "no such tag",
            "environments.py",
        ),
        (
            {"workspace": "workspace_keys.json"},
            "datastores: identity-based",
            "system datastores use accessKey",
            "azure setup",
        ),
        (
            {"datastores": "datastores_keys.json"},
            "datastores: identity-based",
            "workspaceblobstore uses AccountKey",
            "azure setup",
        ),
        ({"alias": "broken"}, "registry: model aliases", "unexpected answer 500", "AzureML"),
        (
            {"budgets": "budgets_unsupported.json"},
            "budget",
            "MS-AZR-0144P is not supported",
            "Cost Management budgets",
        ),
        (
            {"locations": "locations_without_zones.json"},
            REGION_CHECK,
            "assumes availability zones",
            "regions.py",
        ),
    ],
    ids=[
        "no-deploy-rights",
        "no-storage-data-role",
        "no-gpu-quota",
        "private-endpoint-not-visible",
        "no-dns",
        "port-blocked",
        "missing-base-image",
        "system-datastores-on-keys",
        "default-datastores-on-keys",
        "registry-error",
        "budget-unsupported",
        "region-table-stale",
    ],
)
def test_each_check_fails_with_its_fix(settings, choices, check, detail, fix) -> None:
    results, _ = _run(settings, **choices)
    check = check.replace("LOCATION", doctor.target_for(settings, None).location)
    failing = _failing(results)
    assert check in failing, results[check]
    assert detail in failing[check].detail
    assert fix in failing[check].fix
    assert doctor.failed(results.values())


def test_unsupported_aliases_are_reported_not_failed(settings) -> None:
    results, _ = _run(settings, alias="unsupported")
    assert results["registry: model aliases"].ok
    assert "production tag" in results["registry: model aliases"].detail


@pytest.mark.parametrize(
    ("permissions", "action", "data", "expected"),
    [
        ([{"actions": ["*"], "notActions": []}], "Microsoft.Storage/storageAccounts/write", 0, 1),
        (
            [{"actions": ["Microsoft.Storage/*"], "notActions": ["Microsoft.Storage/*/write"]}],
            "Microsoft.Storage/storageAccounts/write",
            0,
            0,
        ),
        ([{"actions": ["*"], "dataActions": []}], "x/blobs/read", 1, 0),
        ([{"dataActions": ["X/Blobs/*"]}], "x/blobs/read", 1, 1),
    ],
)
def test_permission_matching_follows_azure_rules(permissions, action, data, expected) -> None:
    assert doctor.allowed(permissions, action, data=bool(data)) is bool(expected)


class _Session(requests.Session):
    """requests' session answering from recorded responses: what azure-core would send."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        super().__init__()
        self.answers = answers
        self.sent: list[tuple[str, str, str | None]] = []

    def request(self, method, url, headers=None, **kwargs):
        self.sent.append((method, url, (headers or {}).get("Authorization")))
        path = url.split("?")[0]
        status, body = next(
            (answer for suffix, answer in self.answers.items() if path.endswith(suffix)),
            (404, {}),
        )
        data = json.dumps(body).encode()
        response = requests.Response()
        response.status_code, response.url = status, url
        response.headers["Content-Type"] = "application/json"
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), status=status, headers=response.headers, preload_content=False
        )
        response._content = data
        return response


class _Credential:
    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        assert scopes == ("https://management.azure.com/.default",)
        return AccessToken("arm-token", 4102444800)


def test_the_azure_source_sends_only_reads_with_the_callers_token(settings) -> None:
    from azure.core.pipeline.transport import RequestsTransport

    target = doctor.target_for(settings, None)
    session = _Session(
        {
            "/usages": (200, _load("usages.json")),
            "/providers/Microsoft.Consumption/budgets": (400, _load("budgets_unsupported.json")),
            "/manifests/" + doctor.CPU_BASE_IMAGE.rsplit(":", 1)[1]: (200, {}),
            "/registered-models/alias": (403, {"error_code": "PERMISSION_DENIED"}),
        }
    )
    source = doctor.AzureSource(
        target.location,
        target.coordinates,
        credential=_Credential(),
        transport=RequestsTransport(session=session, session_owner=False),
    )
    usages = source.arm_get(f"{target.subscription}/providers/x/usages", "2024-04-01")
    assert usages["value"][0]["name"]["value"] == "TotalDedicatedCores"
    with pytest.raises(AzureCallError) as refused:
        source.arm_get(f"{target.resource_group}/providers/Microsoft.Consumption/budgets", "v")
    assert refused.value.status == 400 and "MS-AZR-0144P" in refused.value.message
    assert source.image_exists(doctor.CPU_BASE_IMAGE)
    assert not source.image_exists(doctor.GPU_BASE_IMAGE)
    status, body = source.mlflow_get("registered-models/alias", {"name": "m", "alias": "a"})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    assert {method for method, _, _ in session.sent} == {"GET", "HEAD"}
    arm = [(url, auth) for _, url, auth in session.sent if "mcr.microsoft.com" not in url]
    assert all(auth == "Bearer arm-token" for _, auth in arm)
    assert all(url.startswith("https://") for url, _ in arm)
    images = [auth for _, url, auth in session.sent if "mcr.microsoft.com" in url]
    assert images and not any(images), "no Azure token is sent to the public image registry"
    assert source.resolve("localhost")
    assert source.resolve("no-such-host.invalid") == []


@pytest.mark.parametrize("images_missing", [False, True])
def test_the_cli_prints_each_check_and_exits_1_on_any_failure(
    settings, monkeypatch, images_missing: bool
) -> None:
    """`azure doctor` is the read-only command the first-deployment guide runs."""
    from typer.testing import CliRunner

    from {{ cookiecutter.package_name }}.cli import app

    missing = [doctor.CPU_BASE_IMAGE, doctor.GPU_BASE_IMAGE] if images_missing else []

    def recorded(settings, environment=None):
        target = doctor.target_for(settings, environment)
        return run_doctor(settings, environment, RecordedSource(target, missing_images=missing))

    monkeypatch.setattr(doctor, "doctor", recorded)
    config = str(settings.project_dir / "config" / "pipeline.yaml")
    result = CliRunner().invoke(app, ["azure", "doctor", "--json", "--config", config])
    code = 1 if images_missing else 0
    assert result.exit_code == code, result.output
    printed = json.loads(result.output)
    assert {entry["name"] for entry in printed} >= {"budget", "permissions: workspace"}
    failing = [entry for entry in printed if not entry["ok"]]
    assert len(failing) == len(missing)
    assert all(entry["fix"] for entry in failing)
    table = CliRunner().invoke(app, ["azure", "doctor", "--config", config])
    assert table.exit_code == code
    assert f"{len(printed) - len(failing)}/{len(printed)} checks passed" in table.output
