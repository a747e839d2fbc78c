"""Registration and promotion on a real SQLite store: alias, production tag, fallback."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from conftest import copy_store
from mlflow import MlflowClient

from {{ cookiecutter.package_name }}.registry import (
    CHAMPION_ALIAS,
    PRODUCTION_TAG,
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
