"""The loop on a real local store: train a champion, check drift, retrain, let the gate decide.

`monitor drift` is run through the package CLI, so the exit codes are the ones CI sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import cli, write_config
from mlflow import MlflowClient
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.cli.monitor import DRIFT_EXIT_CODE
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.registry import get_champion_version
from {{ cookiecutter.package_name }}.tracking import configure_tracking

pytestmark = pytest.mark.slow


def set_family(project: Path, family: str) -> str:
    path = project / "config" / "pipeline.yaml"
    config = yaml.safe_load(path.read_text())
    config["model"]["family"] = family
    return str(write_config(project, config))


def shifted_sample(project: Path) -> Path:
    """The sample's features as production might see them a year later."""
    frame = pd.read_csv(project / "data" / "sample.csv").drop(columns=["churned"])
    frame["monthly_charges"] *= 1.5
    frame["tenure_months"] = frame["tenure_months"] + 24
    frame["contract"] = "month-to-month"
    path = project / "shifted.csv"
    frame.to_csv(path, index=False)
    return path


def champion_version(config: str) -> str:
    settings = load_settings(Path(config))
    configure_tracking(settings)
    return str(get_champion_version(MlflowClient(), settings.model_name).version)


def test_drift_retrain_promotes_a_better_model_and_keeps_a_better_champion(project: Path) -> None:
    family = load_settings(project / "config" / "pipeline.yaml").model.family
    config = set_family(project, "dummy")  # a weak first champion
    code, output = cli("run", "--config", config)
    assert code == 0, output
    assert champion_version(config) == "1"

    unshifted = project / "unshifted.csv"
    pd.read_csv(project / "data" / "sample.csv").to_csv(unshifted, index=False)
    code, output = cli(
        "monitor", "drift", "--data", str(unshifted), "--retrain", "--config", config
    )
    assert code == 0, output
    assert "no drift" in output and "retrained" not in output
    assert champion_version(config) == "1"  # no drift, no training

    shifted = shifted_sample(project)
    config = set_family(project, family)
    code, output = cli("monitor", "drift", "--data", str(shifted), "--retrain", "--config", config)
    assert code == DRIFT_EXIT_CODE, output
    assert "DRIFT" in output and "v2 promoted to champion" in output
    assert champion_version(config) == "2"

    config = set_family(project, "dummy")  # a worse challenger: the gate keeps v2
    code, output = cli("monitor", "drift", "--data", str(shifted), "--retrain", "--config", config)
    assert code == DRIFT_EXIT_CODE, output
    assert "v3 not promoted, champion kept" in output
    assert champion_version(config) == "2"

    settings = load_settings(Path(config))
    configure_tracking(settings)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(settings.tracking.experiment_name)
    checks = client.search_runs(
        [experiment.experiment_id], "tags.`monitoring.kind` = 'drift'", order_by=["start_time"]
    )
    assert [run.data.tags["monitoring.drifted"] for run in checks] == ["False", "True", "True"]
    assert [run.data.tags["monitoring.model_version"] for run in checks] == ["1", "1", "2"]
    artifacts = {a.path for a in client.list_artifacts(checks[-1].info.run_id, "monitoring")}
    assert artifacts == {"monitoring/drift_report.html", "monitoring/drift.json"}


def test_drift_errors_exit_1_with_one_clear_line(project: Path) -> None:
    config = str(project / "config" / "pipeline.yaml")
    code, output = cli(
        "monitor", "drift", "--data", str(project / "data" / "sample.csv"), "--config", config
    )
    assert code == 1 and "nothing is deployed to 'local'" in output, output
    code, output = cli("run", "--config", config)
    assert code == 0, output
    bad = project / "bad.csv"
    bad.write_text("")
    for args, message in (
        (["--data", str(bad)], "is empty"),
        (["--data", str(project / "missing.csv")], "does not exist"),
        (["--since", "24h"], "no inference log at"),
        (["--since", "soon"], "is not a window"),
        ([], "pass --data FILE or --since WINDOW"),
        (["--data", str(project / "data" / "sample.csv"), "--backend", "gcp"], "not one of"),
    ):
        code, output = cli("monitor", "drift", *args, "--config", config)
        assert code == 1, (args, output)
        assert message in output and "Traceback" not in output, (args, output)
    wrong = project / "wrong.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(wrong, index=False)
    code, output = cli("monitor", "drift", "--data", str(wrong), "--config", config)
    assert code == 1 and "lacks the model's input columns" in output, output


