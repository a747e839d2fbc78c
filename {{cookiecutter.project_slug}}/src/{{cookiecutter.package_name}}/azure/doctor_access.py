"""Doctor checks on access: the caller's effective permissions (Azure's permissions API) and
the vCPU quota of each cluster's VM family (Machine Learning usages and VM sizes)."""

from __future__ import annotations

import fnmatch
from typing import Any

from .doctor_source import API, AzureCallError, DoctorSource
from .doctor_target import CheckResult, Target

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
