"""Lineage tags that let anyone trace a model version back to its code, data and settings."""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

from .config import PACKAGE_NAME

TRACKED_PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "optuna")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# MLflow writes this file into a registered model's artifact folder when the model is loaded
# through a `models:/` URI (in place, for a local store): it is bookkeeping, not the model.
_NOT_MODEL_FILES = frozenset({"registered_model_meta"})


def model_digest(model_dir: Path) -> str:
    """sha256 over every file of a model folder: relative paths in sorted order, each with its
    content's sha256. The same bytes give the same digest wherever the folder was copied."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in model_dir.rglob("*") if p.is_file() and p.name not in _NOT_MODEL_FILES
    )
    if not files:
        raise FileNotFoundError(f"{model_dir} holds no files")
    for path in files:
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def git_commit(project_dir: Path) -> str:
    """The checked-out commit, with `-dirty` when there are local changes or untracked files
    (ignored ones excepted), or 'unavailable' outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=normal"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    return f"{commit}-dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    versions = {}
    for name in (PACKAGE_NAME, *TRACKED_PACKAGES):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def lineage_tags(project_dir: Path, data_sha256: str, config_fingerprint: str) -> dict[str, str]:
    tags = {
        "lineage.git_commit": git_commit(project_dir),
        "lineage.data_sha256": data_sha256,
        "lineage.config_sha256": config_fingerprint,
    }
    tags.update({f"lineage.version.{name}": v for name, v in package_versions().items()})
    return tags
