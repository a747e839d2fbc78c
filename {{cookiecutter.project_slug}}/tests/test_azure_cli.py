"""`azure setup|submit|status|schedule` against an in-memory stand-in for `MLClient`.

Submit returns without waiting, `--wait` ends by its timeout (exit 124), a failed job exits 1,
and an Azure error is one line naming the workspace and the object.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure_fixtures import FakeMLClient, azure_project
from conftest import PROJECT_DIR
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.azure import submit as submit_module
from {{ cookiecutter.package_name }}.azure import workspace
from {{ cookiecutter.package_name }}.cli import app

FIRST = "{{ cookiecutter.environments.split(',')[0].strip() }}"  # the default environment
LAST = "{{ cookiecutter.environments.split(',')[-1].strip() }}"
REGISTRATION = {
    "model_name": "{{ cookiecutter.package_name }}",
    "version": "7",
    "candidate": False,
    "reason": "challenger 0.81 does not beat champion v6 0.83 by 0.001",
    "champion_version": "6",
    "digest": "d7",
}


@pytest.fixture
def project(aml, tmp_path: Path, empty_store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    monkeypatch.delenv("AZURE_RESOURCE_GROUP", raising=False)
    monkeypatch.delenv("AZURE_ML_WORKSPACE", raising=False)
    monkeypatch.setattr(submit_module, "POLL_SECONDS", 0.01)
    return azure_project(tmp_path, empty_store)


def use(client: FakeMLClient, monkeypatch: pytest.MonkeyPatch) -> FakeMLClient:
    monkeypatch.setattr(workspace, "ml_client", lambda settings, environment=None: client)
    return client


def azure(project: Path, *args: str):
    config = str(project / "config" / "pipeline.yaml")
    return CliRunner().invoke(app, ["azure", *args, "--config", config])


def test_submit_returns_at_once_with_the_job_and_its_studio_url(project, monkeypatch) -> None:
    client = use(FakeMLClient(["Running"]), monkeypatch)
    result = azure(project, "submit")
    assert result.exit_code == 0, result.output
    assert "Submitted job-1: https://ml.azure.com/runs/job-1" in result.output
    assert client.jobs.gets == 0  # not waited on
    _, experiment = client.jobs.submitted[0]
    assert experiment == "{{ cookiecutter.package_name }}"
    # Environments and the data asset were registered first, once.
    assert sorted(e.name for e in client.environments.created) == [
        "{{ cookiecutter.project_slug }}-cpu",
        "{{ cookiecutter.project_slug }}-gpu",
    ]
    assert len(client.data.created) == 1
    assert azure(project, "submit").exit_code == 0
    assert len(client.environments.created) == 2 and len(client.data.created) == 1


def test_run_overrides_reach_the_component_commands(project, monkeypatch) -> None:
    """`run --backend azure --primary-metric M --model-family F`: the steps on
    Azure ML read the same settings the laptop shaped the job with, not the file again."""
    from {{ cookiecutter.package_name }}.config import load_settings

    client = use(FakeMLClient(["Running"]), monkeypatch)
    config = str(project / "config" / "pipeline.yaml")
    file_settings = load_settings(project / "config" / "pipeline.yaml")
    metric = "precision" if file_settings.evaluation.primary_metric != "precision" else "recall"
    family = "logistic_regression"
    if file_settings.model.family == family:
        family = "random_forest"
    arguments = ["run", "--backend", "azure", "--config", config]
    result = CliRunner().invoke(
        app, [*arguments, "--primary-metric", metric, "--model-family", family]
    )
    assert result.exit_code == 0, result.output
    job, _ = client.jobs.submitted[0]
    commands = {name: step.component.command for name, step in job.jobs.items()}
    assert commands and all("--config config/submitted.yaml" in c for c in commands.values())
    submitted = project / "config" / "submitted.yaml"
    # What `evaluate --config config/submitted.yaml` reads in the code snapshot:
    seen = load_settings(submitted)
    assert (seen.evaluation.primary_metric, seen.model.family) == (metric, family)
    assert seen.backend == "local" and seen.project_dir == project.resolve()
    # A later submission without overrides goes back to the file's settings.
    assert CliRunner().invoke(app, arguments).exit_code == 0
    assert load_settings(submitted).model.family == file_settings.model.family


def test_wait_reports_the_gate_and_writes_the_summary(project, monkeypatch, tmp_path) -> None:
    use(FakeMLClient(["Running", "Running", "Completed"], REGISTRATION), monkeypatch)
    summary = tmp_path / "out" / "summary.json"
    result = azure(project, "submit", "--wait", "--timeout-minutes", "5", "--summary", str(summary))
    assert result.exit_code == 0, result.output  # the gate kept the champion: still success
    assert "status: Running" in result.output and "status: Completed" in result.output
    assert json.loads(summary.read_text()) == {
        "job": "job-1",
        "status": "Completed",
        "promoted": False,
        "model_name": "{{ cookiecutter.package_name }}",
        "version": "7",
        "digest": "d7",
        "reason": REGISTRATION["reason"],
    }


def test_wait_honours_its_timeout_with_exit_124(project, monkeypatch, tmp_path) -> None:
    client = use(FakeMLClient(["Running"]), monkeypatch)
    summary = tmp_path / "summary.json"
    result = azure(project, "submit", "--wait", "--timeout-minutes", "0", "--summary", str(summary))
    assert result.exit_code == 124, result.output
    assert client.jobs.gets == 1
    assert json.loads(summary.read_text())["status"] == "Running"


def test_a_failed_job_exits_1(project, monkeypatch) -> None:
    use(FakeMLClient(["Running", "Failed"]), monkeypatch)
    result = azure(project, "submit", "--wait", "--timeout-minutes", "5")
    assert result.exit_code == 1
    assert "pipeline job ended Failed" in result.output


def test_azure_errors_name_the_workspace_and_the_object(project, monkeypatch) -> None:
    from azure.core.exceptions import HttpResponseError

    client = use(FakeMLClient(), monkeypatch)
    client.jobs.error = HttpResponseError("Quota exceeded for cpu-cluster")
    result = azure(project, "submit")
    assert result.exit_code == 1
    message = result.output.replace("\n", " ")
    assert "Submitting pipeline job {{ cookiecutter.package_name }} training" in message
    assert "workspace 'mlw-" in message and f"rg-{{ cookiecutter.project_slug }}-{FIRST}" in message
    assert "Quota exceeded" in message and "Traceback" not in message


def test_missing_subscription_is_named(project, monkeypatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    result = azure(project, "status", "job-1")
    assert result.exit_code == 1
    assert "AZURE_SUBSCRIPTION_ID" in result.output


def test_status_prints_each_step_and_the_gate(project, monkeypatch) -> None:
    use(FakeMLClient(["Completed"], REGISTRATION), monkeypatch)
    result = azure(project, "status", "job-1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:5] == [
        "job-1: Completed",
        "  prepare: Completed",
        "  train: Completed",
        "  evaluate: Completed",
        "  register: Completed",
    ]
    assert "gate: v7 not promoted" in result.output
    as_json = json.loads(azure(project, "status", "job-1", "--json").output)
    assert as_json["gate"]["version"] == "7" and as_json["steps"]["train"] == "Completed"
    unknown = azure(project, "status", "job-404")
    assert unknown.exit_code == 1 and "Reading job job-404" in unknown.output


def test_schedule_creates_then_disables(project, monkeypatch) -> None:
    client = use(FakeMLClient(), monkeypatch)
    result = azure(project, "schedule", "--environment", LAST)
    assert result.exit_code == 0, result.output
    (schedule,) = client.schedules.created
    assert schedule.name == f"{{ cookiecutter.project_slug }}-retrain-{LAST}"
    assert schedule.trigger.expression == "0 3 * * 1"
    assert schedule.create_job.tags["environment"] == LAST
    assert azure(project, "schedule", "--environment", LAST, "--disable").exit_code == 0
    assert client.schedules.disabled == [f"{{ cookiecutter.project_slug }}-retrain-{LAST}"]


def test_setup_switches_datastores_to_identity_and_is_idempotent(project, monkeypatch) -> None:
    client = use(FakeMLClient(), monkeypatch)
    first = azure(project, "setup")
    assert first.exit_code == 0, first.output
    assert "datastores: workspaceblobstore, workspaceartifactstore" in first.output
    assert "workspace: system datastores: identity" in first.output
    assert client.workspaces.updates == [{"system_datastores_auth_mode": "identity"}]
    assert len(client.environments.created) == 2 and len(client.data.created) == 1
    second = azure(project, "setup")
    assert second.exit_code == 0
    assert second.output.count("up to date") == 4
    assert len(client.workspaces.updates) == 1
    assert client.datastores.updated == ["workspaceblobstore", "workspaceartifactstore"]


def test_coordinates_config_then_variables_then_infra_names(tmp_path, empty_store, monkeypatch):
    import sys

    from {{ cookiecutter.package_name }}.config import load_settings

    sys.path.insert(0, str(PROJECT_DIR / "infra"))
    try:
        from mlops_infra.naming import Names
    finally:
        sys.path.remove(str(PROJECT_DIR / "infra"))
    infra = json.loads((PROJECT_DIR / "infra" / "settings.json").read_text())
    names = Names(infra["project_slug"], infra["resource_prefix"], LAST, infra["location"])
    project = azure_project(tmp_path, empty_store, workspace_name="mlw-from-config")
    settings = load_settings(project / "config" / "pipeline.yaml")
    for variable in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_ML_WORKSPACE"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(workspace.AzureConfigError, match="AZURE_SUBSCRIPTION_ID"):
        workspace.resolve_workspace(settings, LAST)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub")
    found = workspace.resolve_workspace(settings, LAST)
    assert found.workspace_name == "mlw-from-config"
    assert found.resource_group_name == names.resource_group
    assert found.derived == ("resource_group_name", "cpu_cluster_name", "gpu_cluster_name")
    monkeypatch.setenv("AZURE_ML_WORKSPACE", "mlw-from-variable")
    assert workspace.resolve_workspace(settings, LAST).workspace_name == "mlw-from-variable"
    monkeypatch.delenv("AZURE_ML_WORKSPACE")
    settings.azure.workspace_name = None
    assert workspace.resolve_workspace(settings, LAST).workspace_name == names.workspace
    with pytest.raises(workspace.AzureConfigError, match="not one of"):
        workspace.resolve_workspace(settings, "nosuchenv")


def test_train_param_must_be_key_equals_value(project) -> None:
    config = str(project / "config" / "pipeline.yaml")
    arguments = ["--train-data", "x.parquet", "--output", "out", "--param", "max_depth"]
    result = CliRunner().invoke(app, ["train", "--config", config, *arguments])
    assert result.exit_code == 1
    assert "--param 'max_depth' is not KEY=VALUE" in result.output
