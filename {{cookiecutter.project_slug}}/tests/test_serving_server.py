"""The real server: `serve` on a registered champion, and a fuzzed scoring route.

These start azureml-inference-server-http (the server Azure runs) on a free loopback port,
wait for its health route, and always stop it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_fixtures import (
    SERVE,
    free_port,
    launch,
    make_frame,
    save_model,
    save_regressor,
    start_healthy,
    stop,
    wait_for_health,
)

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.deployments import DeploymentRecord, record_deployment
from {{ cookiecutter.package_name }}.lineage import model_digest
from {{ cookiecutter.package_name }}.registry import CHAMPION_ALIAS, DIGEST_TAG, PRODUCTION_TAG
from {{ cookiecutter.package_name }}.serving.local import server_command, server_environment

pytestmark = pytest.mark.slow
COLUMNS = list(make_frame(1).columns)


def start_serve(project: Path, port: int) -> subprocess.Popen:
    """`serve` as the CLI runs it, from a project folder whose registry is at `project`."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    arguments = ["-c", SERVE, "--port", str(port), "--workers", "2"]
    return launch(arguments, cwd=project, env=env, log=project / "serve.log")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A project folder with a local registry whose champion, the fixture model, is deployed."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("project")
    pipeline = save_model(folder / "artifacts" / "model")
    digest = model_digest(folder / "artifacts" / "model")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = "{{ cookiecutter.package_name }}"
    client.create_registered_model(name)
    version = client.create_model_version(
        name, source=(folder / "artifacts" / "model").as_uri(), tags={DIGEST_TAG: digest}
    )
    client.set_model_version_tag(name, version.version, PRODUCTION_TAG, "true")
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
    settings = load_settings(overrides={"tracking.uri": uri, "project_dir": str(folder)})
    record_deployment(settings, DeploymentRecord(name, "local", str(version.version), digest))
    return folder, pipeline


