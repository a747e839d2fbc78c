"""The registered versions and the champion, as `models` lists them, read cheaply.

Importing MLflow costs about 3 s of CPU and opening its SQLAlchemy store 1.5 s more (MLflow
3.15, measured 2026-11-23: `import mlflow` alone pulls pandas, pyarrow, fastapi and the
azureml plugin), for a command that lists a few rows. So for the local SQLite store this module
reads MLflow's registry tables read-only with the standard library. Any other store (Azure ML,
an MLflow server), a schema it does not recognise or a workspace other than MLflow's default
goes through `MlflowClient` and `registry`, the code every other command uses.
`tests/test_model_listing.py` checks that both paths agree on real stores.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .lazy import LazyModule

mlflow = LazyModule("mlflow")
registry = LazyModule(f"{__package__}.registry")

# The same names as `registry.CHAMPION_ALIAS` / `registry.PRODUCTION_TAG` (that module imports
# MLflow, so it cannot be imported here); the agreement test fails if they drift apart.
CHAMPION_ALIAS = "champion"
PRODUCTION_TAG = "production"
# MLflow marks deleted versions with this stage and keeps the row; its own queries skip them.
DELETED_STAGE = "Deleted_Internal"
DEFAULT_WORKSPACE = "default"
REGISTRY_COLUMNS = {
    "model_versions": {"name", "version", "creation_time", "current_stage"},
    "model_version_tags": {"name", "version", "key", "value"},
    "registered_model_aliases": {"name", "alias", "version"},
}


@dataclass(frozen=True)
class ListedVersion:
    version: str
    creation_timestamp: int  # milliseconds since the epoch, as MLflow stores it
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelListing:
    versions: list[ListedVersion]  # newest first
    champion: str | None  # the champion's version, if any


def list_model(tracking_uri: str, model_name: str) -> ModelListing:
    """Every version of `model_name`, newest first, and which one is the champion."""
    database = _sqlite_file(tracking_uri)
    if database is not None:
        if not database.is_file():  # nothing trained yet; MLflow would create an empty store
            return ModelListing(versions=[], champion=None)
        listing = _read_sqlite(database, model_name)
        if listing is not None:
            return listing
    return _read_with_mlflow(tracking_uri, model_name)


def _sqlite_file(tracking_uri: str) -> Path | None:
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite" or os.environ.get("MLFLOW_WORKSPACE"):
        return None
    return Path(parsed.path)


def _read_sqlite(database: Path, model_name: str) -> ModelListing | None:
    """The listing from the SQLite file, or None when its layout is not the one expected."""
    try:
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as connection:
            connection.row_factory = sqlite3.Row
            columns = {
                table: {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
                for table in REGISTRY_COLUMNS
            }
            if any(not REGISTRY_COLUMNS[table] <= columns[table] for table in REGISTRY_COLUMNS):
                return None
            rows = {
                table: _rows(connection, table, "workspace" in columns[table], model_name)
                for table in REGISTRY_COLUMNS
            }
    except sqlite3.Error:
        return None  # locked, corrupt or not a database: let MLflow report it
    tags: dict[str, dict[str, str]] = {}
    for row in rows["model_version_tags"]:
        tags.setdefault(str(row["version"]), {})[row["key"]] = row["value"]
    versions = sorted(
        (
            ListedVersion(
                str(row["version"]), row["creation_time"], tags.get(str(row["version"])) or {}
            )
            for row in rows["model_versions"]
            if row["current_stage"] != DELETED_STAGE
        ),
        key=lambda version: int(version.version),
        reverse=True,
    )
    aliased = [
        str(row["version"])
        for row in rows["registered_model_aliases"]
        if row["alias"] == CHAMPION_ALIAS
    ]
    champion = _champion(versions, aliased[0] if aliased else None)
    return ModelListing(versions=versions, champion=champion)


def _rows(
    connection: sqlite3.Connection, table: str, has_workspace: bool, model_name: str
) -> list[sqlite3.Row]:
    query = f"SELECT * FROM {table} WHERE name = ?"  # table names come from REGISTRY_COLUMNS
    parameters: tuple[str, ...] = (model_name,)
    if has_workspace:
        query += " AND workspace = ?"
        parameters += (DEFAULT_WORKSPACE,)
    return connection.execute(query, parameters).fetchall()


def _champion(versions: list[ListedVersion], aliased: str | None) -> str | None:
    """The alias wins; without one, the newest version tagged production (`registry`'s rule)."""
    if aliased is not None:
        return aliased
    tagged = [v.version for v in versions if v.tags.get(PRODUCTION_TAG) == "true"]
    return max(tagged, key=int, default=None)


def _read_with_mlflow(tracking_uri: str, model_name: str) -> ModelListing:
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = [
        ListedVersion(str(v.version), v.creation_timestamp, dict(v.tags))
        for v in registry.list_versions(client, model_name)
    ]
    champion = registry.get_champion_version(client, model_name)
    return ModelListing(versions=versions, champion=str(champion.version) if champion else None)
