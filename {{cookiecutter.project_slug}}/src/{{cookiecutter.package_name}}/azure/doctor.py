"""`azure doctor`: what a first run needs, checked read-only before anything runs.

Each check returns a `CheckResult` (name, ok, detail, fix). The checks are pure functions over a
small read-only `DoctorSource` (ARM GETs, DNS, TCP, the container registry of the base images,
the workspace's MLflow route); `AzureSource` is the real one, built on azure-core with the
package's one credential (credentials.py); the tests hand in recorded API responses instead.
Nothing here writes: every Azure call is a GET or HEAD, and the permissions it needs are
`*/read` ones.

`run_doctor(settings, environment, source)` runs every check and returns the results in order;
a caller exits non-zero when any result is not ok (`failed(results)`).

What is checked, and where it comes from:
- the caller's effective permissions (Microsoft.Authorization/permissions) on the resource group
  (what `cdktf deploy` creates), the workspace (jobs, endpoints, models), the storage data plane
  (identity-based datastore uploads) and the container registry;
- vCPU quota of each cluster's VM family against `vCPUs x max_nodes`
  (Microsoft.MachineLearningServices usages and vmSizes);
- network reachability of the workspace and the storage account from here (DNS, then TCP 443;
  a private environment must resolve to a private address);
- that the pinned base images exist (the registry's v2 manifest API);
- the system and default datastores' auth mode (identity, since keys are disabled);
- the workspace registry's model alias support (a 403 or unknown route means tags only);
- the budget (Microsoft.Consumption answers for the resource group; the amount matches);
- the region's capabilities (zones and pair) against the region table the stacks assume.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import ipaddress
import json
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from ..config import PACKAGE_NAME, Settings
from .environments import CPU_BASE_IMAGE, GPU_BASE_IMAGE
from .workspace import WorkspaceCoordinates, _infra_settings, _naming_module, resolve_workspace

API = {
    "permissions": "2022-04-01",
    "usages": "2024-04-01",
    "vm_sizes": "2024-04-01",
    "workspace": "2024-04-01",
    "datastores": "2024-04-01",
    "budgets": "2023-05-01",
    "locations": "2022-12-01",
    "resource_group": "2021-04-01",
}
ARM_SCOPE = "https://management.azure.com/.default"
CLI = f"{PACKAGE_NAME} azure"

# What each scope must allow the caller (CI's deployment identity, or you) for a first run.
RESOURCE_GROUP_ACTIONS = (
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.MachineLearningServices/workspaces/write",
    "Microsoft.Storage/storageAccounts/write",
    "Microsoft.KeyVault/vaults/write",
    "Microsoft.ContainerRegistry/registries/write",
    "Microsoft.Network/virtualNetworks/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/write",
    "Microsoft.Insights/components/write",
    "Microsoft.Authorization/roleAssignments/write",
)
WORKSPACE_ACTIONS = (
    "Microsoft.MachineLearningServices/workspaces/read",
    "Microsoft.MachineLearningServices/workspaces/jobs/write",
    "Microsoft.MachineLearningServices/workspaces/environments/write",
    "Microsoft.MachineLearningServices/workspaces/data/write",
    "Microsoft.MachineLearningServices/workspaces/models/write",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
    "Microsoft.MachineLearningServices/workspaces/datastores/write",
)
STORAGE_DATA_ACTIONS = (
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
)
REGISTRY_ACTIONS = ("Microsoft.ContainerRegistry/registries/read",)
DEFAULT_DATASTORES = ("workspaceblobstore", "workspaceartifactstore")
READ_FIX = "log in as the environment's deployment identity (it can read everything checked here)"


class AzureCallError(Exception):
    """An Azure call answered with an error (status and Azure's error code)."""

    def __init__(self, status: int, code: str = "", message: str = "") -> None:
        super().__init__(f"{status} {code}: {message}".strip())
        self.status = status
        self.code = code
        self.message = message


class DoctorSource(Protocol):
    """The read-only calls the checks make. Every method may raise AzureCallError."""

    def arm_get(self, path: str, api_version: str) -> dict[str, Any]:
        """GET https://management.azure.com{path}?api-version=..., parsed."""
        ...

    def resolve(self, host: str) -> list[str]:
        """The addresses `host` resolves to from here (empty when it does not resolve)."""
        ...

    def can_connect(self, host: str, port: int) -> bool: ...

    def image_exists(self, image: str) -> bool:
        """Whether `registry/repository:tag` has a manifest."""
        ...

    def mlflow_get(self, tracking_path: str, params: dict[str, str]) -> tuple[int, dict]:
        """GET on the workspace's MLflow REST API: (HTTP status, JSON body)."""
        ...


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def failed(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if not result.ok]


@dataclass(frozen=True)
class Target:
    """Everything the checks need to know about one environment, from settings and infra/."""

    coordinates: WorkspaceCoordinates
    location: str
    private: bool
    storage_account: str
    container_registry: str
    budget_name: str
    budget_amount: int
    clusters: dict[str, tuple[str, int]]  # cluster name -> (VM size, max nodes)
    base_images: tuple[str, ...]
    model_name: str

    @property
    def subscription(self) -> str:
        return f"/subscriptions/{self.coordinates.subscription_id}"

    @property
    def resource_group(self) -> str:
        return f"{self.subscription}/resourceGroups/{self.coordinates.resource_group_name}"

    @property
    def workspace(self) -> str:
        return (
            f"{self.resource_group}/providers/Microsoft.MachineLearningServices/workspaces/"
            f"{self.coordinates.workspace_name}"
        )

    @property
    def storage(self) -> str:
        return (
            f"{self.resource_group}/providers/Microsoft.Storage/storageAccounts/"
            f"{self.storage_account}"
        )

    @property
    def registry(self) -> str:
        return (
            f"{self.resource_group}/providers/Microsoft.ContainerRegistry/registries/"
            f"{self.container_registry}"
        )


def _infra_module(project_dir: Path, name: str) -> ModuleType:
    module_name = f"_{PACKAGE_NAME}_infra_{name}"
    if module_name not in sys.modules:
        path = project_dir / "infra" / "mlops_infra" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def target_for(settings: Settings, environment: str | None) -> Target:
    coordinates = resolve_workspace(settings, environment)
    infra = _infra_settings(settings.project_dir)
    names = _naming_module(settings.project_dir).Names(
        project_slug=infra["project_slug"],
        prefix=infra["resource_prefix"],
        environment=coordinates.environment,
        location=infra["location"],
    )
    return Target(
        coordinates=coordinates,
        location=infra["location"],
        private=infra["network_isolation"] == "private",
        storage_account=names.storage_account,
        container_registry=names.container_registry,
        budget_name=names.budget,
        budget_amount=int(infra["budget"]["monthly_amount"]),
        clusters={
            coordinates.gpu_cluster_name: (
                infra["gpu_cluster"]["vm_size"],
                int(infra["gpu_cluster"]["max_nodes"]),
            ),
            coordinates.cpu_cluster_name: (
                infra["cpu_cluster"]["vm_size"],
                int(infra["cpu_cluster"]["max_nodes"]),
            ),
        },
        base_images=(CPU_BASE_IMAGE, GPU_BASE_IMAGE),
        model_name=settings.model_name,
    )


# --- permissions -------------------------------------------------------------------------------


def _matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def allowed(permissions: list[dict[str, Any]], action: str, *, data: bool = False) -> bool:
    """Azure's rule: some permission entry grants the action and does not exclude it."""
    grant, deny = ("dataActions", "notDataActions") if data else ("actions", "notActions")
    return any(
        any(_matches(p, action) for p in entry.get(grant, []))
        and not any(_matches(p, action) for p in entry.get(deny, []))
        for entry in permissions
    )


def _permissions(source: DoctorSource, scope: str) -> list[dict[str, Any]]:
    path = f"{scope}/providers/Microsoft.Authorization/permissions"
    return source.arm_get(path, API["permissions"]).get("value", [])


def check_permissions(
    source: DoctorSource,
    name: str,
    scope: str,
    actions: tuple[str, ...],
    fix: str,
    *,
    data: bool = False,
    fallback_scope: str | None = None,
) -> CheckResult:
    where = scope
    try:
        permissions = _permissions(source, scope)
    except AzureCallError as error:
        if error.status != 404 or fallback_scope is None:
            return CheckResult(name, False, f"cannot read permissions on {scope}: {error}", fix)
        # Not deployed yet: what the caller will have there is inherited from the group.
        where = f"{fallback_scope} (not deployed yet; inherited)"
        try:
            permissions = _permissions(source, fallback_scope)
        except AzureCallError as error2:
            return CheckResult(name, False, f"cannot read permissions: {error2}", fix)
    missing = [action for action in actions if not allowed(permissions, action, data=data)]
    if missing:
        return CheckResult(name, False, f"missing on {where}: {', '.join(missing)}", fix)
    return CheckResult(name, True, f"{len(actions)} {'data ' if data else ''}actions on {where}")


def permission_checks(source: DoctorSource, target: Target) -> list[CheckResult]:
    env = target.coordinates.environment
    bootstrap = (
        "run the platform bootstrap (template infra/) for this project and environment, and "
        f"log in as its deployment identity id-<project>-{env}-deploy"
    )
    return [
        check_permissions(
            source,
            "permissions: resource group",
            target.resource_group,
            RESOURCE_GROUP_ACTIONS,
            bootstrap,
        ),
        check_permissions(
            source,
            "permissions: workspace",
            target.workspace,
            WORKSPACE_ACTIONS,
            bootstrap,
            fallback_scope=target.resource_group,
        ),
        check_permissions(
            source,
            "permissions: storage data plane",
            target.storage,
            STORAGE_DATA_ACTIONS,
            "grant the caller 'Storage Blob Data Contributor' on the environment's resource "
            "group (the bootstrap does this for the deployment identity; apply it again)",
            data=True,
            fallback_scope=target.resource_group,
        ),
        check_permissions(
            source,
            "permissions: container registry",
            target.registry,
            REGISTRY_ACTIONS,
            bootstrap,
            fallback_scope=target.resource_group,
        ),
    ]


# --- quota -------------------------------------------------------------------------------------


def check_quota(source: DoctorSource, target: Target) -> list[CheckResult]:
    base = f"{target.subscription}/providers/Microsoft.MachineLearningServices/locations/"
    base += target.location
    try:
        sizes = {
            size["name"].lower(): size
            for size in source.arm_get(f"{base}/vmSizes", API["vm_sizes"]).get("value", [])
        }
        usages = {
            usage["name"]["value"].lower(): usage
            for usage in source.arm_get(f"{base}/usages", API["usages"]).get("value", [])
        }
    except AzureCallError as error:
        fix = "the caller needs read access on the subscription's Machine Learning usages"
        return [CheckResult("quota", False, f"cannot read usages: {error}", fix)]
    results = []
    for cluster, (vm_size, max_nodes) in target.clusters.items():
        name = f"quota: {cluster}"
        size = sizes.get(vm_size.lower())
        if size is None:
            results.append(
                CheckResult(
                    name,
                    False,
                    f"{vm_size} is not offered for Azure ML in {target.location}",
                    "pick a VM size the region offers (infra/settings.json)",
                )
            )
            continue
        family = size["family"]
        needed = int(size["vCPUs"]) * max_nodes
        usage = usages.get(family.lower())
        free = int(usage["limit"]) - int(usage["currentValue"]) if usage else 0
        if free < needed:
            limit = int(usage["limit"]) if usage else 0
            results.append(
                CheckResult(
                    name,
                    False,
                    f"{family}: {needed} vCPUs needed ({max_nodes} x {vm_size}), {free} free "
                    f"of {limit} in {target.location}",
                    f"request at least {needed - free + limit} vCPUs of {family} in "
                    f"{target.location} (Azure portal, Quotas, Machine learning), or lower "
                    "max_nodes in infra/settings.json",
                )
            )
        else:
            results.append(CheckResult(name, True, f"{family}: {needed} vCPUs needed, {free} free"))
    return results


def deployed_workspace(source: DoctorSource, target: Target) -> dict[str, Any] | None:
    """The workspace's ARM resource, or None before the first infrastructure run."""
    try:
        return source.arm_get(target.workspace, API["workspace"])
    except AzureCallError as error:
        if error.status == 404:
            return None
        raise


NOT_DEPLOYED = "workspace not deployed yet: checked again after the first infrastructure run"


# --- network -----------------------------------------------------------------------------------


def _private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_private
    except ValueError:
        return False


def check_host(source: DoctorSource, name: str, host: str, private: bool) -> CheckResult:
    addresses = source.resolve(host)
    where = "inside the environment's VNet or a hub peered with it"
    if not addresses:
        return CheckResult(
            name,
            False,
            f"{host} does not resolve from here",
            f"run where the privatelink DNS zones resolve ({where})",
        )
    if private and not all(_private(a) for a in addresses):
        return CheckResult(
            name,
            False,
            f"{host} resolves to public {', '.join(addresses)}: the private endpoint is "
            "not visible from here",
            f"run the data-plane steps on a runner {where}, with the privatelink zones "
            "linked to its VNet (docs/deployment.md, private first run)",
        )
    if not source.can_connect(host, 443):
        return CheckResult(
            name,
            False,
            f"{host} ({', '.join(addresses)}) refuses or drops TCP 443",
            "allow outbound 443 from this runner to the private endpoints (NSG, firewall)",
        )
    return CheckResult(name, True, f"{host} -> {', '.join(addresses)}:443")


def network_checks(source: DoctorSource, target: Target) -> list[CheckResult]:
    results = [
        check_host(
            source,
            "network: storage",
            f"{target.storage_account}.blob.core.windows.net",
            target.private,
        )
    ]
    try:
        workspace = deployed_workspace(source, target)
    except AzureCallError as error:
        fix = "see the workspace permissions check"
        results.append(
            CheckResult("network: workspace", False, f"cannot read workspace: {error}", fix)
        )
        return results
    if workspace is None:
        results.append(CheckResult("network: workspace", True, NOT_DEPLOYED))
        return results
    workspace_id = workspace.get("properties", {}).get("workspaceId", "")
    host = f"{workspace_id}.workspace.{target.location}.api.azureml.ms"
    results.append(check_host(source, "network: workspace", host, target.private))
    return results


# --- images, datastores, aliases, budget, region ------------------------------------------------


def check_base_images(source: DoctorSource, target: Target) -> list[CheckResult]:
    results = []
    for image in target.base_images:
        if source.image_exists(image):
            results.append(CheckResult(f"base image: {image}", True, "manifest found"))
        else:
            results.append(
                CheckResult(
                    f"base image: {image}",
                    False,
                    "no such tag in the registry",
                    "pin an existing tag in azure/environments.py (list them at "
                    "https://mcr.microsoft.com/v2/azureml/<image>/tags/list)",
                )
            )
    return results


def check_datastores(source: DoctorSource, target: Target) -> CheckResult:
    name = "datastores: identity-based"
    setup = f"run `{CLI} setup --environment {target.coordinates.environment}`"
    try:
        workspace = deployed_workspace(source, target)
    except AzureCallError as error:
        return CheckResult(name, False, f"cannot read workspace: {error}", setup)
    if workspace is None:
        return CheckResult(name, True, f"{NOT_DEPLOYED} (`azure setup` switches them)")
    problems = []
    mode = workspace.get("properties", {}).get("systemDatastoresAuthMode") or "accessKey"
    if mode.lower() != "identity":
        problems.append(f"system datastores use {mode}")
    try:
        stores = source.arm_get(f"{target.workspace}/datastores", API["datastores"])
    except AzureCallError as error:
        return CheckResult(name, False, f"cannot list datastores: {error}", setup)
    for store in stores.get("value", []):
        if store.get("name") not in DEFAULT_DATASTORES:
            continue
        kind = store.get("properties", {}).get("credentials", {}).get("credentialsType", "")
        if kind != "None":
            problems.append(f"{store['name']} uses {kind}")
    if problems:
        detail = "; ".join(problems) + " (storage keys are disabled)"
        return CheckResult(name, False, detail, setup)
    return CheckResult(name, True, "system and default datastores use identity")


def check_alias_support(source: DoctorSource, target: Target) -> CheckResult:
    """Azure ML's MLflow registry does not document aliases; an unsupported route has been
    reported to answer 403. Either way the gate works (tags); the result says which."""
    name = "registry: model aliases"
    try:
        if deployed_workspace(source, target) is None:
            return CheckResult(name, True, NOT_DEPLOYED)
        status, body = source.mlflow_get(
            "registered-models/alias", {"name": target.model_name, "alias": "champion"}
        )
    except AzureCallError as error:
        return CheckResult(name, False, f"cannot reach the workspace registry: {error}", READ_FIX)
    code = body.get("error_code", "")
    if status == 200 or code == "RESOURCE_DOES_NOT_EXIST":
        return CheckResult(name, True, "aliases supported: champion alias plus production tag")
    if status in (403, 404, 405, 501) or code == "ENDPOINT_NOT_FOUND":
        return CheckResult(
            name, True, f"aliases not supported ({status} {code}): the production tag decides"
        )
    return CheckResult(
        name,
        False,
        f"unexpected answer {status} {code}",
        "the caller needs AzureML Data Scientist (or the deployer role) on the workspace",
    )


def check_budget(source: DoctorSource, target: Target) -> CheckResult:
    name = "budget"
    path = f"{target.resource_group}/providers/Microsoft.Consumption/budgets"
    try:
        budgets = source.arm_get(path, API["budgets"]).get("value", [])
    except AzureCallError as error:
        return CheckResult(
            name,
            False,
            f"Cost Management refuses budgets here: {error}",
            "use a subscription offer that supports Cost Management budgets, or remove the "
            "budget construct (infra/mlops_infra/budget.py) and alert another way",
        )
    ours = [b for b in budgets if b.get("name") == target.budget_name]
    if not ours:
        return CheckResult(name, True, f"{target.budget_name} not created yet (first deploy)")
    amount = ours[0].get("properties", {}).get("amount")
    if amount is not None and int(float(amount)) != target.budget_amount:
        return CheckResult(
            name,
            False,
            f"{target.budget_name} is {amount}, settings say {target.budget_amount}",
            "deploy the infrastructure again, or correct budget.monthly_amount",
        )
    return CheckResult(name, True, f"{target.budget_name}: {amount} a month")


def check_region(source: DoctorSource, target: Target, project_dir: Path) -> CheckResult:
    name = f"region: {target.location}"
    expected = _infra_module(project_dir, "regions").capabilities(target.location)
    try:
        locations = source.arm_get(f"{target.subscription}/locations", API["locations"])
    except AzureCallError as error:
        return CheckResult(name, False, f"cannot list locations: {error}", READ_FIX)
    found = [loc for loc in locations.get("value", []) if loc.get("name") == target.location]
    if not found:
        return CheckResult(
            name,
            False,
            f"{target.location} is not available to this subscription",
            "choose a region the subscription can use (azure_location)",
        )
    location = found[0]
    zones = bool(location.get("availabilityZoneMappings"))
    pair = bool(location.get("metadata", {}).get("pairedRegion"))
    problems = []
    if expected.availability_zones and not zones:
        problems.append("the region table assumes availability zones, Azure lists none")
    if expected.geo_pair and not pair:
        problems.append("the region table assumes a paired region, Azure lists none")
    if problems:
        return CheckResult(
            name,
            False,
            "; ".join(problems),
            "update infra/mlops_infra/regions.py (dated table) or set storage_redundancy",
        )
    return CheckResult(name, True, f"zones: {zones}, pair: {pair} (as the region table says)")


def run_doctor(
    settings: Settings, environment: str | None, source: DoctorSource
) -> list[CheckResult]:
    """Every check for `environment` (default: the first), in a stable order."""
    target = target_for(settings, environment)
    return [
        *permission_checks(source, target),
        *check_quota(source, target),
        *network_checks(source, target),
        *check_base_images(source, target),
        check_datastores(source, target),
        check_alias_support(source, target),
        check_budget(source, target),
        check_region(source, target, settings.project_dir),
    ]


# --- the real source -----------------------------------------------------------------------------


class AzureSource:
    """Read-only calls to Azure through azure-core, with the package's credential."""

    def __init__(self, target: Target, credential: Any | None = None) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy

        from .credentials import azure_credential

        self.target = target
        credential = credential or azure_credential()
        policies = [RetryPolicy(retry_total=2), BearerTokenCredentialPolicy(credential, ARM_SCOPE)]
        self._arm = PipelineClient("https://management.azure.com", policies=policies)
        self._plain = PipelineClient("https://mcr.microsoft.com", policies=[RetryPolicy()])

    def _send(self, client: Any, url: str, method: str = "GET", **params: str) -> Any:
        from azure.core.rest import HttpRequest

        return client.send_request(HttpRequest(method, url, params=params))

    def arm_get(self, path: str, api_version: str) -> dict[str, Any]:
        response = self._send(self._arm, path, **{"api-version": api_version})
        if response.status_code >= 400:
            try:
                error = response.json().get("error", {})
            except ValueError:
                error = {}
            raise AzureCallError(
                response.status_code, error.get("code", ""), error.get("message", "")
            )
        return response.json()

    def resolve(self, host: str) -> list[str]:
        try:
            return sorted({info[4][0] for info in socket.getaddrinfo(host, 443)})
        except socket.gaierror:
            return []

    def can_connect(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=5):
                return True
        except OSError:
            return False

    def image_exists(self, image: str) -> bool:
        registry, _, rest = image.partition("/")
        repository, _, tag = rest.rpartition(":")
        url = f"https://{registry}/v2/{repository}/manifests/{tag}"
        accept = (
            "application/vnd.oci.image.index.v1+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        )
        from azure.core.rest import HttpRequest

        response = self._plain.send_request(HttpRequest("HEAD", url, headers={"Accept": accept}))
        return response.status_code == 200

    def mlflow_get(self, tracking_path: str, params: dict[str, str]) -> tuple[int, dict]:
        c = self.target.coordinates
        url = (
            f"https://{self.target.location}.api.azureml.ms/mlflow/v2.0"
            f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group_name}"
            "/providers/Microsoft.MachineLearningServices/workspaces/"
            f"{c.workspace_name}/api/2.0/mlflow/{tracking_path}"
        )
        response = self._send(self._arm, url, **params)
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code, body if isinstance(body, dict) else {}


def doctor(settings: Settings, environment: str | None = None) -> list[CheckResult]:
    """`run_doctor` against Azure itself, as the caller (for the CLI)."""
    return run_doctor(settings, environment, AzureSource(target_for(settings, environment)))


def as_json(results: Iterable[CheckResult]) -> str:
    return json.dumps([vars(result) for result in results], indent=2)
