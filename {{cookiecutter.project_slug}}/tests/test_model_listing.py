"""`models` reads the local registry without MLflow, and agrees with MLflow on what it reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient
from test_startup import probe

from {{ cookiecutter.package_name }} import model_listing, registry
from {{ cookiecutter.package_name }}.model_listing import list_model


@pytest.fixture
def store(project: Path) -> tuple[str, Path]:
    """The project's own SQLite store (where `models` looks), as a URI and a file."""
    database = project / ".mlflow" / "mlflow.db"
    return f"sqlite:///{database}", database


def new_version(client: MlflowClient, folder: Path, name: str, tags: dict[str, str]) -> str:
    experiment = client.get_experiment_by_name("e") or client.get_experiment(
        client.create_experiment("e", artifact_location=(folder / "artifacts").as_uri())
    )
    run = client.create_run(experiment.experiment_id)
    source = f"{run.info.artifact_uri}/model"
    return str(registry.register_version(client, name, source, run.info.run_id, tags).version)


def both_ways(uri: str, database: Path, name: str) -> model_listing.ModelListing:
    fast = model_listing._read_sqlite(database, name)
    assert fast == model_listing._read_with_mlflow(uri, name)
    return fast


def test_the_sqlite_reader_agrees_with_mlflow(store: tuple[str, Path], tmp_path: Path) -> None:
    uri, database = store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert both_ways(uri, database, "m").versions == []

    first = new_version(client, tmp_path, "m", {"metric.f1": "0.8"})
    registry.promote(client, "m", first, previous=None)
    second = new_version(client, tmp_path, "m", {"decision.final": "kept"})
    third = new_version(client, tmp_path, "m", {})
    new_version(client, tmp_path, "other", {})
    listing = both_ways(uri, database, "m")
    assert [v.version for v in listing.versions] == [third, second, first]
    assert listing.champion == first
    assert listing.versions[2].tags == {"metric.f1": "0.8", "production": "true"}

    registry.promote(client, "m", third, previous=registry.get_champion_version(client, "m"))
    assert both_ways(uri, database, "m").champion == third

    client.delete_registered_model_alias("m", registry.CHAMPION_ALIAS)  # as on Azure ML
    assert both_ways(uri, database, "m").champion == third

    client.delete_model_version("m", second)
    assert [v.version for v in both_ways(uri, database, "m").versions] == [third, first]


def test_an_unknown_layout_goes_through_mlflow(tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE model_versions (name TEXT)")
    assert model_listing._read_sqlite(database, "m") is None


def test_a_missing_store_is_empty_and_not_created(tmp_path: Path) -> None:
    database = tmp_path / ".mlflow" / "mlflow.db"
    assert list_model(f"sqlite:///{database}", "m") == model_listing.ModelListing([], None)
    assert not database.exists()


def test_models_lists_the_champion_without_importing_mlflow(
    project: Path, store: tuple[str, Path], tmp_path: Path
) -> None:
    uri, _ = store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = "{{ cookiecutter.package_name }}"
    first = new_version(client, tmp_path, name, {"decision.final": "promoted: first model"})
    registry.promote(client, name, first, previous=None)
    new_version(client, tmp_path, name, {"decision.final": "not promoted; champion kept"})

    report, output = probe(project, "models")
    assert report["exit"] == 0, output
    assert report["heavy"] == [], "`models` imported them"
    assert "★" in output and "Latest v2: not promoted; champion kept" in output
