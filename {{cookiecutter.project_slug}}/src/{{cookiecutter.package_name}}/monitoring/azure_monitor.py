"""Azure ML definitions of the loop: the model monitor and the scheduled drift-and-retrain job.

- `monitor_schedule`: a `MonitorSchedule` with data drift, prediction drift and data quality
  signals over the online deployment's collected `model_inputs`/`model_outputs`, thresholds
  from `monitoring.drift` and `monitoring.azure`, alert e-mails from config. Azure computes it
  on serverless Spark and raises alerts (and Event Grid events).
- `drift_job_schedule`: a `JobSchedule` whose command job runs this package's own
  `monitor drift --data <collected inputs> --since <lookback> --retrain --backend azure` on the
  CPU cluster with its managed identity: the loop closes with no external glue.
- the collections themselves are turned on by `azure/endpoints.data_collector`, on the
  online deployment.

Everything is built without a workspace. Offline proof (tests): the command job and its
schedule pass `_validate()` and survive dump -> `load_job`/`load_schedule`; the monitor has no
local `_validate` (its resolution calls the workspace), so it is checked by load and
`_to_rest_object()`, the payload the service receives.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..config import PACKAGE_NAME, PROJECT_SLUG, Settings
from ..errors import PipelineError

if TYPE_CHECKING:
    from ..azure.workspace import WorkspaceCoordinates

MONITOR_FILE = "monitor_schedule.yml"
JOB_FILE = "drift_job.yml"
JOB_SCHEDULE_FILE = "drift_job_schedule.yml"
COLLECTED_INPUT = "${" + "{inputs.collected}}"  # Azure ML's input reference (kept out of Jinja)
COLLECTOR_ROOT = "azureml://datastores/workspaceblobstore/paths/modelDataCollector"


def _target(settings: Settings) -> tuple[str, str]:
    azure = settings.monitoring.azure
    if not azure.endpoint_name:
        raise PipelineError(
            "monitoring.azure.endpoint_name is not set: name the online endpoint to monitor "
            "in config/pipeline.yaml"
        )
    return azure.endpoint_name, azure.deployment_name


def _cron(expression: str) -> Any:
    from azure.ai.ml.entities import CronTrigger

    return CronTrigger(expression=expression, time_zone="UTC")


def monitor_schedule(settings: Settings) -> Any:
    from azure.ai.ml import Input
    from azure.ai.ml.entities import (
        AlertNotification,
        BaselineDataRange,
        CategoricalDriftMetrics,
        DataDriftMetricThreshold,
        DataDriftSignal,
        DataQualityMetricsCategorical,
        DataQualityMetricsNumerical,
        DataQualityMetricThreshold,
        DataQualitySignal,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        NumericalDriftMetrics,
        PredictionDriftMetricThreshold,
        PredictionDriftSignal,
        ProductionData,
        ReferenceData,
        ServerlessSparkCompute,
    )

    endpoint, deployment = _target(settings)
    azure, drift = settings.monitoring.azure, settings.monitoring.drift
    window = f"P{azure.lookback_days}D"

    def collected(kind: str) -> ProductionData:
        asset = Input(path=f"azureml:{endpoint}-{deployment}-{kind}:1", type="uri_folder")
        return ProductionData(
            input_data=asset,
            data_context=kind,
            data_window=BaselineDataRange(
                lookback_window_size=window, lookback_window_offset="P0D"
            ),
        )

    def reference(kind: str) -> ReferenceData:
        if azure.reference_data:  # the training reference, registered as an MLTable asset
            return ReferenceData(
                input_data=Input(path=azure.reference_data, type="mltable"), data_context="training"
            )
        # Otherwise the window before the current one: drift relative to last period.
        return ReferenceData(
            input_data=Input(path=f"azureml:{endpoint}-{deployment}-{kind}:1", type="uri_folder"),
            data_context=kind,
            data_window=BaselineDataRange(
                lookback_window_size=window, lookback_window_offset=window
            ),
        )

    numerical = NumericalDriftMetrics(normalized_wasserstein_distance=drift.min_effect)
    categorical = CategoricalDriftMetrics(jensen_shannon_distance=drift.min_effect)
    # The same data-quality bounds for numeric and categorical features.
    rates = {"null_value_rate": 0.05, "data_type_error_rate": 0.01, "out_of_bounds_rate": 0.05}
    quality_numerical = DataQualityMetricsNumerical(**rates)
    quality_categorical = DataQualityMetricsCategorical(**rates)
    signals = {
        "data_drift": DataDriftSignal(
            production_data=collected("model_inputs"),
            reference_data=reference("model_inputs"),
            features="all_features",
            metric_thresholds=DataDriftMetricThreshold(
                numerical=numerical, categorical=categorical
            ),
            alert_enabled=True,
        ),
        "prediction_drift": PredictionDriftSignal(
            production_data=collected("model_outputs"),
            reference_data=reference("model_outputs"),
            # A regressor's outputs are numbers: the numeric distance, as for numeric inputs.
            metric_thresholds=(
                PredictionDriftMetricThreshold(numerical=numerical)
                if settings.task == "regression"
                else PredictionDriftMetricThreshold(categorical=categorical)
            ),
            alert_enabled=True,
        ),
        "data_quality": DataQualitySignal(
            production_data=collected("model_inputs"),
            reference_data=reference("model_inputs"),
            features="all_features",
            metric_thresholds=DataQualityMetricThreshold(
                numerical=quality_numerical, categorical=quality_categorical
            ),
            alert_enabled=True,
        ),
    }
    return MonitorSchedule(
        name=f"{PROJECT_SLUG}-monitor",
        trigger=_cron(azure.monitor_cron),
        create_monitor=MonitorDefinition(
            compute=ServerlessSparkCompute(
                instance_type=azure.spark_instance_type, runtime_version=azure.spark_runtime_version
            ),
            monitoring_target=MonitoringTarget(
                ml_task="classification", endpoint_deployment_id=f"azureml:{endpoint}:{deployment}"
            ),
            monitoring_signals=signals,
            alert_notification=AlertNotification(emails=azure.alert_emails)
            if azure.alert_emails
            else None,
        ),
        tags={"project": PROJECT_SLUG, "model": settings.model_name},
    )


def drift_command(settings: Settings, coordinates: WorkspaceCoordinates) -> Any:
    """The command job: this package's CLI, on the CPU cluster, as the cluster's managed
    identity. Its snapshot has neither infra/ nor data/ (`.amlignore`), so the definition hands
    it the workspace coordinates (`workspace.job_environment_variables`) and the training data
    to retrain on: the data asset's latest version. The credential is the cluster identity,
    found through DEFAULT_IDENTITY_CLIENT_ID (`workspace.credential`)."""
    from azure.ai.ml import Input
    from azure.ai.ml.entities import CommandJob, ManagedIdentityConfiguration

    from ..azure.data_asset import DATA_ASSET_ENV, latest_data_asset
    from ..azure.workspace import job_environment_variables

    endpoint, deployment = _target(settings)
    azure = settings.monitoring.azure
    return CommandJob(
        display_name="drift-check-and-retrain",
        experiment_name=settings.tracking.experiment_name,
        command=(
            f"python -m {PACKAGE_NAME} monitor drift --data {COLLECTED_INPUT} "
            f"--since {azure.lookback_days}d --environment {coordinates.environment} "
            "--retrain --backend azure --no-fail-on-drift"
        ),
        code=str(settings.project_dir),
        inputs={
            "collected": Input(
                type="uri_folder", path=f"{COLLECTOR_ROOT}/{endpoint}/{deployment}/model_inputs"
            )
        },
        environment=azure.environment or _training_environment(settings),
        compute=coordinates.cpu_cluster_name,
        identity=ManagedIdentityConfiguration(),
        environment_variables={
            "PYTHONPATH": "src",
            **job_environment_variables(coordinates),
            DATA_ASSET_ENV: latest_data_asset(),
        },
        tags={"project": PROJECT_SLUG, "monitoring": "drift-retrain"},
    )


def _training_environment(settings: Settings) -> str:
    """The CPU training environment `azure submit` registers (same lock, same digest)."""
    from ..azure.environments import environment_specs

    spec = environment_specs(settings)["cpu"]
    return f"azureml:{spec.name}:{spec.version}"


def drift_job_schedule(settings: Settings, coordinates: WorkspaceCoordinates) -> Any:
    from azure.ai.ml.entities import JobSchedule

    return JobSchedule(
        name=f"{PROJECT_SLUG}-drift-retrain",
        trigger=_cron(settings.monitoring.azure.retrain_cron),
        create_job=drift_command(settings, coordinates),
        tags={"project": PROJECT_SLUG},
    )


def write_definitions(
    settings: Settings, coordinates: WorkspaceCoordinates, output: Path
) -> list[Path]:
    """Dry run: the three YAML files `az ml schedule create -f` / `load_schedule` accept."""
    output.mkdir(parents=True, exist_ok=True)
    monitor_path = output / MONITOR_FILE
    monitor_schedule(settings).dump(monitor_path)
    job = drift_command(settings, coordinates)
    job_dict = json.loads(json.dumps(job._to_dict()))  # plain dicts for YAML
    # Relative to the YAML, so the folder can be submitted from any checkout.
    job_dict["code"] = os.path.relpath(settings.project_dir, output.resolve())
    job_path = output / JOB_FILE
    job_path.write_text(yaml.safe_dump(job_dict, sort_keys=False))
    schedule = drift_job_schedule(settings, coordinates)
    schedule_dict = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/schedule.schema.json",
        "name": schedule.name,
        "trigger": {"type": "cron", "expression": schedule.trigger.expression, "time_zone": "UTC"},
        "create_job": f"./{JOB_FILE}",
        "tags": schedule.tags,
    }
    schedule_path = output / JOB_SCHEDULE_FILE
    schedule_path.write_text(yaml.safe_dump(schedule_dict, sort_keys=False))
    return [monitor_path, job_path, schedule_path]


def validate_definitions(output: Path) -> None:
    """Load what `write_definitions` wrote with the SDK's own loaders and validators."""
    from azure.ai.ml import load_job
    from azure.ai.ml.entities._load_functions import load_schedule

    job = load_job(output / JOB_FILE)
    job._validate().try_raise()
    schedule = load_schedule(output / JOB_SCHEDULE_FILE)
    schedule._validate().try_raise()
    monitor = load_schedule(output / MONITOR_FILE)
    monitor._to_rest_object()  # no local _validate exists for monitors


def create_schedules(
    settings: Settings, client: Any, coordinates: WorkspaceCoordinates
) -> list[str]:
    """Create or update both schedules in the workspace; returns their names."""
    names = []
    for schedule in (monitor_schedule(settings), drift_job_schedule(settings, coordinates)):
        created = client.schedules.begin_create_or_update(schedule).result()
        names.append(created.name)
    return names
