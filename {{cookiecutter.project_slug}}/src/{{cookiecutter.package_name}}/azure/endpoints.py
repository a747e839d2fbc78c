"""The Azure ML endpoint objects a deployment creates, built without a workspace.

One builder per object: the managed online endpoint (Microsoft Entra token auth, no keys; no
public access when the workspace is private), its blue/green deployments (`serving/score.py`,
probes, request limits, `OMP_NUM_THREADS`), the batch endpoint and its deployment
(`serving/batch_driver.py` on the CPU cluster), the request body of a batch job, and the
autoscale setting of the live online deployment. The same objects are submitted by
`azure deploy` and written as YAML by `azure deploy --dry-run`, so what a reviewer reads is
what runs. This module imports the SDK (~12 s): import it inside commands, not at CLI start.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from azure.ai.ml import Input
from azure.ai.ml.constants import BatchDeploymentOutputAction
from azure.ai.ml.entities import (
    BatchEndpoint,
    BatchRetrySettings,
    CodeConfiguration,
    DataCollector,
    DeploymentCollection,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    OnlineRequestSettings,
    ProbeSettings,
    ResourceConfiguration,
)

from ..config import PROJECT_SLUG, DeploymentSettings, Settings
from ..config import ProbeSettings as ProbeConfig
from ..errors import PipelineError
from .environments import environment_specs
from .workspace import unique_suffix

RESOURCE_PREFIX = "{{ cookiecutter.resource_prefix }}"

# Azure: 3-32 characters, a letter first, then letters, digits and hyphens; unique per region.
ENDPOINT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
BATCH_DEPLOYMENT_NAME = "champion"
PREDICTIONS_FILE = "predictions.csv"
SRC_DIR = Path(__file__).resolve().parents[2]  # src/, uploaded as the deployments' code
PACKAGE = Path(__file__).resolve().parents[1].name


class EndpointConfigError(PipelineError):
    """An endpoint setting cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class EndpointNames:
    online: str
    batch: str


def data_collector() -> DataCollector:
    """Collect every request's inputs and outputs (`model_inputs`, `model_outputs`): the
    Azure ML model monitor (monitoring/azure_monitor.py) reads its production data there."""
    return DataCollector(
        collections={
            "model_inputs": DeploymentCollection(enabled="true"),
            "model_outputs": DeploymentCollection(enabled="true"),
        },
        sampling_rate=1.0,
    )


def endpoint_names(settings: Settings, environment: str) -> EndpointNames:
    """Configured names, or `ep-`/`bep-<prefix>-<env>-<hash>`: unique per project, environment
    and region like the workspace's name, and within Azure's 32 characters."""
    unique = unique_suffix(settings.project_dir, environment)
    config = settings.deployment
    names = EndpointNames(
        online=config.endpoint_name or f"ep-{RESOURCE_PREFIX}-{environment}-{unique}",
        batch=config.batch_endpoint_name or f"bep-{RESOURCE_PREFIX}-{environment}-{unique}",
    )
    for key, name in (("endpoint_name", names.online), ("batch_endpoint_name", names.batch)):
        if not ENDPOINT_NAME.match(name):
            raise EndpointConfigError(
                f"deployment.{key} '{name}' is not a valid endpoint name: 3-32 letters, digits "
                "and hyphens, starting with a letter and not ending with a hyphen"
            )
    return names


def environment_reference(settings: Settings) -> str:
    """The configured environment, or the CPU image `azure setup`/`azure submit` register
    (versioned by content, never `latest`): the same pinned packages the project runs locally."""
    name = settings.deployment.environment or environment_specs(settings)["cpu"].reference
    if ":" not in name or name.endswith(":latest") or "@latest" in name:
        raise EndpointConfigError(
            f"deployment.environment '{name}' must name an exact version, 'name:version'"
        )
    return name if name.startswith("azureml:") else f"azureml:{name}"


def model_reference(model_name: str, version: str) -> str:
    """An exact registered version, never `@latest`."""
    if not str(version).isdigit():
        raise EndpointConfigError(f"model version '{version}' must be a version number")
    return f"azureml:{model_name}:{version}"


def _tags(model_name: str, version: str, digest: str | None) -> dict[str, str]:
    tags = {"model": model_name, "model_version": str(version), "project": PROJECT_SLUG}
    if digest:
        tags["model_digest"] = digest
    return tags


