"""Carry one model version from the workspace where training runs to a later environment's.

Each environment has its own workspace and model registry, and each environment's CI identity
can reach its own workspace only. So a version travels as a *model package*: the first
environment's job exports it (`azure export-model`: the files plus a manifest, checked against
the `model.sha256` tag), CI hands the folder on as a pipeline artifact, and the later
environment's job imports it (`azure deploy --model-package`) under the same name, version
number and tags, after checking the files again. No identity ever reads another environment.

`promote_version` does both in one process, for someone who can reach both workspaces.
Only `models.get`, `models.download` and `models.create_or_update` are called.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..lineage import model_digest
from ..registry import DIGEST_TAG

MANIFEST = "model-package.json"
FILES = "model"
PACKAGE_FORMAT = 1


@dataclass(frozen=True)
class ModelPackage:
    """What the manifest records: enough to register the same version elsewhere."""

    name: str
    version: str
    digest: str
    type: str
    source_workspace: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    format: int = PACKAGE_FORMAT


def find_version(client: Any, name: str, version: str) -> Any | None:
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


def _source_version(source: Any, name: str, version: str) -> tuple[Any, str]:
    """The source's model entity and its digest tag; refuses a missing or undigested one."""
    where = f"workspace {source.workspace_name}"
    original = find_version(source, name, version)
    if original is None:
        raise PipelineError(f"model {name} v{version} is not in {where}: check --version")
    digest = (original.tags or {}).get(DIGEST_TAG)
    if not digest:
        raise PipelineError(
            f"model {name} v{version} in {where} has no {DIGEST_TAG} tag: register it with "
            "the project's `register` step, which records the digest"
        )
    return original, digest


def _already_there(target: Any, name: str, version: str, digest: str) -> bool:
    """True when the target holds the same bytes; refuses the same number with other bytes."""
    existing = find_version(target, name, version)
    if existing is None:
        return False
    found = (existing.tags or {}).get(DIGEST_TAG)
    if found != digest:
        raise PipelineError(
            f"model {name} v{version} already exists in workspace {target.workspace_name} "
            f"with digest {str(found)[:12]}, not {digest[:12]}: it is another model"
        )
    return True


def export_version(
    source: Any, name: str, version: str, output: Path, *, expected_digest: str | None = None
) -> ModelPackage:
    """Write `name` v`version` from `source` to `output` (an empty or new folder) as a model
    package. Refuses, writing nothing, a missing or undigested version, one whose digest is
    not `expected_digest`, and a download whose files do not match the digest tag."""
    original, digest = _source_version(source, name, version)
    where = f"workspace {source.workspace_name}"
    if expected_digest and expected_digest != digest:
        raise PipelineError(
            f"model {name} v{version} in {where} has digest {digest[:12]}, not the expected "
            f"{expected_digest[:12]}: it is not the model the gate promoted"
        )
    if output.exists() and any(output.iterdir()):
        raise PipelineError(f"{output} is not empty: a model package needs a folder of its own")
    with tempfile.TemporaryDirectory() as folder:
        source.models.download(name, version, download_path=folder)
        model_dir = _model_folder(Path(folder), name, version)
        downloaded = model_digest(model_dir)
        if downloaded != digest:
            raise PipelineError(
                f"model {name} v{version} downloaded from {where} has digest "
                f"{downloaded[:12]}, not its tag's {digest[:12]}: nothing was exported"
            )
        output.mkdir(parents=True, exist_ok=True)
        shutil.copytree(model_dir, output / FILES)
    package = ModelPackage(
        name=name,
        version=version,
        digest=digest,
        type=original.type,
        source_workspace=source.workspace_name,
        description=original.description,
        tags=dict(original.tags),
    )
    (output / MANIFEST).write_text(json.dumps(asdict(package), indent=2) + "\n")
    return package


def read_package(folder: Path) -> ModelPackage:
    """The manifest of a model package, with its files checked against the digest it records
    (a package altered or truncated on its way between jobs is refused)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise PipelineError(
            f"{folder} is not a model package: no {MANIFEST} (write one with `azure export-model`)"
        )
    try:
        package = ModelPackage(**json.loads(manifest.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as error:
        raise PipelineError(f"{manifest} is not a model package manifest: {error}") from None
    if package.format != PACKAGE_FORMAT:
        raise PipelineError(f"{manifest}: package format {package.format}, expected 1")
    if package.tags.get(DIGEST_TAG) != package.digest:
        raise PipelineError(f"{manifest}: its digest and its {DIGEST_TAG} tag disagree")
    files = folder / FILES
    found = model_digest(files) if files.is_dir() and any(files.iterdir()) else "none"
    if found != package.digest:
        raise PipelineError(
            f"the files in {files} have digest {found[:12]}, not the package's "
            f"{package.digest[:12]}: the package was altered; nothing was registered"
        )
    return package


def import_version(
    target: Any,
    folder: Path,
    *,
    log: Callable[[str], None],
    name: str | None = None,
    version: str | None = None,
    expected_digest: str | None = None,
) -> ModelPackage:
    """Register the packaged version in `target` unless the same bytes are already there.
    Refuses, registering nothing, a package that is not the model `name`, `version` (or
    digest) asked for, one whose files do not match its digest, and a target version with
    another digest."""
    from azure.ai.ml.entities import Model

    package = read_package(folder)
    if name is not None and name != package.name:
        raise PipelineError(f"{folder} holds model {package.name}, not {name}")
    if version is not None and version != package.version:
        raise PipelineError(
            f"{folder} holds {package.name} v{package.version}, not the requested v{version}"
        )
    if expected_digest and expected_digest != package.digest:
        raise PipelineError(
            f"{folder} holds {package.name} v{package.version} with digest "
            f"{package.digest[:12]}, not the expected {expected_digest[:12]}: nothing deployed"
        )
    label = f"model {package.name} v{package.version}"
    if _already_there(target, package.name, package.version, package.digest):
        log(f"{label} already in {target.workspace_name} (same digest)")
        return package
    target.models.create_or_update(
        Model(
            name=package.name,
            version=package.version,
            path=str(folder / FILES),
            type=package.type,
            description=package.description,
            tags=dict(package.tags),
        )
    )
    log(f"{label} registered in {target.workspace_name} from {package.source_workspace}")
    return package


def promote_version(
    source: Any,
    target: Any,
    name: str,
    version: str,
    *,
    log: Callable[[str], None],
) -> bool:
    """Export from `source` and import into `target` in one go; True when it copied. The
    target is looked at first, so a version already there is not downloaded again."""
    _, digest = _source_version(source, name, version)
    if _already_there(target, name, version, digest):
        log(f"model {name} v{version} already in {target.workspace_name} (same digest)")
        return False
    with tempfile.TemporaryDirectory() as folder:
        export_version(source, name, version, Path(folder) / "package", expected_digest=digest)
        import_version(target, Path(folder) / "package", log=log, name=name, version=version)
    return True
