"""Model registration, champion lookup and promotion through one code path.

The same calls work on a local SQLite store and on the Azure ML tracking server, which lacks
`log_model` and may lack aliases: models are registered from run artifacts with
`create_model_version`, and the champion is marked twice, by the alias `champion` (where
supported) and by the version tag `production=true` (everywhere).
"""

from __future__ import annotations

import contextlib

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

CHAMPION_ALIAS = "champion"
PRODUCTION_TAG = "production"


def get_champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version currently promoted, by alias first and by production tag as a fallback."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        pass  # no alias yet, no such model, or a store without aliases
    tagged = [v for v in list_versions(client, model_name) if v.tags.get(PRODUCTION_TAG) == "true"]
    return max(tagged, key=lambda v: int(v.version), default=None)


def list_versions(client: MlflowClient, model_name: str) -> list[ModelVersion]:
    """Every version of the model, newest first; empty when the model does not exist."""
    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return []
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def register_version(
    client: MlflowClient,
    model_name: str,
    source_uri: str,
    run_id: str,
    tags: dict[str, str],
) -> ModelVersion:
    """Register the model stored at `source_uri` (a run artifact folder) as a new version."""
    try:
        client.create_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return client.create_model_version(model_name, source=source_uri, run_id=run_id, tags=tags)


def tag_version(client: MlflowClient, model_name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)


def promote(
    client: MlflowClient,
    model_name: str,
    version: str,
    previous: ModelVersion | None,
) -> None:
    """Make `version` the champion and take the production tag off the previous one."""
    client.set_model_version_tag(model_name, version, PRODUCTION_TAG, "true")
    # A store without aliases (Azure ML) still has the production tag to mark the champion.
    with contextlib.suppress(MlflowException):
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    if previous is not None and str(previous.version) != str(version):
        client.delete_model_version_tag(model_name, previous.version, PRODUCTION_TAG)