def online_endpoint(settings: Settings, name: str, environment: str) -> ManagedOnlineEndpoint:
    return ManagedOnlineEndpoint(
        name=name,
        description=f"{PROJECT_SLUG} ({environment}): blue/green online scoring",
        auth_mode="aad_token",  # Microsoft Entra tokens only: there are no keys to leak
        public_network_access="disabled" if settings.deployment.private else "enabled",
        tags={"project": PROJECT_SLUG, "environment": environment},
    )


def _probe(config: ProbeConfig) -> ProbeSettings:
    return ProbeSettings(
        initial_delay=config.initial_delay,
        period=config.period,
        timeout=config.timeout,
        failure_threshold=config.failure_threshold,
        success_threshold=config.success_threshold,
    )


def deployment_environment_variables(config: DeploymentSettings) -> dict[str, str]:
    """What the scoring server needs on Azure: one BLAS/OpenMP thread per worker (workers are
    processes; thread pools per request only add contention) and the worker count."""
    return {
        "OMP_NUM_THREADS": str(config.omp_num_threads),
        "WORKER_COUNT": str(config.workers),
    }


def online_deployment(
    settings: Settings,
    *,
    endpoint_name: str,
    deployment_name: str,
    version: str,
    digest: str | None = None,
    code_dir: Path | str = SRC_DIR,
) -> ManagedOnlineDeployment:
    config = settings.deployment
    return ManagedOnlineDeployment(
        name=deployment_name,
        endpoint_name=endpoint_name,
        model=model_reference(settings.model_name, version),
        environment=environment_reference(settings),
        code_configuration=CodeConfiguration(
            code=str(code_dir), scoring_script=f"{PACKAGE}/serving/score.py"
        ),
        instance_type=config.instance_type,
        instance_count=config.instance_count,
        environment_variables=deployment_environment_variables(config),
        request_settings=OnlineRequestSettings(
            request_timeout_ms=config.request_timeout_ms,
            max_concurrent_requests_per_instance=config.max_concurrent_requests_per_instance,
            max_queue_wait_ms=config.max_queue_wait_ms,
        ),
        liveness_probe=_probe(config.liveness_probe),
        readiness_probe=_probe(config.readiness_probe),
        egress_public_network_access="disabled" if config.private else "enabled",
        app_insights_enabled=True,
        # Inputs and outputs of every request, for the model monitor (docs/monitoring.md).
        data_collector=data_collector(),
        tags=_tags(settings.model_name, version, digest),
    )


def batch_endpoint(settings: Settings, name: str, environment: str) -> BatchEndpoint:
    return BatchEndpoint(
        name=name,
        description=f"{PROJECT_SLUG} ({environment}): batch scoring with the champion",
        tags={"project": PROJECT_SLUG, "environment": environment},
    )


def batch_deployment(
    settings: Settings,
    *,
    endpoint_name: str,
    version: str,
    compute: str,
    digest: str | None = None,
    code_dir: Path | str = SRC_DIR,
) -> ModelBatchDeployment:
    config = settings.deployment
    batch = config.batch
    return ModelBatchDeployment(
        name=BATCH_DEPLOYMENT_NAME,
        endpoint_name=endpoint_name,
        model=model_reference(settings.model_name, version),
        environment=environment_reference(settings),
        code_configuration=CodeConfiguration(
            code=str(code_dir), scoring_script=f"{PACKAGE}/serving/batch_driver.py"
        ),
        compute=compute if compute.startswith("azureml:") else f"azureml:{compute}",
        resources=ResourceConfiguration(instance_count=batch.instance_count),
        settings=ModelBatchDeploymentSettings(
            mini_batch_size=batch.mini_batch_size,
            max_concurrency_per_instance=batch.max_concurrency_per_instance,
            output_action=BatchDeploymentOutputAction.APPEND_ROW,
            output_file_name=PREDICTIONS_FILE,
            error_threshold=batch.error_threshold,
            retry_settings=BatchRetrySettings(
                max_retries=batch.max_retries, timeout=batch.timeout_seconds
            ),
            logging_level="info",
            environment_variables={
                "OMP_NUM_THREADS": str(config.omp_num_threads),
                "BATCH_CHUNK_ROWS": str(batch.chunk_rows),
            },
        ),
        tags=_tags(settings.model_name, version, digest),
    )


