"""Build, submit and follow the training pipeline; read the gate's outcome from its outputs.

`submit_training` returns as soon as Azure ML accepted the job unless asked to wait, and a
wait always ends by its timeout (a CI job must never hang past its limit). Every Azure call
goes through the `MLClient` operations `jobs`, `environments`, `data`, `datastores` and
`schedules`, which tests replace with an in-memory stand-in.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import PipelineError
from .data_asset import DataAssetSpec, build_data_asset, data_asset_spec, resolve_latest
from .environments import EnvironmentSpec, build_environment, environment_specs
from .workspace import WorkspaceCoordinates, resolve_workspace

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled", "NotResponding"})
EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 124
POLL_SECONDS = 30.0
REGISTRATION_OUTPUT = "registration"


class AzureOperationError(PipelineError):
    """An Azure ML call failed; the message names the workspace and the object."""


@dataclass
class SubmissionResult:
    """What `azure submit --summary FILE` writes (plus the studio URL)."""

    job: str
    status: str
    studio_url: str | None = None
    promoted: bool = False
    model_name: str | None = None
    version: str | None = None
    digest: str | None = None
    reason: str | None = None
    timed_out: bool = False

    @property
    def exit_code(self) -> int:
        if self.timed_out:
            return EXIT_TIMEOUT
        return EXIT_FAILED if self.status in TERMINAL_STATUSES - {"Completed"} else EXIT_OK

    def summary(self) -> dict[str, Any]:
        keys = ("job", "status", "promoted", "model_name", "version", "digest", "reason")
        return {key: asdict(self)[key] for key in keys}


def azure_call(coordinates: WorkspaceCoordinates, action: str, call: Callable[[], Any]) -> Any:
    """Run one SDK call; a failure becomes one line naming the workspace and the object."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import AzureError

    try:
        return call()
    except (AzureError, MlException) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise AzureOperationError(
            f"{action} in {coordinates.describe()} failed: {type(error).__name__}: {first_line}"
        ) from None


def _exists(call: Callable[[], Any]) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        call()
    except ResourceNotFoundError:
        return False
    return True


def ensure_environments(
    client: Any, coordinates: WorkspaceCoordinates, specs: dict[str, EnvironmentSpec], work: Path
) -> list[str]:
    """Register each environment version that the workspace lacks; returns what was created."""
    created = []
    for kind, spec in specs.items():
        if _exists(lambda spec=spec: client.environments.get(spec.name, version=spec.version)):
            continue
        environment = build_environment(spec, work / "environments" / kind)
        azure_call(
            coordinates,
            f"Creating environment {spec.name}:{spec.version}",
            lambda environment=environment: client.environments.create_or_update(environment),
        )
        created.append(spec.reference)
    return created


def ensure_data_asset(
    client: Any, coordinates: WorkspaceCoordinates, spec: DataAssetSpec
) -> str | None:
    """Upload the training data as a new asset version unless that version exists."""
    exists = _exists(lambda: client.data.get(spec.name, version=spec.version))
    if exists:
        return None
    if spec.local_path is None:
        raise AzureOperationError(
            f"Data asset {spec.name}:{spec.version} (azure.data_asset) is not in "
            f"{coordinates.describe()}: register it there or unset azure.data_asset"
        )
    azure_call(
        coordinates,
        f"Creating data asset {spec.name}:{spec.version}",
        lambda: client.data.create_or_update(build_data_asset(spec)),
    )
    return spec.reference


def build_training_job(
    settings: Settings, coordinates: WorkspaceCoordinates, data: DataAssetSpec | None = None
) -> Any:
    from .pipeline_job import build_pipeline_job

    return build_pipeline_job(
        settings, coordinates, environment_specs(settings), data or data_asset_spec(settings)
    )


def wait_for_job(
    client: Any,
    coordinates: WorkspaceCoordinates,
    name: str,
    timeout_minutes: float,
    *,
    poll_seconds: float | None = None,
    on_status: Callable[[str], None] | None = None,
) -> tuple[str, bool]:
    """Poll until the job ends or the timeout passes: (last status, timed out)."""
    interval = POLL_SECONDS if poll_seconds is None else poll_seconds
    deadline = time.monotonic() + timeout_minutes * 60
    last = None
    while True:
        job = azure_call(coordinates, f"Reading job {name}", lambda: client.jobs.get(name))
        status = job.status
        if status != last and on_status is not None:
            on_status(status)
        last = status
        if status in TERMINAL_STATUSES:
            return status, False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return status, True
        time.sleep(min(interval, remaining))


