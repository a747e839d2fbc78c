"""The inference log behind the real server: nothing lost across a clean restart, at most the
flush interval lost when the server is killed.

These start `serve` (azureml-inference-server-http, 2 workers) on a free loopback port in a
project folder whose config flushes the log every second, and always stop it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from serving_fixtures import SERVE, free_port, make_frame, save_model, start_healthy, stop

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.deployments import DeploymentRecord, record_deployment
from {{ cookiecutter.package_name }}.drift_reference import PREDICTION_COLUMN
from {{ cookiecutter.package_name }}.lineage import model_digest
from {{ cookiecutter.package_name }}.monitoring.inference_log import (
    CORRELATION_ID,
    MODEL_VERSION,
    read_window,
)
from {{ cookiecutter.package_name }}.registry import CHAMPION_ALIAS, DIGEST_TAG, PRODUCTION_TAG

pytestmark = pytest.mark.slow
FLUSH_SECONDS = 1.0
NAME = "{{ cookiecutter.package_name }}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: a config that flushes every second, a registry with a champion."""
    from mlflow import MlflowClient

    (tmp_path / "config").mkdir()
    config = {"monitoring": {"inference_log": {"flush_seconds": FLUSH_SECONDS}}}
    (tmp_path / "config" / "pipeline.yaml").write_text(yaml.safe_dump(config))
    save_model(tmp_path / "artifacts" / "model")
    digest = model_digest(tmp_path / "artifacts" / "model")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    version = client.create_model_version(
        NAME, source=(tmp_path / "artifacts" / "model").as_uri(), tags={DIGEST_TAG: digest}
    )
    client.set_model_version_tag(NAME, version.version, PRODUCTION_TAG, "true")
    client.set_registered_model_alias(NAME, CHAMPION_ALIAS, version.version)
    settings = load_settings(tmp_path / "config" / "pipeline.yaml", {"tracking.uri": uri})
    record_deployment(settings, DeploymentRecord(NAME, "local", str(version.version), digest))
    return tmp_path


def start(project: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    arguments = ["-c", SERVE, "--port", str(port), "--workers", "2"]
    return start_healthy(
        arguments, port=port, cwd=project, env=env, log=project / "serve.log", timeout=300
    )


def send(port: int, request_id: str, rows: int, seed: int) -> list:
    frame = make_frame(rows, seed=seed)
    body = {"input_data": json.loads(frame.to_json(orient="split", index=False))}
    answer = requests.post(
        f"http://127.0.0.1:{port}/score",
        json=body,
        headers={"x-request-id": request_id},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def logged(project: Path) -> pd.DataFrame:
    return read_window(project / ".mlflow" / "inference", timedelta(hours=2))


def test_clean_restart_loses_nothing_and_a_kill_at_most_the_flush_interval(
    project: Path,
) -> None:
    """One story, two server starts (each costs a model load per worker): serve, stop cleanly
    (SIGTERM), serve again from the same store, then kill the server (SIGKILL)."""
    port = free_port()
    before_restart: dict[str, list] = {}
    process = start(project, port)
    try:
        for index in range(40):
            request_id = f"r0-{index}"
            before_restart[request_id] = send(port, request_id, rows=1 + index % 3, seed=index)
    finally:
        stop(process)  # SIGTERM to the whole group: a clean shutdown

    process = start(project, port)
    answered: dict[str, float] = {}
    try:
        table = logged(project)  # the restarted server reads nothing back; the store has it all
        by_request = table.groupby(CORRELATION_ID)[PREDICTION_COLUMN].apply(list).to_dict()
        assert set(by_request) == set(before_restart)  # no request lost, none invented
        for request_id, predictions in before_restart.items():
            assert by_request[request_id] == [str(p) for p in predictions], request_id
        assert set(table[MODEL_VERSION]) == {"1"}
        assert set(make_frame(1).columns) <= set(table.columns)
        assert not list((project / ".mlflow" / "inference").rglob("*.tmp"))  # clean stop

        deadline = time.monotonic() + 4 * FLUSH_SECONDS
        index = 0
        while time.monotonic() < deadline:
            send(port, f"k-{index}", rows=1, seed=index)
            answered[f"k-{index}"] = time.monotonic()
            index += 1
        killed_at = time.monotonic()
        os.killpg(process.pid, signal.SIGKILL)  # no shutdown hook runs
        process.wait()
    finally:
        stop(process)
    stored = set(logged(project)[CORRELATION_ID])
    # One interval, plus one second for a segment that was being written at the kill.
    must_be_stored = {rid for rid, at in answered.items() if at < killed_at - FLUSH_SECONDS - 1}
    assert must_be_stored, "the test sent too few requests before the kill"
    assert must_be_stored <= stored, sorted(must_be_stored - stored)[:5]
    assert stored <= set(answered) | set(before_restart)