@pytest.fixture(scope="module")
def server(project) -> str:
    folder, _ = project
    port = free_port()
    process = start_serve(folder, port)
    try:
        wait_for_health(process, f"http://127.0.0.1:{port}/", timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_serve_answers_real_requests_from_the_champion(server, project) -> None:
    folder, pipeline = project
    frame = make_frame(5, seed=11)
    records = json.loads(frame.to_json(orient="records"))
    split = {"input_data": json.loads(frame.to_json(orient="split", index=False))}
    expected = pipeline.predict(frame).tolist()
    for payload in (records, split):
        response = requests.post(f"{server}/score", json=payload, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected}
    # The deployed version was materialized where Azure would mount it, keyed by its digest.
    digest = model_digest(folder / "artifacts" / "model")
    served = folder / f".mlflow/serving/{{ cookiecutter.package_name }}/1-{digest[:12]}/model"
    assert (served / "MLmodel").is_file()


def test_explain_reaches_the_scoring_script_as_a_query_parameter(server) -> None:
    """The fixture champion is a logistic regression: the server says why it cannot explain
    (explanations themselves: test_serving_trees), and names a bad value."""
    records = json.loads(make_frame(2, seed=3).to_json(orient="records"))
    refused = requests.post(f"{server}/score?explain=true", json=records, timeout=10)
    assert refused.status_code == 400 and "needs a tree model" in refused.json()["message"]
    bad = requests.post(f"{server}/score?explain=maybe", json=records, timeout=10)
    assert bad.status_code == 400 and bad.json() == {"message": "explain must be true or false"}
    plain = requests.post(f"{server}/score?explain=false", json=records, timeout=10)
    assert plain.status_code == 200 and list(plain.json()) == ["predictions"]


@pytest.fixture(scope="module")
def regression_server(tmp_path_factory: pytest.TempPathFactory):
    """The server `serve` starts (same command, same environment), one worker, on a gradient
    boosting fare regressor: no registry needed to see what a regressor answers."""
    folder = tmp_path_factory.mktemp("regressor")
    model, X = save_regressor(folder / "model")
    port = free_port()
    process = start_healthy(
        server_command(port, 1, "127.0.0.1")[1:],  # launch adds the interpreter
        port=port,
        cwd=folder,
        env=server_environment(folder / "model"),
        log=folder / "server.log",
    )
    try:
        yield f"http://127.0.0.1:{port}", model, X
    finally:
        stop(process)


def test_a_served_regressor_answers_numbers_explains_them_and_rejects_bad_rows(
    regression_server,
) -> None:
    url, model, X = regression_server
    rows = X.head(4)  # with missing values
    records = json.loads(rows.to_json(orient="records"))
    response = requests.post(f"{url}/score", json=records, timeout=10)
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["predictions"]  # no probabilities
    predictions = response.json()["predictions"]
    assert all(type(prediction) is float for prediction in predictions)
    assert predictions == pytest.approx(model.predict(rows).tolist(), rel=1e-9)
    explained = requests.post(f"{url}/score?explain=true", json=records, timeout=10)
    assert explained.status_code == 200, explained.text
    for prediction, explanation in zip(predictions, explained.json()["explanations"], strict=True):
        total = explanation["bias"] + sum(explanation["contributions"].values())
        assert total == pytest.approx(prediction, abs=1e-9)
    bad = requests.post(f"{url}/score", json=[{**records[0], "passengers": "two"}], timeout=10)
    assert bad.status_code == 400
    assert "'passengers' must be a number" in bad.json()["message"]


def test_serve_without_a_deployment_fails_with_a_clear_message(tmp_path) -> None:
    process = start_serve(tmp_path, free_port())
    try:
        process.wait(timeout=120)
    finally:
        stop(process)
    assert process.returncode == 1
    assert "nothing is deployed to 'local'" in (tmp_path / "serve.log").read_text()


# Bad payloads, generated. Each strategy yields (body, what the rejection must mention).
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
GOOD = {
    "tenure_months": 3.0,
    "monthly_charges": 50.0,
    "support_calls": 1.0,
    "contract": "monthly",
    "payment_method": "card",
}
NUMBERS = {"tenure_months", "monthly_charges", "support_calls"}
TEXT = {"contract", "payment_method"}
OPTIONAL = {"monthly_charges", "payment_method"}


def wrong_for(column: str, value: object) -> bool:
    """True when `value` is not acceptable in `column` under the fixture's signature."""
    if value is None:
        return column not in OPTIONAL
    if column in NUMBERS:
        return type(value) not in (int, float)
    return type(value) is not str or len(value) > 1_000


wrong_value = st.sampled_from(COLUMNS).flatmap(
    lambda column: st.tuples(st.just(column), VALUES.filter(lambda v: wrong_for(column, v)))
)
bad_payloads = st.one_of(
    # malformed JSON / not JSON / not UTF-8
    st.binary(min_size=1, max_size=60)
    .filter(lambda raw: not _is_json(raw))
    .map(lambda raw: (raw, "")),
    # a wrong value in one column, in either payload shape
    st.tuples(wrong_value, st.booleans()).map(
        lambda case: (_body({**GOOD, case[0][0]: case[0][1]}, case[1]), case[0][0])
    ),
    # a missing column
    st.tuples(st.sampled_from(COLUMNS), st.booleans()).map(
        lambda case: (
            _body({k: v for k, v in GOOD.items() if k != case[0]}, case[1]),
            "missing columns",
        )
    ),
    # an extra column
    st.tuples(st.text(min_size=1, max_size=10).filter(lambda c: c not in GOOD), st.booleans()).map(
        lambda case: (_body({**GOOD, case[0]: 1}, case[1]), "unexpected columns")
    ),
    # empty and oversized batches
    st.sampled_from(
        [(b"[]", "no rows"), (b'{"input_data": {"columns": [], "data": []}}', "no rows")]
    ),
    st.integers(10_001, 10_050).map(lambda n: (json.dumps([GOOD] * n).encode(), "limit")),
    # JSON that is neither payload shape
    st.recursive(VALUES, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
    .filter(lambda v: not isinstance(v, list) or any(not isinstance(x, dict) for x in v) or not v)
    .map(lambda v: (json.dumps(v).encode(), "")),
)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _body(record: dict, split: bool) -> bytes:
    if split:
        payload = {"input_data": {"columns": list(record), "data": [list(record.values())]}}
        return json.dumps(payload).encode()
    return json.dumps([record]).encode()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=bad_payloads)
def test_fuzzed_bad_payloads_get_a_4xx_that_names_the_problem(server, case) -> None:
    body, mention = case
    response = requests.post(
        f"{server}/score", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert 400 <= response.status_code < 500, (body[:200], response.status_code, response.text)
    message = response.json()["message"]
    assert isinstance(message, str) and len(message) > 10
    assert mention in message
