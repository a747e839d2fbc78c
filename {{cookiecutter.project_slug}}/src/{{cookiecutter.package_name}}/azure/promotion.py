"""Copy one model version from the workspace where training runs to a later environment's.

Each environment has its own workspace and model registry; `azure deploy` serves a version
from the target's registry. This copies the exact version (same name, version number and
tags) after checking the downloaded files against the source's `model.sha256` tag. It only
calls `models.get`, `models.download` and `models.create_or_update` on the two `MLClient`s.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..lineage import model_digest
from ..registry import DIGEST_TAG


def _find(client: Any, name: str, version: str) -> Any | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return client.models.get(name, version)
    except ResourceNotFoundError:
        return None


def _model_folder(download: Path, name: str, version: str) -> Path:
    """The one downloaded folder holding an `MLmodel` file (the SDK nests it under the name)."""
    found = sorted(path.parent for path in download.rglob("MLmodel"))
    if len(found) != 1:
        raise PipelineError(
            f"model {name} v{version} downloaded {len(found)} MLmodel files, expected 1"
        )
    return found[0]


def promote_version(
    source: Any,
    target: Any,
    name: str,
    version: str,
    *,
    log: Callable[[str], None],
) -> bool:
    """Register `name` v`version` from `source` in `target` unless the same bytes are already
    there; True when it copied. Refuses (PipelineError, nothing registered) a source version
    that is missing or has no digest, a target version with another digest, and a download
    whose digest differs from the source's tag."""
    from azure.ai.ml.entities import Model

    where = f"workspace {source.workspace_name}"
    original = _find(source, name, version)
    if original is None:
        raise PipelineError(f"model {name} v{version} is not in {where}: check --version")
    digest = (original.tags or {}).get(DIGEST_TAG)
    if not digest:
        raise PipelineError(
            f"model {name} v{version} in {where} has no {DIGEST_TAG} tag: register it with "
            "the project's `register` step, which records the digest"
        )
    existing = _find(target, name, version)
    if existing is not None:
        found = (existing.tags or {}).get(DIGEST_TAG)
        if found != digest:
            raise PipelineError(
                f"model {name} v{version} already exists in workspace {target.workspace_name} "
                f"with digest {str(found)[:12]}, not {digest[:12]}: it is another model"
            )
        log(f"model {name} v{version} already in {target.workspace_name} (same digest)")
        return False
    with tempfile.TemporaryDirectory() as folder:
        source.models.download(name, version, download_path=folder)
        model_dir = _model_folder(Path(folder), name, version)
        downloaded = model_digest(model_dir)
        if downloaded != digest:
            raise PipelineError(
                f"model {name} v{version} downloaded from {where} has digest "
                f"{downloaded[:12]}, not its tag's {digest[:12]}: nothing was copied"
            )
        copy = Model(
            name=name,
            version=version,
            path=str(model_dir),
            type=original.type,
            description=original.description,
            tags=dict(original.tags),
        )
        target.models.create_or_update(copy)
    log(f"model {name} v{version} copied {source.workspace_name} -> {target.workspace_name}")
    return True
