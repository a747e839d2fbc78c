"""Every Azure ML object the project submits, built offline and checked by the SDK itself.

`azure submit --dry-run` writes them; the SDK's loaders must accept what was written
(`load_job`, `load_component`, ... validate against Azure ML's schemas), `_validate()` must
pass, and a dump of the loaded object must equal the first dump (an exact round trip).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from azure_fixtures import azure_project
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import load_settings

STEPS = ("prepare", "train", "evaluate", "register")


def dry_run(project: Path, output: Path) -> str:
    config = str(project / "config" / "pipeline.yaml")
    result = CliRunner().invoke(
        app, ["azure", "submit", "--dry-run", "--output", str(output), "--config", config]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def written(aml, tmp_path_factory: pytest.TempPathFactory, empty_store: Path):
    """The default project's dry run, with no Azure settings at all."""
    project = azure_project(tmp_path_factory.mktemp("azure-project"), empty_store)
    output = tmp_path_factory.mktemp("dry-run")
    return project, output, dry_run(project, output)


@pytest.fixture(scope="module")
def gpu_sweep(aml, tmp_path_factory: pytest.TempPathFactory, empty_store: Path):
    """xgboost on the GPU cluster, tuned by an Azure ML sweep."""
    project = azure_project(
        tmp_path_factory.mktemp("azure-sweep"),
        empty_store,
        sweep={
            "enabled": True,
            "search_space": {
                "max_depth": {"type": "choice", "values": [3, 4, 6]},
                "learning_rate": {"type": "loguniform", "min_value": 0.02, "max_value": 0.3},
            },
        },
    )
    config = yaml.safe_load((project / "config" / "pipeline.yaml").read_text())
    config["model"]["family"] = "xgboost"
    (project / "config" / "pipeline.yaml").write_text(yaml.safe_dump(config))
    output = tmp_path_factory.mktemp("dry-run-sweep")
    dry_run(project, output)
    return project, output


def _without_anonymous_names(document: dict) -> dict:
    """Inline components have no version, and the loader names them `azureml_anonymous`
    (Azure ML registers them by content hash on submit): that is the one expected change."""
    for node in document.get("jobs", {}).values():
        component = node.get("component") if isinstance(node, dict) else None
        if isinstance(component, dict) and component.get("version") in (None, "1"):
            component.pop("name", None)
            component.pop("version", None)
        trial = node.get("trial") if isinstance(node, dict) else None
        if isinstance(trial, dict) and trial.get("version") in (None, "1"):
            trial.pop("name", None)
            trial.pop("version", None)
    return document


def round_trips(loader, path: Path, tmp_path: Path) -> object:
    """Load, dump again, compare with the first dump; returns the loaded object."""
    loaded = loader(path)
    again = tmp_path / f"again-{path.name}"
    loaded.dump(again)
    first = _without_anonymous_names(yaml.safe_load(path.read_text()))
    assert _without_anonymous_names(yaml.safe_load(again.read_text())) == first
    return loaded


def test_dry_run_needs_no_azure_settings_and_says_which_names_it_derived(written) -> None:
    _, output, said = written
    first = "{{ cookiecutter.environments.split(',')[0].strip() }}"
    assert f"derived from infra/ for environment '{first}'" in said
    assert "workspace_name=mlw-" in said
    names = sorted(p.relative_to(output).as_posix() for p in output.rglob("*.yml"))
    assert names == [
        "components/evaluate.yml",
        "components/prepare.yml",
        "components/register.yml",
        "components/train.yml",
        "data/training_data.yml",
        "environments/cpu.yml",
        "environments/gpu.yml",
        "pipeline_job.yml",
        "schedule.yml",
    ]


def test_pipeline_job_validates_and_round_trips(aml, written, tmp_path: Path) -> None:
    _, output, _ = written
    job = round_trips(aml.load_job, output / "pipeline_job.yml", tmp_path)
    result = job._validate()
    assert result.passed, result.error_messages
    assert sorted(job.jobs) == sorted(STEPS)
    assert job.settings.default_compute == "cpu-cluster"
    assert job.jobs["train"].compute == "cpu-cluster"  # the baked family needs no GPU
    assert "{{ cookiecutter.project_slug }}-training-data:" in job.inputs["training_data"].path
    assert {"lineage.git_commit", "lineage.config_sha256", "lineage.data_sha256"} <= set(job.tags)
    # Evaluate and register read the registry: Azure ML must never reuse an old result.
    assert not job.jobs["evaluate"].component.is_deterministic
    assert not job.jobs["register"].component.is_deterministic


@pytest.mark.parametrize("step", STEPS)
def test_each_component_runs_the_package_step_command(aml, written, step, tmp_path) -> None:
    _, output, _ = written
    component = round_trips(aml.load_component, output / "components" / f"{step}.yml", tmp_path)
    assert component._validate().passed
    assert component.command.startswith(f"PYTHONPATH=src python -m {{ cookiecutter.package_name }} {step} ")
    assert re.fullmatch(r"(azureml:)?[\w-]+-cpu:[0-9a-f]{16}", component.environment)


def test_environments_come_from_the_lock_with_pinned_images_and_precompiled_bytecode(
    aml, written, tmp_path
) -> None:
    project, output, _ = written
    lock = (project / "requirements-azureml.lock").read_text()
    for kind in ("cpu", "gpu"):
        path = output / "environments" / f"{kind}.yml"
        environment = round_trips(aml.load_environment, path, tmp_path)
        context = Path(environment.build.path)
        dockerfile = (context / "Dockerfile").read_text()
        image = re.search(r"^FROM (\S+)$", dockerfile, re.MULTILINE).group(1)
        assert re.fullmatch(r"mcr\.microsoft\.com/azureml/[\w.-]+:\d{8}\.v\d+", image), image
        assert "latest" not in image
        assert "UV_COMPILE_BYTECODE=1" in dockerfile and "--compile-bytecode" in dockerfile
        requirements = (context / "requirements.txt").read_text()
        if kind == "cpu":
            assert requirements == lock
        else:  # the CUDA build of the same xgboost version, everything else identical
            assert "xgboost-cpu==" not in requirements
            assert requirements == lock.replace("\nxgboost-cpu==", "\nxgboost==")
            assert "cuda" in image


