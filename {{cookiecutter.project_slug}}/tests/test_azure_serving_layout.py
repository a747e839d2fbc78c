"""What Azure runs, run here: `score.py` under the inference server with a managed online
deployment's variables and folder layout, for every model family; and the batch endpoint's
driver over a folder of files, which must give exactly `score-batch`'s predictions.

Layout of a managed online deployment: the code folder (`src/`) is copied under
AML_APP_ROOT=/var/azureml-app, the entry script is AZUREML_ENTRY_SCRIPT, and the registered
model is mounted at AZUREML_MODEL_DIR=/var/azureml-app/azureml-models/<model>/<version>, with the
MLflow folder inside under the name it was registered with (`model`, the run artifact path).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import requests
from serving_fixtures import free_port, make_frame, save_model, start_healthy, stop

from {{ cookiecutter.package_name }}.azure.endpoints import deployment_environment_variables
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.data import load_table
from {{ cookiecutter.package_name }}.families import choices
from {{ cookiecutter.package_name }}.serving.batch import score_file
from {{ cookiecutter.package_name }}.serving.fastpath import PARITY_TOLERANCE
from {{ cookiecutter.package_name }}.tasks import TASKS

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "{{ cookiecutter.package_name }}"
# Every family of each task, its baseline included: (task, family).
FAMILIES = [(task, name) for task in TASKS for name in (*choices(task), "dummy")]


def azure_layout(root: Path, model_dir: Path, version: str = "7") -> dict[str, str]:
    """Copy the code and the model where Azure puts them; return the server's variables."""
    app_root = root / "var" / "azureml-app"
    shutil.copytree(
        SRC, app_root / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    mounted = app_root / "azureml-models" / PACKAGE / version
    shutil.copytree(model_dir, mounted / "model")
    return {
        "AML_APP_ROOT": str(app_root),
        "AZUREML_ENTRY_SCRIPT": str(app_root / "src" / PACKAGE / "serving" / "score.py"),
        "AZUREML_MODEL_DIR": str(mounted),
    }


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory: pytest.TempPathFactory, empty_store: Path):
    """One model per family and task, trained by the pipeline's own train step on the task's
    sample data."""
    from conftest import make_project

    from {{ cookiecutter.package_name }}.steps import prepare, train

    models, tests, settings = {}, {}, {}
    for task in TASKS:
        project = make_project(tmp_path_factory.mktemp(f"families-{task}"), empty_store, task)
        settings[task] = load_settings(project / "config" / "pipeline.yaml")
        data = settings[task].data_path
        prepared = prepare.prepare_data(data, project / "prepared", settings[task])
        for family in (*choices(task), "dummy"):
            family_settings = settings[task].model_copy(
                update={"model": settings[task].model.model_copy(update={"family": family})}
            )
            trained = train.train(prepared.train_path, project / family, family_settings)
            models[task, family] = trained.model_dir
        # Read as training reads it (missing text is NaN): the expected predictions must come
        # from the inputs the model was trained to see, not from a Parquet frame holding None.
        target = settings[task].data.target
        tests[task] = load_table(prepared.test_path).drop(columns=[target]).head(40)
    return models, tests, settings