def batch_job_input(path: str) -> Input:
    """A file or folder to score: a local path (uploaded), a datastore URI or a data asset."""
    is_file = Path(path).suffix.lower() in {".csv", ".parquet", ".pq"}
    return Input(type="uri_file" if is_file else "uri_folder", path=path)


def batch_job_request(path: str, *, job_name: str | None = None) -> dict[str, Any]:
    """The request body `batch_endpoints.invoke` posts, built by the SDK's own schema (the
    batch job has no entity class): what `azure score-batch` submits, checkable offline."""
    from azure.ai.ml._schema._deployment.batch.batch_job import BatchJobSchema
    from azure.ai.ml.constants._common import BASE_PATH_CONTEXT_KEY, PARAMS_OVERRIDE_KEY

    override: list[dict[str, Any]] = [{"input_data": {"input": batch_job_input(path)}}]
    if job_name:
        override.append({"job_name": job_name})
    context = {BASE_PATH_CONTEXT_KEY: Path.cwd(), PARAMS_OVERRIDE_KEY: override}
    return {"properties": BatchJobSchema(context=context).load(data={})}


def autoscale_setting(
    settings: Settings,
    *,
    deployment_id: str,
    location: str,
) -> dict[str, Any]:
    """An Azure Monitor autoscale setting (Microsoft.Insights/autoscaleSettings, 2022-10-01) for
    one online deployment: scale out on high CPU, in on low CPU, between min and max."""
    scale = settings.deployment.autoscale
    if scale.max_instances < scale.min_instances:
        raise EndpointConfigError(
            f"deployment.autoscale.max_instances ({scale.max_instances}) is below "
            f"min_instances ({scale.min_instances})"
        )
    if scale.scale_in_cpu_percent >= scale.scale_out_cpu_percent:
        raise EndpointConfigError(
            "deployment.autoscale.scale_in_cpu_percent must be below scale_out_cpu_percent, "
            "or the deployment would flap"
        )
    cooldown = f"PT{scale.cooldown_minutes}M"

    def rule(operator: str, threshold: int, direction: str) -> dict[str, Any]:
        return {
            "metricTrigger": {
                "metricName": "CpuUtilizationPercentage",
                "metricResourceUri": deployment_id,
                "timeGrain": "PT1M",
                "statistic": "Average",
                "timeWindow": "PT5M",
                "timeAggregation": "Average",
                "operator": operator,
                "threshold": threshold,
            },
            "scaleAction": {
                "direction": direction,
                "type": "ChangeCount",
                "value": "1",
                "cooldown": cooldown,
            },
        }

    return {
        "location": location,
        "properties": {
            "enabled": scale.enabled,
            "targetResourceUri": deployment_id,
            "profiles": [
                {
                    "name": "cpu",
                    "capacity": {
                        "minimum": str(scale.min_instances),
                        "maximum": str(scale.max_instances),
                        "default": str(
                            max(settings.deployment.instance_count, scale.min_instances)
                        ),
                    },
                    "rules": [
                        rule("GreaterThan", scale.scale_out_cpu_percent, "Increase"),
                        rule("LessThan", scale.scale_in_cpu_percent, "Decrease"),
                    ],
                }
            ],
        },
    }


def as_yaml_dict(entity: Any) -> dict[str, Any]:
    """The entity's YAML form. `dump()` of endpoints writes nothing (it returns a dict), and
    nested values are OrderedDicts, so this returns plain data for `yaml.safe_dump`."""
    return json.loads(json.dumps(entity._to_dict()))


def write_yaml(entity: Any, path: Path, *, code_dir: Path | None = None) -> Path:
    """Write `entity` as the YAML `az ml ... create --file` and the SDK loaders read.

    `code_dir` (the deployments' code) is written relative to the file, as the loaders resolve
    it, so the folder can be moved together with the project."""
    data = as_yaml_dict(entity)
    if code_dir is not None and "code_configuration" in data:
        relative = os.path.relpath(code_dir, path.parent)
        data["code_configuration"]["code"] = relative
    schema = SCHEMAS.get(type(entity).__name__)
    if schema:
        data = {"$schema": schema, **data}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


SCHEMAS = {
    "ManagedOnlineEndpoint": "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
    "ManagedOnlineDeployment": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
    "BatchEndpoint": "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json",
    "ModelBatchDeployment": "https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json",
}
