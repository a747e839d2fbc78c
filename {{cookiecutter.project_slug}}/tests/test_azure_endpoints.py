"""Endpoint, deployment and batch job objects, validated offline by the SDK's own checks.

Each object is built by the project's builders, checked with `_validate()` and its REST form,
written as YAML and loaded back with the loader the docs name (`load_online_endpoint`,
`load_online_deployment`, `load_batch_endpoint`, `load_model_batch_deployment`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sdk():
    """The SDK and the builders, imported once (about 12 s)."""
    import azure.ai.ml as ml
    from azure.ai.ml.entities._load_functions import load_model_batch_deployment

    from {{ cookiecutter.package_name }}.azure import endpoints

    ml.load_model_batch_deployment = load_model_batch_deployment
    return ml, endpoints


def settings_for(private: bool, **deployment) -> Settings:
    settings = Settings(project_dir=PROJECT_DIR)
    return settings.model_copy(
        update={
            "deployment": settings.deployment.model_copy(update={"private": private, **deployment})
        }
    )


def test_default_names_follow_azure_rules_and_the_infra_hash(sdk) -> None:
    _, endpoints = sdk
    from azure.ai.ml.entities._endpoint._endpoint_helpers import (
        validate_endpoint_or_deployment_name,
    )

    infra = json.loads((PROJECT_DIR / "infra" / "settings.json").read_text())
    sys.path.insert(0, str(PROJECT_DIR / "infra"))
    try:
        from mlops_infra.naming import short_hash as infra_hash
    finally:
        sys.path.remove(str(PROJECT_DIR / "infra"))
    environments = [env.strip() for env in infra["environments"].split(",")]
    seen = set()
    for environment in environments:
        names = endpoints.endpoint_names(settings_for(True), environment)
        expected_hash = infra_hash(
            infra["project_slug"], infra["resource_prefix"], environment, infra["location"]
        )
        for name in (names.online, names.batch):
            assert 3 <= len(name) <= 32
            validate_endpoint_or_deployment_name(name)
            assert name.endswith(expected_hash)
            seen.add(name)
    assert len(seen) == 2 * len(environments)  # no two endpoints share a name
    for name in ("blue", "green", endpoints.BATCH_DEPLOYMENT_NAME):
        validate_endpoint_or_deployment_name(name, is_deployment=True)


@pytest.mark.parametrize("bad", ["1starts-with-digit", "x", "a" * 33, "ends-with-"])
def test_a_bad_configured_name_is_refused_with_the_setting_named(sdk, bad) -> None:
    _, endpoints = sdk
    with pytest.raises(endpoints.EndpointConfigError, match=r"deployment\.endpoint_name"):
        endpoints.endpoint_names(settings_for(True, endpoint_name=bad), "dev")


@pytest.mark.parametrize("private", [True, False], ids=["private", "public"])
def test_online_endpoint_is_keyless_and_private_when_the_workspace_is(sdk, tmp_path, private):
    ml, endpoints = sdk
    settings = settings_for(private)
    endpoint = endpoints.online_endpoint(settings, "ep-demo-dev-0a1b2c", "dev")
    path = endpoints.write_yaml(endpoint, tmp_path / "online-endpoint.yml")
    loaded = ml.load_online_endpoint(path)
    assert loaded.name == endpoint.name
    assert loaded.auth_mode == "aad_token"
    assert loaded.public_network_access == ("disabled" if private else "enabled")
    assert loaded._to_rest_online_endpoint(location="westeurope").properties.auth_mode == "AADToken"


@pytest.mark.parametrize("private", [True, False], ids=["private", "public"])
def test_online_deployment_validates_and_round_trips(sdk, tmp_path, private) -> None:
    ml, endpoints = sdk
    settings = settings_for(private)
    deployment = endpoints.online_deployment(
        settings,
        endpoint_name="ep-demo-dev-0a1b2c",
        deployment_name="green",
        version="7",
        digest="abc",
    )
    deployment._validate()
    rest = deployment._to_rest_object(location="westeurope")
    assert rest.properties.environment_variables["OMP_NUM_THREADS"] == "1"
    path = endpoints.write_yaml(
        deployment, tmp_path / "out" / "online-deployment.yml", code_dir=endpoints.SRC_DIR
    )
    loaded = ml.load_online_deployment(path)
    loaded._validate()
    config = settings.deployment
    assert loaded.model == f"{settings.model_name}:7"  # the exact version, never latest
    assert loaded.environment == endpoints.environment_reference(settings).removeprefix("azureml:")
    assert loaded.instance_type == config.instance_type
    assert loaded.instance_count == config.instance_count
    assert loaded.environment_variables == {"OMP_NUM_THREADS": "1", "WORKER_COUNT": "2"}
    assert loaded.request_settings.request_timeout_ms == config.request_timeout_ms
    assert loaded.liveness_probe.failure_threshold == config.liveness_probe.failure_threshold
    assert loaded.readiness_probe.period == config.readiness_probe.period
    assert loaded.egress_public_network_access == ("disabled" if private else "enabled")
    assert loaded.tags["model_digest"] == "abc"
    collections = loaded.data_collector.collections
    assert {name: c.enabled for name, c in collections.items()} == {
        "model_inputs": "true",
        "model_outputs": "true",
    }
    # The code folder and the scoring script it names exist where the YAML says.
    code = Path(loaded.code_configuration.code)
    code = code if code.is_absolute() else (path.parent / code).resolve()
    assert (code / loaded.code_configuration.scoring_script).is_file()


def test_batch_endpoint_and_deployment_validate_and_round_trip(sdk, tmp_path) -> None:
    ml, endpoints = sdk
    settings = settings_for(True)
    endpoint = endpoints.batch_endpoint(settings, "bep-demo-dev-0a1b2c", "dev")
    loaded_endpoint = ml.load_batch_endpoint(
        endpoints.write_yaml(endpoint, tmp_path / "batch-endpoint.yml")
    )
    assert loaded_endpoint.name == endpoint.name and loaded_endpoint.auth_mode == "aad_token"
    loaded_endpoint._to_rest_batch_endpoint(location="westeurope")

    deployment = endpoints.batch_deployment(
        settings, endpoint_name=endpoint.name, version="7", compute="cpu-cluster"
    )
    deployment._validate()
    deployment._to_rest_object(location="westeurope")
    path = endpoints.write_yaml(
        deployment, tmp_path / "batch-deployment.yml", code_dir=endpoints.SRC_DIR
    )
    loaded = ml.load_model_batch_deployment(path)
    loaded._validate()
    batch = settings.deployment.batch
    assert loaded.model == f"{settings.model_name}:7"
    assert loaded.compute == "cpu-cluster"
    assert loaded.resources.instance_count == batch.instance_count
    assert loaded.settings.mini_batch_size == batch.mini_batch_size
    assert loaded.settings.max_concurrency_per_instance == batch.max_concurrency_per_instance
    assert loaded.settings.error_threshold == batch.error_threshold
    assert loaded.settings.output_action == "append_row"
    assert loaded.settings.environment_variables["OMP_NUM_THREADS"] == "1"
    code = (path.parent / loaded.code_configuration.code).resolve()
    assert (code / loaded.code_configuration.scoring_script).is_file()
    # The generic loader refuses this (documented) format: the docs name the right one.
    with pytest.raises(Exception, match="settings"):
        ml.load_batch_deployment(path)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("data/new-customers/", "UriFolder"),
        ("azureml://datastores/workspaceblobstore/paths/in/x.csv", "UriFile"),
    ],
)
def test_batch_job_request_is_built_by_the_sdk_schema(sdk, path, kind) -> None:
    _, endpoints = sdk
    request = endpoints.batch_job_request(path, job_name="score-20260101")
    assert request == {
        "properties": {
            "inputData": {"input": {"jobInputType": kind, "uri": path}},
            "name": "score-20260101",
        }
    }


def test_autoscale_setting_targets_the_deployment_with_cpu_rules(sdk) -> None:
    _, endpoints = sdk
    settings = settings_for(True)
    deployment_id = (
        "/subscriptions/0/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
        "/workspaces/w/onlineEndpoints/ep/deployments/green"
    )
    body = endpoints.autoscale_setting(settings, deployment_id=deployment_id, location="westeurope")
    profile = body["properties"]["profiles"][0]
    scale = settings.deployment.autoscale
    assert body["properties"]["targetResourceUri"] == deployment_id
    assert profile["capacity"]["minimum"] == str(scale.min_instances)
    assert profile["capacity"]["maximum"] == str(scale.max_instances)
    directions = {
        rule["scaleAction"]["direction"]: rule["metricTrigger"] for rule in profile["rules"]
    }
    assert directions["Increase"]["threshold"] == scale.scale_out_cpu_percent
    assert directions["Decrease"]["threshold"] == scale.scale_in_cpu_percent
    assert {t["metricName"] for t in directions.values()} == {"CpuUtilizationPercentage"}

    flapping = settings.deployment.autoscale.model_copy(update={"scale_in_cpu_percent": 80})
    with pytest.raises(endpoints.EndpointConfigError, match="flap"):
        endpoints.autoscale_setting(
            settings_for(True, autoscale=flapping), deployment_id=deployment_id, location="x"
        )


def test_versions_and_environments_must_be_exact(sdk) -> None:
    _, endpoints = sdk
    with pytest.raises(endpoints.EndpointConfigError, match="version number"):
        endpoints.model_reference("demo", "latest")
    for bad in ("demo-cpu", "demo-cpu:latest", "demo-cpu@latest"):
        with pytest.raises(endpoints.EndpointConfigError, match="exact version"):
            endpoints.environment_reference(settings_for(True, environment=bad))
    assert (
        endpoints.environment_reference(settings_for(True, environment="env:3")) == "azureml:env:3"
    )


def test_the_yaml_is_plain_and_declares_its_schema(sdk, tmp_path) -> None:
    _, endpoints = sdk
    endpoint = endpoints.online_endpoint(settings_for(True), "ep-demo-dev-0a1b2c", "dev")
    text = endpoints.write_yaml(endpoint, tmp_path / "e.yml").read_text()
    assert "!!python" not in text
    assert yaml.safe_load(text)["$schema"].endswith("managedOnlineEndpoint.schema.json")
