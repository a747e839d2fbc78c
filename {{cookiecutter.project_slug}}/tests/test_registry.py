"""Registration and promotion on a real SQLite store: alias, production tag, fallback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
from conftest import copy_store
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND, INTERNAL_ERROR

from {{ cookiecutter.package_name }}.lineage import git_commit, model_digest
from {{ cookiecutter.package_name }}.registry import (
    CHAMPION_ALIAS,
    PRODUCTION_TAG,
    RegistryError,
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
    first = new_version(client, tmp_path)
    break_method(monkeypatch, client, "set_registered_model_alias", error_code=ENDPOINT_NOT_FOUND)
    break_method(monkeypatch, client, "get_model_version_by_alias", error_code=ENDPOINT_NOT_FOUND)
    promote(client, "m", first, previous=None)
    assert str(get_champion_version(client, "m").version) == first


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