def gate_outcome(client: Any, coordinates: WorkspaceCoordinates, name: str) -> dict[str, Any]:
    """The register step's record (registration.json) from the finished pipeline job."""
    with tempfile.TemporaryDirectory() as scratch:
        azure_call(
            coordinates,
            f"Downloading output '{REGISTRATION_OUTPUT}' of job {name}",
            lambda: client.jobs.download(
                name, output_name=REGISTRATION_OUTPUT, download_path=scratch
            ),
        )
        found = sorted(Path(scratch).rglob("registration.json"))
        if not found:
            raise AzureOperationError(
                f"Job {name} in {coordinates.describe()} has no registration.json in its "
                f"'{REGISTRATION_OUTPUT}' output"
            )
        return json.loads(found[0].read_text())


def submit_training(
    settings: Settings,
    client: Any,
    *,
    wait: bool,
    timeout_minutes: int,
    environment: str | None = None,
    on_status: Callable[[str], None] | None = None,
    poll_seconds: float | None = None,
) -> SubmissionResult:
    """Register what the pipeline needs (idempotent), submit it, and optionally wait.

    Without `wait` it returns once Azure ML accepted the job. With `wait`, it returns the
    gate's outcome when the job completed, or `timed_out=True` after `timeout_minutes`.
    """
    coordinates = resolve_workspace(settings, environment, require_subscription=False)
    with tempfile.TemporaryDirectory() as scratch:
        ensure_environments(client, coordinates, environment_specs(settings), Path(scratch))
        data = azure_call(
            coordinates,
            "Resolving the latest training data asset",
            lambda: resolve_latest(client, data_asset_spec(settings)),
        )
        ensure_data_asset(client, coordinates, data)
        job = build_training_job(settings, coordinates, data)
        submitted = azure_call(
            coordinates,
            f"Submitting pipeline job {job.display_name}",
            lambda: client.jobs.create_or_update(job, experiment_name=job.experiment_name),
        )
    result = SubmissionResult(
        job=submitted.name,
        status=submitted.status or "NotStarted",
        studio_url=submitted.studio_url,
        model_name=settings.model_name,
    )
    if not wait:
        return result
    result.status, result.timed_out = wait_for_job(
        client,
        coordinates,
        submitted.name,
        timeout_minutes,
        poll_seconds=poll_seconds,
        on_status=on_status,
    )
    if result.status == "Completed":
        record = gate_outcome(client, coordinates, submitted.name)
        # The gate's verdict: the version is to replace the champion. On Azure it becomes the
        # champion (production tag) only when `azure deploy` has rolled it out successfully.
        result.promoted = bool(record.get("candidate"))
        result.model_name = record.get("model_name", result.model_name)
        result.version = record.get("version")
        result.digest = record.get("digest")
        result.reason = record.get("reason")
    elif result.timed_out:
        result.reason = f"still {result.status} after {timeout_minutes} minutes"
    else:
        result.reason = f"pipeline job ended {result.status}"
    return result


@dataclass(frozen=True)
class StepStatus:
    name: str
    status: str


def job_status(
    client: Any, coordinates: WorkspaceCoordinates, name: str
) -> tuple[str, list[StepStatus], dict[str, Any] | None]:
    """The pipeline's status, one status per step, and the gate outcome once completed."""
    job = azure_call(coordinates, f"Reading job {name}", lambda: client.jobs.get(name))
    children = azure_call(
        coordinates,
        f"Listing the steps of job {name}",
        lambda: list(client.jobs.list(parent_job_name=name)),
    )
    steps = [StepStatus(child.display_name or child.name, child.status) for child in children]
    outcome = gate_outcome(client, coordinates, name) if job.status == "Completed" else None
    return job.status, steps, outcome


def write_dry_run(
    settings: Settings, output: Path, environment: str | None = None
) -> tuple[WorkspaceCoordinates, list[Path]]:
    """Write every object `submit` would create, as YAML, without contacting Azure."""
    from .data_asset import DataAssetSpec
    from .pipeline_job import ComputePlan, build_components, dump_objects
    from .schedule import build_schedule, write_schedule_yaml

    coordinates = resolve_workspace(settings, environment, require_subscription=False)
    specs = environment_specs(settings)
    data = data_asset_spec(settings)
    job = build_training_job(settings, coordinates)
    components = build_components(settings, specs, ComputePlan.for_settings(settings, coordinates))
    written = dump_objects(job, components, output)
    for kind, spec in specs.items():
        environment_object = build_environment(spec, output / "environments" / kind)
        path = output / "environments" / f"{kind}.yml"
        environment_object.dump(path)
        written.append(path)
    if isinstance(data, DataAssetSpec) and data.local_path is not None:
        path = output / "data" / "training_data.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        build_data_asset(data).dump(path)
        written.append(path)
    schedule = build_schedule(settings, job, coordinates.environment)
    written.append(write_schedule_yaml(schedule, "./pipeline_job.yml", output / "schedule.yml"))
    return coordinates, written
