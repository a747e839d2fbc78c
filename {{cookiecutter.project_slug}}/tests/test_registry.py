"""Registration and promotion on a real SQLite store: alias, production tag, fallback."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from conftest import copy_store
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    ENDPOINT_NOT_FOUND,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
)

from {{ cookiecutter.package_name }}.lineage import git_commit, model_digest
from {{ cookiecutter.package_name }}.registry import (
    CHAMPION_ALIAS,
    DIGEST_TAG,
    PRODUCTION_TAG,
    RegistryError,
    aliases_enabled,
    configure_aliases,
    get_champion_version,
    list_versions,
    promote,
    register_version,
)


@pytest.fixture
def client(tmp_path: Path, empty_store: Path) -> MlflowClient:
    uri = copy_store(empty_store, tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient()


def new_version(client: MlflowClient, tmp_path: Path, name: str = "m") -> str:
    experiment = client.get_experiment_by_name("e") or client.get_experiment(
        client.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    )
    run = client.create_run(experiment.experiment_id)
    source = f"{run.info.artifact_uri}/model"
    return str(register_version(client, name, source, run.info.run_id, {}).version)


def test_no_model_means_no_champion(client: MlflowClient) -> None:
    assert get_champion_version(client, "absent") is None
    assert list_versions(client, "absent") == []


def test_promotion_moves_alias_and_production_tag(client: MlflowClient, tmp_path: Path) -> None:
    first = new_version(client, tmp_path)
    promote(client, "m", first, previous=None)
    second = new_version(client, tmp_path)
    assert str(get_champion_version(client, "m").version) == first  # registering isn't promoting
    promote(client, "m", second, previous=get_champion_version(client, "m"))
    assert str(client.get_model_version_by_alias("m", CHAMPION_ALIAS).version) == second
    assert client.get_model_version("m", second).tags[PRODUCTION_TAG] == "true"
    assert PRODUCTION_TAG not in client.get_model_version("m", first).tags
    assert [str(v.version) for v in list_versions(client, "m")] == [second, first]


def test_champion_falls_back_to_the_production_tag(client: MlflowClient, tmp_path: Path) -> None:
    """Stores without aliases (Azure ML) still find the champion by its tag."""
    version = new_version(client, tmp_path)
    promote(client, "m", version, previous=None)
    client.delete_registered_model_alias("m", CHAMPION_ALIAS)
    assert str(get_champion_version(client, "m").version) == version


def failing(error_code: int = INTERNAL_ERROR, times: int | None = None):
    """A replacement for one client method that fails like a store outage (`times` calls)."""
    calls = {"count": 0}

    def call(*args, **kwargs):
        calls["count"] += 1
        if times is None or calls["count"] <= times:
            raise MlflowException("store unavailable", error_code=error_code)
        return call.original(*args, **kwargs)

    return call


def break_method(monkeypatch, client, method, **kwargs):
    replacement = failing(**kwargs)
    replacement.original = getattr(client, method)
    monkeypatch.setattr(client, method, replacement)


@pytest.mark.parametrize("method", ["get_model_version_by_alias", "search_model_versions"])
def test_a_store_error_is_never_read_as_no_champion(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    promote(client, "m", new_version(client, tmp_path), previous=None)
    client.delete_registered_model_alias("m", CHAMPION_ALIAS)  # force the tag fallback too
    break_method(monkeypatch, client, method)
    with pytest.raises(RegistryError, match=f"{method}.*INTERNAL_ERROR") as failure:
        get_champion_version(client, "m")
    assert client.tracking_uri in str(failure.value)


def test_a_driver_error_names_the_store_and_call(
    client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(client, "search_model_versions", locked)
    with pytest.raises(RegistryError, match=r"search_model_versions.*database is locked"):
        list_versions(client, "m")


def test_a_store_without_aliases_uses_the_production_tag(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe finds the alias routes answering 403 (as Azure ML has been reported to) while
    the registry works: aliases are off, and the production tag alone marks the champion."""
    first = new_version(client, tmp_path)
    break_method(monkeypatch, client, "set_registered_model_alias", error_code=PERMISSION_DENIED)
    break_method(monkeypatch, client, "get_model_version_by_alias", error_code=PERMISSION_DENIED)
    assert not aliases_enabled(client)
    promote(client, "m", first, previous=None)
    assert str(get_champion_version(client, "m").version) == first
    second = new_version(client, tmp_path)
    promote(client, "m", second, previous=get_champion_version(client, "m"))
    assert str(get_champion_version(client, "m").version) == second
    assert PRODUCTION_TAG not in client.get_model_version("m", first).tags


