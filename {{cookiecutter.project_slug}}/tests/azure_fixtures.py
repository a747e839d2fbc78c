"""A project folder with what the Azure commands read, and an in-memory `MLClient` stand-in.

The stand-in implements only the operations the commands call (`create_or_update`, `get`,
`list`, `download`, `begin_create_or_update`, `begin_disable`) and records every call, so
tests can prove what was (and was not) sent to Azure.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from conftest import PROJECT_DIR, make_project, write_config

AZURE_FILES = (
    "pyproject.toml",
    "requirements.lock",
    "requirements-azureml.lock",
    "infra/settings.json",
    "infra/mlops_infra/naming.py",
)


def azure_project(
    folder: Path, empty_store: Path, task: str = "classification", **azure: Any
) -> Path:
    """`make_project` plus the lock, pyproject and the infra naming the Azure commands read."""
    make_project(folder, empty_store, task)
    for name in AZURE_FILES:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / name, target)
    if azure:
        config = yaml.safe_load((folder / "config" / "pipeline.yaml").read_text())
        config["azure"].update(azure)
        write_config(folder, config)
    return folder


def not_found(what: str) -> Exception:
    from azure.core.exceptions import ResourceNotFoundError

    return ResourceNotFoundError(f"{what} not found")


# Azure Resource Manager's tag limits, as the service enforces them (the fakes refuse what it
# would refuse): at most 50 tag name-value pairs per resource, names up to 512 characters, values
# up to 256. Source: learn.microsoft.com/azure/azure-resource-manager/management/tag-resources
# (section "Limitations"), checked 2026-12-04 with the search tool.
ARM_TAG_COUNT, ARM_TAG_NAME, ARM_TAG_VALUE = 50, 512, 256


class ArmRefused(Exception):
    """What ARM answers (HTTP 400) to a resource whose tags break its limits."""


def arm_check_tags(tags: dict[str, str]) -> None:
    if len(tags) > ARM_TAG_COUNT:
        raise ArmRefused(f"InvalidTagCount: {len(tags)} tags > {ARM_TAG_COUNT}")
    for name, value in tags.items():
        if len(name) > ARM_TAG_NAME:
            raise ArmRefused(f"InvalidTagNameLength: {name[:40]}")
        if len(str(value)) > ARM_TAG_VALUE:
            raise ArmRefused(f"InvalidTagValueLength: tag {name} has {len(str(value))} chars")


class Poller:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class FakeAssets:
    """environments / data: versions that exist, and the ones created."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stored: dict[tuple[str, str], Any] = {}
        self.created: list[Any] = []

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Any:
        if label == "latest":  # the newest version stored under `name`
            versions = [asset for (stored, _), asset in self.stored.items() if stored == name]
            if not versions:
                raise not_found(f"{self.kind} {name}@latest")
            return versions[-1]
        if (name, version) not in self.stored:
            raise not_found(f"{self.kind} {name}:{version}")
        return self.stored[(name, version)]

    def create_or_update(self, asset: Any) -> Any:
        self.created.append(asset)
        self.stored[(asset.name, asset.version)] = asset
        return asset


class FakeJobs:
    """A pipeline job whose status follows `statuses` (one per `get`, the last one repeats)."""

    def __init__(self, statuses: list[str], registration: dict[str, Any] | None = None) -> None:
        self.statuses = list(statuses)
        self.registration = registration
        self.submitted: list[Any] = []
        self.gets = 0
        self.error: Exception | None = None

    def create_or_update(self, job: Any, experiment_name: str | None = None) -> Any:
        if self.error is not None:
            raise self.error
        self.submitted.append((job, experiment_name))
        return SimpleNamespace(
            name="job-1", status="NotStarted", studio_url="https://ml.azure.com/runs/job-1"
        )

    def get(self, name: str) -> Any:
        if name != "job-1":
            raise not_found(f"job {name}")
        status = self.statuses[min(self.gets, len(self.statuses) - 1)]
        self.gets += 1
        return SimpleNamespace(name=name, status=status)

    def list(self, parent_job_name: str) -> Iterator[Any]:
        for step in ("prepare", "train", "evaluate", "register"):
            yield SimpleNamespace(
                name=f"{parent_job_name}-{step}", display_name=step, status="Completed"
            )

    def download(self, name: str, output_name: str, download_path: str) -> None:
        folder = Path(download_path) / "named-outputs" / output_name
        folder.mkdir(parents=True)
        (folder / "registration.json").write_text(json.dumps(self.registration))


class FakeDatastores:
    def __init__(self) -> None:
        from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore

        self.stored = {
            name: AzureBlobDatastore(
                name=name,
                account_name="stexample",
                container_name=name,
                credentials=AccountKeyConfiguration(account_key=None),
            )
            for name in ("workspaceblobstore", "workspaceartifactstore")
        }
        self.updated: list[str] = []

    def get(self, name: str) -> Any:
        return self.stored[name]

    def create_or_update(self, datastore: Any) -> Any:
        self.updated.append(datastore.name)
        self.stored[datastore.name] = datastore
        return datastore


class FakeSchedules:
    def __init__(self) -> None:
        self.created: list[Any] = []
        self.disabled: list[str] = []

    def begin_create_or_update(self, schedule: Any) -> Poller:
        self.created.append(schedule)
        return Poller(schedule)

    def begin_disable(self, name: str) -> Poller:
        self.disabled.append(name)
        return Poller(None)


class FakeModels:
    """A workspace's model registry: versions that exist (with their files), and the ones
    registered here, each with the digest of the files it pointed at when registered."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], Any] = {}
        self.files: dict[tuple[str, str], Path] = {}
        self.registered: list[tuple[Any, str]] = []

    def add(self, name: str, version: str, folder: Path, tags: dict[str, str]) -> None:
        from azure.ai.ml.entities import Model

        self.stored[(name, version)] = Model(
            name=name, version=version, path=str(folder), type="mlflow_model", tags=tags
        )
        self.files[(name, version)] = folder

    def get(self, name: str, version: str) -> Any:
        if (name, version) not in self.stored:
            raise not_found(f"model {name}:{version}")
        return self.stored[(name, version)]

    def download(self, name: str, version: str, download_path: str = ".") -> None:
        """The SDK's layout: <download_path>/<name>/<the registered folder's name>/..."""
        folder = self.files[(name, version)]
        shutil.copytree(folder, Path(download_path) / name / folder.name)

    def create_or_update(self, model: Any) -> Any:
        from {{ cookiecutter.package_name }}.lineage import model_digest

        self.registered.append((model, model_digest(Path(model.path))))
        self.stored[(model.name, model.version)] = model
        return model


class FakeWorkspaces:
    """A workspace created by the infrastructure: system datastores still on key access."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        self.workspace = SimpleNamespace(name="mlw-test", system_datastores_auth_mode="accessKey")
        self.updates: list[dict[str, Any]] = []

    def get(self, name: str) -> Any:
        return self.workspace

    def begin_update(self, workspace: Any, **changes: Any) -> Poller:
        self.updates.append(changes)
        for key, value in changes.items():
            setattr(self.workspace, key, value)
        return Poller(self.workspace)


class FakeMLClient:
    def __init__(self, statuses: list[str] | None = None, registration: dict | None = None):
        self.jobs = FakeJobs(statuses or ["Running"], registration)
        self.environments = FakeAssets("environment")
        self.data = FakeAssets("data")
        self.datastores = FakeDatastores()
        self.workspaces = FakeWorkspaces()
        self.schedules = FakeSchedules()
        self.models = FakeModels()
        self.workspace_name = "mlw-test"
