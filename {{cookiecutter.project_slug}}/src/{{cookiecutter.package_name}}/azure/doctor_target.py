"""What the doctor checks are about (one environment, from the settings and infra/) and what
each check returns."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..config import PACKAGE_NAME, Settings
from .environments import CPU_BASE_IMAGE, GPU_BASE_IMAGE
from .workspace import WorkspaceCoordinates, _infra_settings, _naming_module, resolve_workspace


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