@pytest.mark.parametrize("code", [PERMISSION_DENIED, ENDPOINT_NOT_FOUND, INTERNAL_ERROR])
def test_with_aliases_on_an_alias_error_is_an_error_never_no_champion(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    configure_aliases(client.tracking_uri, "on")
    first = new_version(client, tmp_path)
    promote(client, "m", first, previous=None)
    break_method(monkeypatch, client, "set_registered_model_alias", error_code=code)
    with pytest.raises(RegistryError, match="set_registered_model_alias"):
        promote(client, "m", new_version(client, tmp_path), get_champion_version(client, "m"))
    break_method(monkeypatch, client, "get_model_version_by_alias", error_code=code)
    with pytest.raises(RegistryError, match="get_model_version_by_alias"):
        get_champion_version(client, "m")


def test_the_probe_refuses_to_guess_on_an_outage(
    client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_method(monkeypatch, client, "get_model_version_by_alias", error_code=INTERNAL_ERROR)
    with pytest.raises(RegistryError, match=r"set tracking\.aliases to on or off"):
        aliases_enabled(client)
    break_method(monkeypatch, client, "search_registered_models", error_code=PERMISSION_DENIED)
    with pytest.raises(RegistryError, match="search_registered_models"):
        aliases_enabled(client)  # a registry that fails everywhere is failing, not alias-less


def test_alias_modes_configured_and_probed(client: MlflowClient, tmp_path: Path) -> None:
    assert aliases_enabled(client)  # a SQLite store has aliases: the probe finds them
    configure_aliases(client.tracking_uri, "off")
    version = new_version(client, tmp_path)
    promote(client, "m", version, previous=None)
    assert str(get_champion_version(client, "m").version) == version
    assert client.get_registered_model("m").aliases == {}  # off: no alias call at all
    azure = SimpleNamespace(tracking_uri="azureml://westeurope.api.azureml.ms/mlflow/v1.0/x")
    assert not aliases_enabled(azure)  # auto: off for Azure ML, without a call (it has none)
    with pytest.raises(Exception, match=r"tracking\.aliases 'maybe'"):
        configure_aliases(client.tracking_uri, "maybe")


@pytest.mark.parametrize(
    "method", ["set_model_version_tag", "set_registered_model_alias", "delete_model_version_tag"]
)
def test_a_promotion_failing_half_way_is_rolled_back(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    first = new_version(client, tmp_path)
    promote(client, "m", first, previous=None)
    second = new_version(client, tmp_path)
    break_method(monkeypatch, client, method, times=1)
    with pytest.raises(RegistryError, match=f"rolled back.*{method}"):
        promote(client, "m", second, previous=get_champion_version(client, "m"))
    monkeypatch.undo()
    assert str(client.get_model_version_by_alias("m", CHAMPION_ALIAS).version) == first
    assert client.get_model_version("m", first).tags[PRODUCTION_TAG] == "true"
    assert PRODUCTION_TAG not in client.get_model_version("m", second).tags


def test_a_rollback_that_fails_too_says_what_to_repair(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = new_version(client, tmp_path)
    promote(client, "m", first, previous=None)
    second = new_version(client, tmp_path)
    break_method(monkeypatch, client, "set_registered_model_alias")  # fails every time
    with pytest.raises(
        RegistryError, match=f"set alias 'champion' and tag production=true on v{first}"
    ):
        promote(client, "m", second, previous=get_champion_version(client, "m"))


def test_untracked_files_make_the_tree_dirty(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "a.txt").write_text("a")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "first")
    assert not git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "new_module.py").write_text("")
    assert git_commit(tmp_path).endswith("-dirty")


def test_model_digest_follows_content_not_location(tmp_path: Path) -> None:
    first = tmp_path / "a"
    (first / "sub").mkdir(parents=True)
    (first / "MLmodel").write_text("flavors: {}")
    (first / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    copy = tmp_path / "b"
    shutil.copytree(first, copy)
    (copy / "registered_model_meta").write_text("model_name: m")  # MLflow's bookkeeping
    assert model_digest(first) == model_digest(copy)
    (copy / "sub" / "weights.bin").write_bytes(b"\x00\x02")
    assert model_digest(first) != model_digest(copy)


def test_the_deployment_record_fits_azure_tags_and_round_trips(client: MlflowClient) -> None:
    """The longest record (a 32-character endpoint name, a five-digit version) stays within
    256 characters per tag, and a new record leaves no details of the one it replaced."""
    from {{ cookiecutter.package_name }}.config import load_settings
    from {{ cookiecutter.package_name }}.deployments import (
        DeploymentRecord,
        read_deployment,
        record_deployment,
        record_tags,
    )

    settings = load_settings(
        None, {"tracking.uri": client.tracking_uri, "tracking.model_name": "m"}
    )
    client.create_registered_model("m")
    longest = DeploymentRecord(
        "m",
        "prod",
        "12345",
        "a" * 64,
        target="azure",
        run_id="b" * 32,
        details={"endpoint": "e" * 32, "deployment": "green"},
    )
    assert all(len(value) <= 256 for value in record_tags(longest).values())
    record_deployment(settings, longest, client)
    assert read_deployment(settings, "prod", client) == longest
    local = replace(longest, version="7", details={})
    record_deployment(settings, local, client)
    assert read_deployment(settings, "prod", client) == local


def test_with_model_tags_off_the_record_moves_between_version_tags(
    client: MlflowClient, tmp_path: Path
) -> None:
    """Where model-level tags are off (auto on azureml://), the record is a tag of the version
    it names: moved by a new record, put back by a restore, and never read from a version that
    only carries an older one."""
    from {{ cookiecutter.package_name }}.config import load_settings
    from {{ cookiecutter.package_name }}.deployments import (
        DeploymentRecord,
        model_tags_enabled,
        read_deployment,
        record_deployment,
        record_tags,
        restore_deployment,
    )

    settings = load_settings(
        None,
        {
            "tracking.uri": client.tracking_uri,
            "tracking.model_name": "m",
            "tracking.model_tags": "off",
        },
    )
    assert not model_tags_enabled(settings)
    assert model_tags_enabled(load_settings(None, {"tracking.uri": client.tracking_uri}))
    azure = load_settings(
        None, {"tracking.uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x"}
    )
    assert not model_tags_enabled(azure)  # auto: off on Azure ML
    first, second = new_version(client, tmp_path), new_version(client, tmp_path)
    v1 = DeploymentRecord("m", "prod", first, "a" * 64, deployed_at="2026-12-01T00:00:00+00:00")
    v2 = DeploymentRecord("m", "prod", second, "b" * 64, deployed_at="2026-12-02T00:00:00+00:00")

    def carrying() -> list[str]:
        return [str(v.version) for v in list_versions(client, "m") if "deployment.prod" in v.tags]

    assert read_deployment(settings, "prod", client) is None
    record_deployment(settings, v1, client)
    assert read_deployment(settings, "prod", client) == v1
    assert carrying() == [first] and client.get_registered_model("m").tags == {}
    record_deployment(settings, v2, client)
    assert read_deployment(settings, "prod", client) == v2 and carrying() == [second]
    # Half-way through a move both versions carry a record: the newer one counts.
    client.set_model_version_tag("m", first, "deployment.prod", record_tags(v1)["deployment.prod"])
    assert read_deployment(settings, "prod", client) == v2
    restore_deployment(settings, "prod", v1, client)  # a failed transition put back
    assert read_deployment(settings, "prod", client) == v1 and carrying() == [first]
    restore_deployment(settings, "prod", None, client)
    assert read_deployment(settings, "prod", client) is None and carrying() == []


def new_run(client: MlflowClient, tmp_path: Path):
    experiment = client.get_experiment_by_name("e") or client.get_experiment(
        client.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    )
    return client.create_run(experiment.experiment_id)


def test_registration_creates_the_version_then_tags_it(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like Azure ML has: a store that refuses tags at creation. The version is created bare,
    then tagged (values cut to 256 characters), and links the run its files belong to."""
    create = client.create_model_version

    def refuses_tags_at_creation(name, source, run_id=None, tags=None, **kwargs):
        if tags:
            raise MlflowException("tags at creation", error_code=INVALID_PARAMETER_VALUE)
        return create(name, source, run_id=run_id, **kwargs)

    monkeypatch.setattr(client, "create_model_version", refuses_tags_at_creation)
    run = new_run(client, tmp_path)
    source = f"{run.info.artifact_uri}/model"
    tags = {"metric.f1": "0.9", "decision.final": "x" * 1000, DIGEST_TAG: "d" * 64}
    version = register_version(client, "m", source, run.info.run_id, tags)
    assert version.run_id == run.info.run_id and version.source == source
    assert version.tags[DIGEST_TAG] == "d" * 64 and version.tags["metric.f1"] == "0.9"
    assert len(version.tags["decision.final"]) == 256


def test_a_version_whose_tagging_fails_has_no_digest(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_tag = client.set_model_version_tag
    calls = {"count": 0}

    def fails_on_the_second(*args):
        calls["count"] += 1
        if calls["count"] == 2:
            raise MlflowException("store unavailable", error_code=INTERNAL_ERROR)
        return set_tag(*args)

    monkeypatch.setattr(client, "set_model_version_tag", fails_on_the_second)
    run = new_run(client, tmp_path)
    tags = {"a": "1", "b": "2", DIGEST_TAG: "d"}
    with pytest.raises(RegistryError, match="can never be deployed"):
        register_version(client, "m", f"{run.info.artifact_uri}/model", run.info.run_id, tags)
    assert DIGEST_TAG not in client.get_model_version("m", "1").tags
