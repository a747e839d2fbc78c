"""Doctor checks on the environment itself: network reachability from here, the pinned base
images, the datastores' auth mode, the registry's alias support, the budget and the region."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from ..config import PACKAGE_NAME
from .doctor_source import API, AzureCallError, DoctorSource
from .doctor_target import CheckResult, Target, _infra_module

CLI = f"{PACKAGE_NAME} azure"
DEFAULT_DATASTORES = ("workspaceblobstore", "workspaceartifactstore")


READ_FIX = "log in as the environment's deployment identity (it can read everything checked here)"


def deployed_workspace(source: DoctorSource, target: Target) -> dict[str, Any] | None:
    """The workspace's ARM resource, or None before the first infrastructure run."""
    try:
        return source.arm_get(target.workspace, API["workspace"])
    except AzureCallError as error:
        if error.status == 404:
            return None
        raise


NOT_DEPLOYED = "workspace not deployed yet: checked again after the first infrastructure run"


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
