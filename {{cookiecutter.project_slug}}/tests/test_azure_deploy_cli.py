"""`azure deploy --dry-run`, the commands' error paths, and the pure parts of the Azure shell
(smoke-test payloads, health verdicts, the deployment record, serving tags, job waiting)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from azure_fixtures import Poller, arm_check_tags, azure_project
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.azure import endpoint_ops, status
from {{ cookiecutter.package_name }}.azure.rollout import Phase, RolloutState
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.registry import CHAMPION_ALIAS, DIGEST_TAG, PRODUCTION_TAG

runner = CliRunner()
MODEL = "{{ cookiecutter.package_name }}"


@pytest.fixture
def project(tmp_path: Path, empty_store: Path) -> Path:
    """The Azure commands also read the lock and the infrastructure's naming."""
    return azure_project(tmp_path, empty_store)


def registry_with_versions(project: Path, count: int, champion: int | None):
    """`count` registered versions (no training needed: serving is not exercised here)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / '.mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(MODEL)
    for _ in range(count):
        client.create_model_version(
            MODEL, source=(project / "model").as_uri(), tags={DIGEST_TAG: "d1"}
        )
    if champion is not None:
        client.set_model_version_tag(MODEL, str(champion), PRODUCTION_TAG, "true")
        client.set_registered_model_alias(MODEL, CHAMPION_ALIAS, str(champion))
    return client


def test_dry_run_writes_loadable_yaml_for_the_local_champion(project, monkeypatch, tmp_path):
    import azure.ai.ml as ml
    from azure.ai.ml.entities._load_functions import load_model_batch_deployment

    registry_with_versions(project, count=2, champion=1)
    monkeypatch.chdir(project)
    for variable in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_ML_WORKSPACE"):
        monkeypatch.delenv(variable, raising=False)
    out = tmp_path / "dry"
    result = runner.invoke(app, ["azure", "deploy", "--dry-run", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "batch-deployment.yml",
        "batch-endpoint.yml",
        "online-deployment.yml",
        "online-endpoint.yml",
    ]
    online = ml.load_online_deployment(out / "online-deployment.yml")
    batch = load_model_batch_deployment(out / "batch-deployment.yml")
    assert online.model == batch.model == f"{MODEL}:1"  # the champion, not the latest (2)
    assert online.tags["model_digest"] == "d1"
    endpoint = ml.load_online_endpoint(out / "online-endpoint.yml")
    assert online.endpoint_name == endpoint.name
    assert ml.load_batch_endpoint(out / "batch-endpoint.yml").name == batch.endpoint_name
    assert "nothing was sent to Azure" in result.output


def test_dry_run_without_a_champion_says_how_to_get_one(project, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(project)
    result = runner.invoke(app, ["azure", "deploy", "--dry-run", "--output", str(tmp_path)])
    assert result.exit_code == 1
    assert "no champion" in result.output and "--version" in result.output


def test_deploy_without_a_workspace_names_the_missing_settings(project, monkeypatch) -> None:
    monkeypatch.chdir(project)
    for variable in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_ML_WORKSPACE"):
        monkeypatch.delenv(variable, raising=False)
    summary = project / "summary.json"
    result = runner.invoke(app, ["azure", "deploy", "--version", "3", "--summary", str(summary)])
    assert result.exit_code == 1
    assert "AZURE_SUBSCRIPTION_ID" in result.output and "Traceback" not in result.output
    assert json.loads(summary.read_text())["succeeded"] is False
    result = runner.invoke(app, ["azure", "deploy", "--environment", "nope", "--dry-run"])
    assert result.exit_code == 1 and "--environment 'nope'" in result.output


def test_smoke_payloads_hold_a_valid_and_an_invalid_request() -> None:
    with_gap = json.loads('{"columns": ["a", "b"], "data": [[NaN, "x"]]}')  # MLflow's file
    assert endpoint_ops.smoke_payloads(with_gap, 1)[0]["input_data"]["data"] == [[None, "x"]]
    example = {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}
    good, bad = endpoint_ops.smoke_payloads(example, rows=5)
    assert good == {
        "input_data": {
            "columns": ["a", "b"],
            "data": [[1, "x"], [2, "y"], [1, "x"], [2, "y"], [1, "x"]],
        }
    }
    assert bad == {"input_data": {"columns": ["b"], "data": [["x"]]}}
    endpoint_ops.check_smoke((200, {"predictions": [0] * 5}), (400, {"message": "m"}), 5)
    with pytest.raises(endpoint_ops.RolloutCheckError, match="HTTP 500"):
        endpoint_ops.check_smoke((500, "boom"), (400, {}), 5)
    with pytest.raises(endpoint_ops.RolloutCheckError, match="5 rows"):
        endpoint_ops.check_smoke((200, {"predictions": [0]}), (400, {}), 5)
    with pytest.raises(endpoint_ops.RolloutCheckError, match="not a 4xx"):
        endpoint_ops.check_smoke((200, {"predictions": [0] * 5}), (200, {}), 5)


def test_health_verdict_fails_on_errors_or_latency() -> None:
    healthy = endpoint_ops.HealthSample(20, 0, tuple([50.0] * 19 + [90.0]))
    assert "20 requests, 0 errors" in endpoint_ops.check_health(
        healthy, max_error_rate=0, max_p95_ms=100
    )
    with pytest.raises(endpoint_ops.RolloutCheckError, match="error rate"):
        endpoint_ops.check_health(
            endpoint_ops.HealthSample(20, 1, (50.0,) * 20), max_error_rate=0.0, max_p95_ms=100
        )
    with pytest.raises(endpoint_ops.RolloutCheckError, match="p95"):
        endpoint_ops.check_health(
            endpoint_ops.HealthSample(20, 0, (500.0,) * 20), max_error_rate=0.0, max_p95_ms=100
        )


def done(version: str, new: str, environment: str = "prod") -> RolloutState:
    return RolloutState(
        endpoint="ep",
        environment=environment,
        model_name=MODEL,
        version=version,
        digest=f"sha-{version}",
        new=new,
        old=None,
        phase=Phase.DONE,
    )


def mid_shift() -> RolloutState:
    """v4 rolling out on green, blue still live, at the second traffic step."""
    return RolloutState(
        endpoint="ep",
        environment="dev",
        model_name=MODEL,
        version="4",
        digest="x",
        new="green",
        old="blue",
        phase=Phase.SHIFT,
        step=1,
    )


def test_the_record_keeps_the_replaced_version_as_the_rollback_target() -> None:
    first = endpoint_ops.record_tags(done("1", "blue"), {})
    assert first["deployed.version"] == "1" and "previous.version" not in first
    second = endpoint_ops.record_tags(done("2", "green"), first)
    assert second["deployed.version"] == "2" and second["previous.version"] == "1"
    assert second["previous.digest"] == "sha-1"
    again = endpoint_ops.record_tags(done("2", "blue"), {**first, **second})
    assert again["previous.version"] == "1"  # redeploying v2 keeps v1 as the target


def test_journal_round_trips_through_endpoint_tags() -> None:
    state = replace(mid_shift(), substep=1)
    tags = {"project": "p", **endpoint_ops.journal_tags(state)}
    assert endpoint_ops.journal_from_tags(tags) == state
    assert endpoint_ops.journal_from_tags({"project": "p"}) is None


def test_split_traffic_without_a_journal_is_refused() -> None:
    assert endpoint_ops.live_deployment_from({}) is None
    assert endpoint_ops.live_deployment_from({"blue": 100, "green": 0}) == "blue"
    with pytest.raises(Exception, match="split"):
        endpoint_ops.live_deployment_from({"blue": 60, "green": 40})


def test_serving_tags_move_and_production_follows_the_production_environment(
    project, monkeypatch
) -> None:
    from {{ cookiecutter.package_name }}.config import load_settings
    from {{ cookiecutter.package_name }}.deployments import read_deployment

    client = registry_with_versions(project, count=3, champion=1)
    monkeypatch.chdir(project)
    settings = load_settings(None, {"deployment.production_environment": "prod"})
    endpoint_ops.mark_serving(client, done("2", "green", "dev"), settings=settings)
    assert client.get_model_version(MODEL, "2").tags.get("serving.dev") == "true"
    assert (
        str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == "1"
    )  # dev: no promotion
    dev = read_deployment(settings, "dev", client)
    assert (dev.version, dev.digest, dev.target) == ("2", "sha-2", "azure")
    assert dev.details == {"endpoint": "ep", "deployment": "green"}
    assert read_deployment(settings, "prod", client) is None
    endpoint_ops.mark_serving(client, done("3", "blue"), settings=settings)
    assert client.get_model_version(MODEL, "3").tags.get("serving.prod") == "true"
    assert str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == "3"
    assert read_deployment(settings, "prod", client).version == "3"
    tagged = [
        str(v.version)
        for v in client.search_model_versions(f"name = '{MODEL}'")
        if v.tags.get(PRODUCTION_TAG) == "true"
    ]
    assert tagged == ["3"]
    endpoint_ops.mark_serving(client, done("1", "green"), settings=settings)
    serving = [
        str(v.version)
        for v in client.search_model_versions(f"name = '{MODEL}'")
        if v.tags.get("serving.prod") == "true"
    ]
    assert serving == ["1"]


def test_mark_champion_moves_the_training_workspace_champion_only_by_digest(
    project, monkeypatch
) -> None:
    """After production serves v2 (digest d2), CI marks it champion in the first environment's
    workspace, where the gate reads it; a digest that is not v2's there changes nothing."""
    from types import SimpleNamespace

    from {{ cookiecutter.package_name }}.azure import workspace
    from {{ cookiecutter.package_name }}.registry import get_champion_version

    client = registry_with_versions(project, count=2, champion=1)
    client.set_model_version_tag(MODEL, "2", DIGEST_TAG, "d2")
    uri = client.tracking_uri
    training_workspace = SimpleNamespace(
        workspace_name="mlw-dev",
        workspaces=SimpleNamespace(get=lambda name: SimpleNamespace(mlflow_tracking_uri=uri)),
    )
    asked = []

    def ml_client(settings, environment=None):
        asked.append(environment)
        return training_workspace

    monkeypatch.setattr(workspace, "ml_client", ml_client)
    monkeypatch.chdir(project)
    command = ["azure", "mark-champion", "--environment", "dev", "--version", "2"]
    refused = runner.invoke(app, [*command, "--digest", "d1"])
    assert refused.exit_code == 1, refused.output
    assert "not the version that serves production" in refused.output
    assert str(get_champion_version(client, MODEL).version) == "1"
    marked = runner.invoke(app, [*command, "--digest", "d2"])
    assert marked.exit_code == 0, marked.output
    assert "v2 is the champion (was v1)" in marked.output
    assert asked == ["dev", "dev"]
    assert str(get_champion_version(client, MODEL).version) == "2"  # what the gate reads
    tagged = [
        str(v.version)
        for v in client.search_model_versions(f"name = '{MODEL}'")
        if v.tags.get(PRODUCTION_TAG) == "true"
    ]
    assert tagged == ["2"]
    again = runner.invoke(app, [*command, "--digest", "d2"])
    assert again.exit_code == 0 and "already is the champion" in again.output


