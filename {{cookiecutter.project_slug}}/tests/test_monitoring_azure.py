"""The Azure ML side of the loop, built and validated offline with the SDK's own loaders.

The command job and its schedule pass `_validate()` after a dump -> load round trip. A
`MonitorSchedule` has no local `_validate` (its resolution calls the workspace): the best
offline proof is that `load_schedule` accepts the YAML and `_to_rest_object()` builds the
request the service would receive, with our signals, thresholds and e-mails in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import write_config
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import load_settings


@pytest.fixture(scope="module")
def sdk():
    """azure-ai-ml costs ~12 s to import: once per module."""
    from azure.ai.ml import load_job
    from azure.ai.ml.entities._load_functions import load_schedule

    return load_job, load_schedule


def configured(project: Path) -> Path:
    config = yaml.safe_load((project / "config" / "pipeline.yaml").read_text())
    config["azure"].update(
        subscription_id="00000000-0000-0000-0000-000000000000",
        resource_group_name="rg-churn-dev",
        workspace_name="mlw-churn-dev",
        cpu_cluster_name="cpu-cluster",
        gpu_cluster_name="gpu-cluster",
        environment="dev",
    )
    config["monitoring"]["azure"].update(
        endpoint_name="churn-online",
        deployment_name="green",
        alert_emails=["ml-team@example.com"],
        environment="azureml:churn-train@3",
        lookback_days=3,
    )
    config["monitoring"]["drift"]["min_effect"] = 0.15
    return write_config(project, config)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_monitor_schedule_and_drift_job_validate_offline(
    task: str, request: pytest.FixtureRequest, sdk
) -> None:
    project = request.getfixturevalue(
        "project" if task == "classification" else "regression_project"
    )
    load_job, load_schedule = sdk
    config = configured(project)
    output = project / "azure-monitoring"
    result = CliRunner().invoke(
        app, ["monitor", "schedule", "--dry-run", "--output", str(output), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("wrote and validated") == 3

    job = load_job(output / "drift_job.yml")
    assert job._validate().passed
    assert job.command == (
        "python -m {{ cookiecutter.package_name }} monitor drift --data ${{ '{{' }}inputs.collected{{ '}}' }} "
        "--since 3d --environment dev --retrain --backend azure --no-fail-on-drift"
    )
    assert job.compute == "cpu-cluster"
    assert job.identity.type == "managed_identity"
    # The snapshot has no infra/ or data/: the job is told where it runs and what to train on.
    assert job.environment_variables == {
        "PYTHONPATH": "src",
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg-churn-dev",
        "AZURE_ML_WORKSPACE": "mlw-churn-dev",
        "AZURE_ML_ENVIRONMENT": "dev",
        "AZURE_ML_CPU_CLUSTER": "cpu-cluster",
        "AZURE_ML_GPU_CLUSTER": "gpu-cluster",
        "AZURE_ML_DATA_ASSET": "{{ cookiecutter.project_slug }}-training-data@latest",
    }
    assert job.inputs["collected"].path.endswith("/churn-online/green/model_inputs")
    assert (output / job.code).resolve() == project.resolve()  # relative to the YAML

    schedule = load_schedule(output / "drift_job_schedule.yml")
    assert schedule._validate().passed
    assert schedule.create_job.command == job.command

    monitor = load_schedule(output / "monitor_schedule.yml")
    rest = monitor._to_rest_object().as_dict()  # the service's wire format (camelCase)
    definition = rest["properties"]["action"]["monitorDefinition"]
    signals = definition["signals"]
    assert {name: s["signalType"] for name, s in signals.items()} == {
        "data_drift": "DataDrift",
        "prediction_drift": "PredictionDrift",
        "data_quality": "DataQuality",
    }
    assert definition["monitoringTarget"]["deploymentId"] == "azureml:churn-online:green"
    drift_thresholds = {
        t["metric"]: t["threshold"]["value"] for t in signals["data_drift"]["metricThresholds"]
    }
    assert drift_thresholds == {
        "normalizedWassersteinDistance": 0.15,
        "jensenShannonDistance": 0.15,
    }
    # Predictions drift by the distance of their kind: class labels or a regressor's numbers.
    prediction_thresholds = {
        t["metric"]: t["threshold"]["value"]
        for t in signals["prediction_drift"]["metricThresholds"]
    }
    distance = {
        "classification": "jensenShannonDistance",
        "regression": "normalizedWassersteinDistance",
    }
    assert prediction_thresholds == {distance[task]: 0.15}
    production = signals["prediction_drift"]["productionData"]
    assert production["dataContext"] == "model_outputs" and production["windowSize"] == "P3D"
    assert "ml-team@example.com" in str(definition["alertNotificationSetting"])


def test_schedule_without_an_endpoint_is_a_clear_error(project: Path) -> None:
    config = configured(project)
    settings = yaml.safe_load(config.read_text())
    settings["monitoring"]["azure"]["endpoint_name"] = None
    write_config(project, settings)
    arguments = ["monitor", "schedule", "--dry-run", "--output", str(project / "x")]
    result = CliRunner().invoke(app, [*arguments, "--config", str(config)])
    assert result.exit_code == 1
    assert "monitoring.azure.endpoint_name is not set" in result.output + result.stderr


def test_data_collector_turns_both_collections_on(sdk) -> None:
    from {{ cookiecutter.package_name }}.azure.endpoints import data_collector

    collector = data_collector()
    assert set(collector.collections) == {"model_inputs", "model_outputs"}
    assert all(c.enabled == "true" for c in collector.collections.values())


def test_drift_settings_reach_the_monitor(project: Path, sdk) -> None:
    from {{ cookiecutter.package_name }}.monitoring.azure_monitor import monitor_schedule

    settings = load_settings(configured(project))
    monitor = monitor_schedule(settings)
    drift = monitor.create_monitor.monitoring_signals["data_drift"]
    assert drift.metric_thresholds.numerical.normalized_wasserstein_distance == 0.15
    assert drift.metric_thresholds.categorical.jensen_shannon_distance == 0.15
    assert monitor.create_monitor.alert_notification.emails == ["ml-team@example.com"]
    assert monitor.trigger.expression == settings.monitoring.azure.monitor_cron
