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

import json
from collections.abc import Iterable

from ..config import Settings
from .doctor_access import allowed, check_quota, permission_checks
from .doctor_checks import (
    check_alias_support,
    check_base_images,
    check_budget,
    check_datastores,
    check_region,
    network_checks,
)
from .doctor_source import API, AzureCallError, AzureSource, DoctorSource
from .doctor_target import CPU_BASE_IMAGE, GPU_BASE_IMAGE, CheckResult, Target, failed, target_for

__all__ = [
    "API",
    "CPU_BASE_IMAGE",
    "GPU_BASE_IMAGE",
    "AzureCallError",
    "AzureSource",
    "CheckResult",
    "DoctorSource",
    "Target",
    "allowed",
    "as_json",
    "doctor",
    "failed",
    "run_doctor",
    "target_for",
]


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


def doctor(settings: Settings, environment: str | None = None) -> list[CheckResult]:
    """`run_doctor` against Azure itself, as the caller (for the CLI)."""
    target = target_for(settings, environment)
    return run_doctor(settings, environment, AzureSource(target.location, target.coordinates))


def as_json(results: Iterable[CheckResult]) -> str:
    return json.dumps([vars(result) for result in results], indent=2)