def test_azure_retrain_submits_the_training_pipeline(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a subscription: one clear line. With one (the Azure calls replaced by fakes):
    `submit_training` is called with --wait/--timeout-minutes and its outcome is reported."""
    from {{ cookiecutter.package_name }}.azure import submit, workspace

    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    config = str(project / "config" / "pipeline.yaml")
    code, output = cli("run", "--config", config)
    assert code == 0, output
    arguments = ["--data", str(shifted_sample(project)), "--retrain", "--backend", "azure"]
    code, output = cli("monitor", "drift", *arguments, "--config", config)
    assert code == 1, output
    assert "No Azure subscription" in output and "Traceback" not in output

    calls = []

    def fake_submit(settings, client, *, wait, timeout_minutes):
        calls.append((client, wait, timeout_minutes))
        return submit.SubmissionResult(
            job="job-42", status="Completed", promoted=True, version="7", reason="better"
        )

    monkeypatch.setattr(workspace, "ml_client", lambda settings, environment=None: "client")
    monkeypatch.setattr(submit, "submit_training", fake_submit)
    more = ["--wait", "--timeout-minutes", "30"]
    code, output = cli("monitor", "drift", *arguments, *more, "--config", config)
    assert code == DRIFT_EXIT_CODE, output
    assert calls == [("client", True, 30)]
    assert "retrained (azure): v7 promoted to champion: better" in output


def test_drift_over_a_window_of_the_inference_log(project: Path) -> None:
    """What `serve` logged (written here by the same InferenceLog the server uses), read back
    by `--since`: unshifted requests are no drift, shifted ones are."""
    import mlflow.sklearn

    from {{ cookiecutter.package_name }}.monitoring.inference_log import InferenceLog

    config = str(project / "config" / "pipeline.yaml")
    code, output = cli("run", "--config", config)
    assert code == 0, output
    settings = load_settings(Path(config))
    features = pd.read_csv(project / "data" / "sample.csv").drop(columns=["churned"])

    configure_tracking(settings)
    champion = mlflow.sklearn.load_model(f"models:/{settings.model_name}/1")

    def log_requests(frame: pd.DataFrame, folder: str) -> None:
        log = InferenceLog(project / folder, "1", flush_seconds=3600)
        for start in range(0, len(frame), 50):
            chunk = frame.iloc[start : start + 50]
            columns = {name: chunk[name].to_numpy() for name in chunk.columns}
            log.record(f"req-{start}", columns, champion.predict(chunk).tolist())
        log.close()

    log_requests(features, ".mlflow/inference")
    code, output = cli("monitor", "drift", "--since", "1h", "--config", config)
    assert code == 0, output
    assert "no drift" in output and "inference log, last 1h" not in output  # one-line summary

    shifted = pd.read_csv(shifted_sample(project))
    log_requests(shifted, "shifted-log")
    config_tree = yaml.safe_load(Path(config).read_text())
    config_tree["monitoring"]["inference_log"]["path"] = "shifted-log"
    write_config(project, config_tree)
    code, output = cli("monitor", "drift", "--since", "30m", "--config", config)
    assert code == DRIFT_EXIT_CODE, output
    assert "DRIFT" in output and "monthly_charges" in output


def test_the_scheduled_drift_job_runs_its_own_command_as_azure_ml_runs_it(
    aml, tmp_path: Path, empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drift job's exact command, with exactly the environment variables its definition
    sets (plus what Azure ML adds: the tracking URI and the cluster identity's client id), in a
    code snapshot that `.amlignore` stripped of infra/ and data/. On drift it must find its
    workspace, authenticate as the cluster identity and submit the training pipeline on the
    data asset's latest version."""
    import re
    import shlex
    import shutil
    from dataclasses import replace
    from datetime import UTC, datetime
    from types import SimpleNamespace

    import azure.ai.ml
    import azure.identity
    from azure_fixtures import FakeMLClient, azure_project
    from conftest import PROJECT_DIR

    from {{ cookiecutter.package_name }}.azure.workspace import WorkspaceCoordinates
    from {{ cookiecutter.package_name }}.config import PACKAGE_NAME, PROJECT_SLUG
    from {{ cookiecutter.package_name }}.deployments import read_deployment, record_deployment
    from {{ cookiecutter.package_name }}.monitoring import azure_monitor
    from {{ cookiecutter.package_name }}.monitoring.inference_log import TIMESTAMP

    project = azure_project(tmp_path / "project", empty_store)
    config_path = project / "config" / "pipeline.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["monitoring"]["azure"].update(endpoint_name="churn-online", deployment_name="green")
    write_config(project, config)
    code, output = cli("run", "--config", str(config_path))
    assert code == 0, output
    settings = load_settings(config_path)
    # In the workspace, dev's rollout recorded what serves there (here: what `run` deployed).
    local = read_deployment(settings, "local")
    record_deployment(settings, replace(local, environment="dev", target="azure"))
    coordinates = WorkspaceCoordinates("sub-1", "rg-dev", "mlw-dev", "cpu-dev", "gpu-dev", "dev")
    job = azure_monitor.drift_command(settings, coordinates)

    # Azure ML's layout: the code snapshot (what .amlignore keeps) and the mounted input.
    ignored = [
        line.strip().rstrip("/")
        for line in (PROJECT_DIR / ".amlignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    snapshot = tmp_path / "code"
    shutil.copytree(project, snapshot, ignore=shutil.ignore_patterns(*ignored))
    shutil.copytree(PROJECT_DIR / "src", snapshot / "src", ignore=shutil.ignore_patterns(*ignored))
    assert not (snapshot / "infra").exists() and not (snapshot / "data").exists()
    collected = tmp_path / "mnt" / "inputs" / "collected"
    collected.mkdir(parents=True)
    frame = pd.read_csv(shifted_sample(project))
    frame[TIMESTAMP] = datetime.now(UTC).isoformat()
    frame.to_parquet(collected / "part-0.parquet", index=False)
    command = re.sub(r"\$\{\{inputs\.collected\}\}", str(collected), job.command)
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", PACKAGE_NAME], words

    for name in os.environ.copy():
        if name.startswith(("AZURE_", "DEFAULT_IDENTITY")):
            monkeypatch.delenv(name)
    for name, value in job.environment_variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)  # set by Azure ML
    monkeypatch.setenv("DEFAULT_IDENTITY_CLIENT_ID", "cluster-identity-client-id")
    credentials, clients = [], []

    class Identity:
        def __init__(self, **kwargs) -> None:
            credentials.append(kwargs)

    asset = f"{PROJECT_SLUG}-training-data"
    workspace = FakeMLClient(["Running"])
    for version in ("0a0a0a0a0a0a0a0a", "9f9f9f9f9f9f9f9f"):  # registered earlier; newest last
        workspace.data.stored[(asset, version)] = SimpleNamespace(name=asset, version=version)

    def ml_client(credential, **coordinates):
        clients.append((credential, coordinates))
        return workspace

    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", Identity)
    monkeypatch.setattr(azure.ai.ml, "MLClient", ml_client)
    monkeypatch.chdir(snapshot)
    result = CliRunner().invoke(app, words[3:])
    assert "--no-fail-on-drift" in words  # drift is reported, not a failed job
    assert words[words.index("--environment") + 1] == "dev"  # what serves there is checked
    assert result.exit_code == 0 and "DRIFT" in result.output, result.output
    assert credentials == [{"client_id": "cluster-identity-client-id"}]
    assert [where for _, where in clients] == [
        {"subscription_id": "sub-1", "resource_group_name": "rg-dev", "workspace_name": "mlw-dev"}
    ]
    submitted, _ = workspace.jobs.submitted[0]
    assert submitted.inputs["training_data"].path == f"azureml:{asset}:9f9f9f9f9f9f9f9f"
    assert workspace.data.created == []  # nothing uploaded from a laptop's data/


def test_drift_reads_the_verified_serving_model_and_can_report_without_failing(
    project: Path,
) -> None:
    """`--no-fail-on-drift` (the scheduled Azure ML job) exits 0 on drift; a reference file
    swapped in the artifact store is refused by digest, never compared."""
    from urllib.parse import unquote, urlparse

    from {{ cookiecutter.package_name }}.drift_reference import (
        PREDICTION_COLUMN,
        REFERENCE_FILE,
    )

    config = str(project / "config" / "pipeline.yaml")
    code, output = cli("run", "--config", config)
    assert code == 0, output
    shifted = shifted_sample(project)
    code, output = cli(
        "monitor", "drift", "--data", str(shifted), "--no-fail-on-drift", "--config", config
    )
    assert code == 0 and "DRIFT" in output, output

    settings = load_settings(Path(config))
    configure_tracking(settings)
    source = MlflowClient().get_model_version_download_uri(settings.model_name, "1")
    stored = Path(unquote(urlparse(source).path)) / REFERENCE_FILE
    assert stored.is_file(), source
    swapped = pd.read_csv(shifted).assign(**{PREDICTION_COLUMN: "1"})
    swapped.to_parquet(stored, index=False)  # the shifted data as its own "reference"
    for cached in (project / ".mlflow" / "serving").rglob(REFERENCE_FILE):
        swapped.to_parquet(cached, index=False)  # and in the local copy `serve` uses
    code, output = cli("monitor", "drift", "--data", str(shifted), "--config", config)
    assert code == 1, output
    assert "the artifact store changed" in output and "Traceback" not in output, output