def test_data_asset_is_versioned_by_content(aml, written, tmp_path) -> None:
    project, output, _ = written
    data = round_trips(aml.load_data, output / "data" / "training_data.yml", tmp_path)
    assert data.type == "uri_file"
    assert data.tags["sha256"].startswith(data.version)
    from {{ cookiecutter.package_name }}.lineage import file_sha256

    assert data.tags["sha256"] == file_sha256(project / "data" / "sample.csv")


def test_schedule_loads_with_its_pipeline_and_validates(aml, written) -> None:
    from azure.ai.ml.entities._load_functions import load_schedule

    _, output, _ = written
    schedule = load_schedule(output / "schedule.yml")
    assert schedule._validate().passed
    assert schedule.trigger.expression == "0 3 * * 1"
    first = "{{ cookiecutter.environments.split(',')[0].strip() }}"
    assert schedule.name == f"{{ cookiecutter.project_slug }}-retrain-{first}"
    assert sorted(schedule.create_job.jobs) == sorted(STEPS)


def test_gpu_family_trains_on_the_gpu_cluster_in_a_sweep(aml, gpu_sweep, tmp_path) -> None:
    _, output = gpu_sweep
    job = round_trips(aml.load_job, output / "pipeline_job.yml", tmp_path)
    assert job._validate().passed
    sweep = job.jobs["train"]
    assert sweep.type == "sweep"
    assert sweep.compute == "gpu-cluster"
    settings = load_settings(gpu_sweep[0] / "config" / "pipeline.yaml")
    assert sweep.objective.primary_metric == settings.evaluation.primary_metric
    assert sweep.objective.goal == "maximize"
    assert sweep.limits.max_total_trials == 8
    assert sweep.early_termination.type == "bandit"
    assert sorted(sweep.search_space) == ["learning_rate", "max_depth"]
    trial = round_trips(aml.load_component, output / "components" / "train_trial.yml", tmp_path)
    assert re.fullmatch(r"(azureml:)?[\w-]+-gpu:[0-9a-f]{16}", trial.environment)
    assert "--param max_depth=${{ '{{' }}inputs.max_depth{{ '}}' }}" in trial.command
    assert job.jobs["evaluate"].compute is None  # the pipeline's CPU default


def test_serverless_option_and_ml_client_validation(aml, tmp_path, empty_store) -> None:
    """`MLClient.jobs.validate` runs offline for serverless compute (no compute lookup)."""
    from azure.core.credentials import AccessToken

    from {{ cookiecutter.package_name }}.azure.submit import build_training_job
    from {{ cookiecutter.package_name }}.azure.workspace import resolve_workspace

    class FakeCredential:
        def get_token(self, *scopes, **kwargs):
            return AccessToken("fake", 4102444800)

    project = azure_project(tmp_path, empty_store, compute="serverless")
    settings = load_settings(project / "config" / "pipeline.yaml")
    job = build_training_job(settings, resolve_workspace(settings, require_subscription=False))
    assert job.settings.default_compute == "serverless"
    client = aml.MLClient(FakeCredential(), "00000000-0000-0000-0000-000000000000", "rg", "ws")
    result = client.jobs.validate(job)
    assert result.passed, result.error_messages


@pytest.mark.parametrize(
    ("task", "target", "algorithms", "goal"),
    [
        ("classification", "churned", ["XGBoostClassifier", "RandomForest"], "maximize"),
        ("regression", "fare_amount", ["XGBoostRegressor", "RandomForest"], "minimize"),
    ],
)
def test_automl_job_maps_task_metric_and_families(
    aml, tmp_path, empty_store, task, target, algorithms, goal
) -> None:
    from {{ cookiecutter.package_name }}.azure.automl_job import (
        AUTOML_METRICS,
        build_automl_job,
        build_mltable_asset,
    )

    project = azure_project(tmp_path / "p", empty_store, task)
    settings = load_settings(
        project / "config" / "pipeline.yaml", {"automl.families": ["xgboost", "random_forest"]}
    )
    table = build_mltable_asset(settings, tmp_path / "table", "1")
    assert (Path(table.path) / "MLTable").is_file()
    table_reference = "azureml:{{ cookiecutter.project_slug }}-training-table:1"
    job = build_automl_job(settings, table_reference, "cpu-cluster")
    job.dump(tmp_path / "automl.yml")
    # AutoML jobs have no local _validate: the loader's schema check and the REST form are
    # the offline proof.
    loaded = round_trips(aml.load_job, tmp_path / "automl.yml", tmp_path)
    details = loaded._to_rest_object().properties.task_details
    assert details.task_type.lower() == task
    assert details.target_column_name == target
    expected = AUTOML_METRICS[settings.evaluation.primary_metric].lower().replace("_", "")
    assert loaded.primary_metric.lower().replace("_", "") == expected
    assert loaded.training.allowed_training_algorithms == algorithms
    # A sweep of this project optimizes the same metric in its direction.
    assert settings.sweep_goal == goal
    assert loaded.limits.max_trials == settings.automl.n_trials
    loaded_table = round_trips(aml.load_data, _dump(table, tmp_path / "table.yml"), tmp_path)
    assert loaded_table.type == "mltable"


def _dump(entity, path: Path) -> Path:
    entity.dump(path)
    return path
