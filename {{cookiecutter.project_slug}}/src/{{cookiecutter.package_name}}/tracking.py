"""Point MLflow at the configured store: SQLite + a local artifact folder unless told otherwise."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient

from .config import Settings
from .locking import local_lock
from .registry import configure_aliases

# Held while the store is created and the experiment looked up or created: two first runs on
# a missing SQLite store would otherwise both run its migrations (alembic: "Online migration
# expected to match one row") or both create the experiment.
STORE_LOCK = ".store"


def configure_tracking(settings: Settings) -> str:
    """Set the tracking and registry URIs and return the experiment id (created if missing).

    The artifact location is set explicitly: SQLite stores otherwise default to `./mlruns`
    relative to wherever the command happens to run. Creating the store and the experiment
    happens under the store lock (next to the promotion locks), so concurrent first runs
    take turns.
    """
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(urlparse(uri).path).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    configure_aliases(uri, settings.tracking.aliases)
    with local_lock(settings).hold(STORE_LOCK):
        client = MlflowClient()
        name = settings.tracking.experiment_name
        experiment = client.get_experiment_by_name(name)  # creates a missing SQLite store
        if experiment is not None:
            return experiment.experiment_id
        artifact_location = settings.artifact_uri if _is_local_store(uri) else None
        return client.create_experiment(name, artifact_location=artifact_location)


def _is_local_store(uri: str) -> bool:
    return urlparse(uri).scheme in {"sqlite", "file", ""}
