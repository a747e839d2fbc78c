"""The command each Azure ML component runs, run here with Azure ML's layout.

Inputs are mounted files and folders, outputs are empty folders, and MLflow is pointed at the
job's own run through `MLFLOW_TRACKING_URI` and `MLFLOW_RUN_ID`, as Azure ML does (here the
local SQLite store stands in for the workspace). Each step's outputs must be what the next
component reads: the proof that the Azure pipeline runs the same code as the local one.
The first command runs through bash in a fresh interpreter exactly as written; the others go
through the same CLI with the same arguments in-process, which saves the import time of each.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from azure_fixtures import azure_project
from conftest import PROJECT_DIR
from mlflow import MlflowClient
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.azure.components import StepSpec, step_specs, sweep_trial_spec
from {{ cookiecutter.package_name }}.azure.pipeline_job import write_submitted_config
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import PACKAGE_NAME, SearchDimension, load_settings

pytestmark = pytest.mark.slow
PLACEHOLDER = re.compile(r"\$\{\{(inputs|outputs)\.(\w+)\}\}")


def run_component(
    spec: StepSpec,
    project: Path,
    mounts: dict[str, str],
    client: MlflowClient,
    uri: str,
    *,
    in_process: bool = True,
) -> str:
    """Run `spec.command` as an Azure ML job would; returns the job's MLflow run id.

    `in_process=False` runs the command line itself through bash in a fresh interpreter;
    in-process, each `python -m <package> ...` of the command goes through the same CLI with
    the same arguments and environment, without paying the import time again.
    """
    experiment = client.get_experiment_by_name("azureml-job") or client.get_experiment(
        client.create_experiment("azureml-job")
    )
    run = client.create_run(experiment.experiment_id, run_name=spec.step)
    command = PLACEHOLDER.sub(lambda m: mounts[m.group(2)], spec.command)
    unresolved = PLACEHOLDER.findall(command)
    assert not unresolved, unresolved
    job_env = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_RUN_ID": run.info.run_id,
        "MLFLOW_EXPERIMENT_NAME": "azureml-job",
    }
    if not in_process:
        env = {
            **os.environ,
            **job_env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{spec.step}: {done.stdout}\n{done.stderr}"
        return run.info.run_id
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        for part in command.split(" && "):
            for name, value in job_env.items():  # each part is a process of its own on Azure ML
                patch.setenv(name, value)
            words = shlex.split(part)
            assert words[:4] == ["PYTHONPATH=src", "python", "-m", PACKAGE_NAME], words
            result = CliRunner().invoke(app, words[4:])
            assert result.exit_code == 0, f"{spec.step}: {result.output}"
    return run.info.run_id


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> dict:
    """prepare -> train -> evaluate -> register, each as its component runs it on Azure ML."""
    tmp_path = tmp_path_factory.mktemp("azure-components")
    project = azure_project(tmp_path / "code", empty_store)
    # The code snapshot holds src/: `PYTHONPATH=src python -m <package>` imports it from there.
    shutil.copytree(
        PROJECT_DIR / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    write_submitted_config(load_settings(project / "config" / "pipeline.yaml"))  # as submit does
    uri = f"sqlite:///{project / '.mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mnt = tmp_path / "mnt"
    data = mnt / "inputs" / "data" / "sample.csv"  # a uri_file input is mounted as a file
    data.parent.mkdir(parents=True)
    shutil.copy(project / "data" / "sample.csv", data)
    names = ("prepared", "model", "evaluation", "registration")
    folders = {name: mnt / "outputs" / name for name in names}
    for folder in folders.values():
        folder.mkdir(parents=True)  # Azure ML creates every output folder before the job starts
    mounts = {"data": str(data), **{name: str(folder) for name, folder in folders.items()}}
    # The first through bash, exactly as written; the rest in-process (same CLI, same args).
    runs = {
        step: run_component(spec, project, mounts, client, uri, in_process=step != "prepare")
        for step, spec in step_specs().items()
    }
    return {"project": project, "folders": folders, "client": client, "uri": uri, "runs": runs}


def test_components_chain_through_azure_ml_mounts(chain: dict) -> None:
    folders, client, runs = chain["folders"], chain["client"], chain["runs"]
    assert {p.name for p in folders["prepared"].iterdir()} >= {"train.parquet", "test.parquet"}
    assert (folders["model"] / "model" / "MLmodel").is_file()
    settings = load_settings(chain["project"] / "config" / "pipeline.yaml")
    family = client.get_run(runs["train"]).data.params["model.family"]
    assert family == settings.model.family
    assert (folders["evaluation"] / "evaluation.json").is_file()
    metric = settings.evaluation.primary_metric
    assert metric in client.get_run(runs["evaluate"]).data.metrics
    registration = (folders["registration"] / "registration.json").read_text()
    assert '"candidate": true' in registration
    assert client.get_run(runs["register"]).data.tags["registered.version"] == "1"
    (version,) = client.search_model_versions("name = '{{ cookiecutter.package_name }}'")
    # The champion moves only when a rollout of this exact version succeeds (`azure deploy`).
    assert "production" not in version.tags


def test_sweep_trial_trains_with_its_params_and_logs_the_metric(chain: dict, tmp_path) -> None:
    project, client = chain["project"], chain["client"]
    model = tmp_path / "model"
    model.mkdir()
    spec = sweep_trial_spec({"min_samples_leaf": SearchDimension(type="choice", values=[5, 9])})
    # Submitted with `--model-family random_forest`: the override reaches the trial's commands.
    config = project / "config" / "pipeline.yaml"
    write_submitted_config(load_settings(config, {"model.family": "random_forest"}))
    prepared = str(chain["folders"]["prepared"])
    mounts = {"prepared": prepared, "model": str(model), "min_samples_leaf": "9"}
    trial = run_component(spec, project, mounts, client, chain["uri"])
    assert (model / "model" / "MLmodel").is_file()
    logged = client.get_run(trial).data
    assert logged.params["model.param.min_samples_leaf"] == "9"
    metric = load_settings(config).evaluation.primary_metric
    assert metric in logged.metrics  # what the sweep optimizes