def start_azure_server(folder: Path, env: dict[str, str], port: int) -> subprocess.Popen:
    """The inference server as the serving container starts it: the entry script Azure set,
    nothing else; logs to `server.log` in `folder`, which is also its working directory."""
    arguments = [
        str(SRC / PACKAGE / "serving" / "server.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--entry_script",
        env["AZUREML_ENTRY_SCRIPT"],
    ]
    return start_healthy(arguments, port=port, cwd=folder, env=env, log=folder / "server.log")


@pytest.mark.slow
@pytest.mark.parametrize(("task", "family"), FAMILIES)
def test_score_py_serves_every_family_in_the_azure_layout(
    trained_models, tmp_path, task, family
) -> None:
    import mlflow.pyfunc

    models, tests, settings = trained_models
    test = tests[task]
    deployment = settings[task].deployment.model_copy(update={"workers": 1})
    env = {
        **os.environ,
        **deployment_environment_variables(deployment),
        **azure_layout(tmp_path, models[task, family]),
    }
    port = free_port()
    # From tmp_path: nothing of the project on the path but the copied code.
    process = start_azure_server(tmp_path, env, port)
    try:
        # Every float exactly as in the frame: pandas' to_json rounds to 10 digits, which can
        # move a value across a tree split stored in float32 (xgboost) and change a prediction.
        rows = test.astype(object).where(test.notna(), None).to_numpy().tolist()
        payload = {"input_data": {"columns": list(test.columns), "data": rows}}
        response = requests.post(f"http://127.0.0.1:{port}/score", json=payload, timeout=30)
        assert response.status_code == 200, response.text
        expected = mlflow.pyfunc.load_model(str(models[task, family])).predict(test)
        served = response.json()["predictions"]
        if task == "regression":  # compiled trees sum in another order: parity, not identity
            assert served == pytest.approx(list(expected), rel=PARITY_TOLERANCE)
        else:
            assert served == pd.Series(expected).tolist()
        rejected = requests.post(
            f"http://127.0.0.1:{port}/score",
            json={"input_data": {"columns": ["nope"], "data": [[1]]}},
            timeout=30,
        )
        assert 400 <= rejected.status_code < 500, rejected.text
    finally:
        stop(process)
    # score.py logs the model folder it found under AZUREML_MODEL_DIR.
    assert f"azureml-models/{PACKAGE}/7/model ready" in (tmp_path / "server.log").read_text()


def load_driver_as_azure_does(path: Path):
    """Azure's batch runtime imports the entry script by path, outside any package."""
    spec = importlib.util.spec_from_file_location("batch_driver", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_batch_driver_gives_score_batch_predictions_over_a_folder(tmp_path, monkeypatch):
    model_dir = tmp_path / "trained" / "model"
    save_model(model_dir)
    env = azure_layout(tmp_path, model_dir)
    monkeypatch.setenv("AZUREML_MODEL_DIR", env["AZUREML_MODEL_DIR"])
    monkeypatch.setenv("BATCH_CHUNK_ROWS", "700")  # several chunks per file
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    make_frame(2_000, seed=1).to_csv(inputs / "a.csv", index=False)
    make_frame(1_500, seed=2).to_parquet(inputs / "b.parquet", index=False)
    make_frame(3, seed=3).to_csv(inputs / "c.csv", index=False)
    files = sorted(str(path) for path in inputs.iterdir())

    driver = load_driver_as_azure_does(
        Path(env["AML_APP_ROOT"]) / "src" / PACKAGE / "serving" / "batch_driver.py"
    )
    driver.init()
    result = driver.run(files)

    for path in files:
        expected = tmp_path / f"{Path(path).stem}.out.csv"
        score_file(model_dir, Path(path), expected, progress=lambda rows, total: None)
        rows = result[result["file"] == Path(path).name]
        assert rows["prediction"].tolist() == pd.read_csv(expected)["prediction"].tolist()
        assert rows["row"].tolist() == list(range(len(rows)))
    assert len(result) == 2_000 + 1_500 + 3

    broken = inputs / "broken.csv"
    make_frame(5).drop(columns=["contract"]).to_csv(broken, index=False)
    with pytest.raises(Exception, match="contract"):
        driver.run([str(broken)])  # Azure counts the file against error_threshold


@pytest.mark.slow
def test_smoke_test_and_health_check_pass_against_the_real_scoring_script(tmp_path):
    """The rollout's own checks (`AzureEndpointOperations.smoke_test`/`check_health`) against
    `score.py` in the Azure layout; only the MLClient around them is a stand-in."""
    from types import SimpleNamespace

    from {{ cookiecutter.package_name }}.azure.endpoint_ops import (
        AzureEndpointOperations,
        RolloutCheckError,
    )
    from {{ cookiecutter.package_name }}.config import Settings

    model_dir = tmp_path / "trained" / "model"
    save_model(model_dir)
    settings = Settings(project_dir=tmp_path)
    env = {**os.environ, **deployment_environment_variables(settings.deployment)}
    env.update(azure_layout(tmp_path, model_dir), WORKER_COUNT="1")
    port = free_port()
    process = start_azure_server(tmp_path, env, port)
    scoring_uri = f"http://127.0.0.1:{port}/score"
    client = SimpleNamespace(
        online_endpoints=SimpleNamespace(
            get=lambda name: SimpleNamespace(scoring_uri=scoring_uri),
            get_keys=lambda name: SimpleNamespace(access_token="token"),
        ),
        online_deployments=SimpleNamespace(
            get=lambda name, endpoint: SimpleNamespace(model=f"azureml:{PACKAGE}:7")
        ),
        models=SimpleNamespace(
            download=lambda name, version, path: shutil.copytree(model_dir, Path(path) / name)
        ),
    )
    try:
        ops = AzureEndpointOperations(client, settings, "ep", mark_serving=lambda state: None)
        ops.smoke_test("green")
        ops.check_health("green", 0)
        strict = settings.model_copy(
            update={
                "deployment": settings.deployment.model_copy(update={"max_p95_latency_ms": 0.001})
            }
        )
        slow = AzureEndpointOperations(client, strict, "ep", mark_serving=lambda state: None)
        with pytest.raises(RolloutCheckError, match="p95 latency"):
            slow.check_health("green", 0)
    finally:
        stop(process)