def test_waiting_for_a_batch_job_honours_the_timeout() -> None:
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    statuses = iter(["Queued", "Running", "Completed"])
    assert (
        status.wait_for_job(
            lambda: next(statuses), timeout_minutes=5, sleep=sleep, clock=lambda: clock["now"]
        )
        == "Completed"
    )
    clock["now"] = 0.0
    assert (
        status.wait_for_job(
            lambda: "Running", timeout_minutes=2, sleep=sleep, clock=lambda: clock["now"]
        )
        is None
    )
    assert clock["now"] == pytest.approx(120)


def test_endpoint_status_shows_an_unfinished_rollout() -> None:
    state = mid_shift()
    tags = {
        **endpoint_ops.journal_tags(state),
        **endpoint_ops.record_tags(done("3", "blue"), {}),
    }
    lines = status.describe_endpoint(
        "ep",
        {"blue": 50, "green": 50},
        {},
        {"blue": "m:3 (Succeeded)", "green": "m:4 (Succeeded)"},
        tags,
    )
    assert lines[0] == "endpoint ep: blue 50%, green 50%"
    assert any("recorded:" in line and "v3 on blue" in line for line in lines)
    assert "UNFINISHED" in lines[-1] and "shift 50%" in lines[-1]
    stuck = replace(state, phase=Phase.STUCK, error="rollback failed (x) after: y")
    lines = status.describe_endpoint("ep", {}, {}, {}, endpoint_ops.journal_tags(stuck))
    assert "UNFINISHED" in lines[-1] and "rollback failed" in lines[-1]
    finished = replace(state, phase=Phase.DONE)
    lines = status.describe_endpoint("ep", {}, {}, {}, endpoint_ops.journal_tags(finished))
    assert lines[-1].startswith("last rollout finished")


