"""One champion transition at a time per model: a small lock protocol and its local form.

Promotion reads the champion, deploys, records the deployment and moves the champion; two runs
doing that at once could both win. `deploy` therefore holds the model's lock for the whole
transition. Locally the lock is a file next to the SQLite store (`filelock`, which works on
Linux, macOS and Windows and is released when the process dies). A runner that shares a store
across machines (Azure ML) supplies its own `ModelLock`, for example a blob lease, by
overriding `BasePipeline.model_lock()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from filelock import FileLock, Timeout

from .config import Settings
from .errors import PipelineError

DEFAULT_TIMEOUT_SECONDS = 300.0


class ModelLock(Protocol):
    """Exclusive, per model name; `hold` blocks until acquired or raises a PipelineError."""

    def hold(self, model_name: str) -> AbstractContextManager[None]: ...


class FileModelLock:
    """A lock file per model in `folder`; protects every process on this machine."""

    def __init__(self, folder: Path, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.folder = folder
        self.timeout_seconds = timeout_seconds

    def path(self, model_name: str) -> Path:
        return self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', model_name)}.lock"

    @contextmanager
    def hold(self, model_name: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path(model_name)), timeout=self.timeout_seconds)
        try:
            lock.acquire()
        except Timeout:
            raise PipelineError(
                f"another run has held the promotion lock {self.path(model_name)} for more "
                f"than {self.timeout_seconds:.0f} s: wait for it to finish, then re-run"
            ) from None
        try:
            yield
        finally:
            lock.release()


def local_lock(settings: Settings) -> FileModelLock:
    """Next to the SQLite store when there is one, else in the project's `.mlflow/locks`
    (which then only guards runs on this machine: a shared server needs a shared lock)."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return FileModelLock(Path(urlparse(uri).path).parent / "locks")
    return FileModelLock(settings.resolve(Path(".mlflow/locks")))