class FakeOnlineEndpoints:
    """`client.online_endpoints` keeping one endpoint object, as the service would."""

    def __init__(self, endpoint) -> None:
        self.endpoint = endpoint
        self.updates = 0

    def get(self, name):
        import copy

        assert name == self.endpoint.name
        return copy.deepcopy(self.endpoint)

    def begin_create_or_update(self, endpoint):
        arm_check_tags(endpoint.tags or {})  # refused by ARM before anything changes
        self.endpoint = endpoint
        self.updates += 1
        return Poller(endpoint)


def test_the_azure_shell_keeps_traffic_journal_and_record_on_the_endpoint(project) -> None:
    from types import SimpleNamespace

    from azure.ai.ml.entities import ManagedOnlineEndpoint
    from azure.core.exceptions import ResourceNotFoundError

    from {{ cookiecutter.package_name }}.config import load_settings

    settings = load_settings(project / "config" / "pipeline.yaml")
    online = FakeOnlineEndpoints(
        ManagedOnlineEndpoint(name="ep", traffic={"blue": 100}, tags={"project": "p"})
    )
    deleted = []

    def begin_delete(name, endpoint_name):
        deleted.append(name)
        if len(deleted) > 1:
            raise ResourceNotFoundError("gone")
        return Poller(None)

    client = SimpleNamespace(
        online_endpoints=online,
        online_deployments=SimpleNamespace(begin_delete=begin_delete),
    )
    marked = []
    ops = endpoint_ops.AzureEndpointOperations(client, settings, "ep", mark_serving=marked.append)
    assert ops.live_deployment() == "blue" and ops.load_state() is None

    ops.set_traffic({"blue": 100, "green": 0}, {"green": 20})
    assert online.endpoint.traffic == {"blue": 100, "green": 0}
    assert online.endpoint.mirror_traffic == {"green": 20}
    state = RolloutState(
        endpoint="ep",
        environment="dev",
        model_name=MODEL,
        version="2",
        digest="d2",
        new="green",
        old="blue",
        phase=Phase.SHIFT,
        step=1,
    )
    ops.save_state(state)
    assert ops.load_state() == state and online.endpoint.tags["project"] == "p"
    ops.set_traffic({"green": 100}, {})
    assert ops.live_deployment() == "green" and online.endpoint.mirror_traffic == {}
    ops.delete_deployment("blue")
    ops.delete_deployment("blue")  # already gone: not an error
    done_state = replace(state, phase=Phase.RECORD)
    ops.record_deployment(done_state)
    assert online.endpoint.tags["deployed.version"] == "2" and marked == [done_state]
    assert online.endpoint.tags["rollout.phase"] == "shift"  # the journal is untouched
    failed = replace(state, phase=Phase.ROLLBACK, error="smoke test: " + "e" * 2000)
    ops.save_state(failed)  # would be refused by ARM untruncated
    assert len(online.endpoint.tags["rollout.error"]) == 256
    assert ops.load_state().phase == Phase.ROLLBACK
