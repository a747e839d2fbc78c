"""An exact registered version's files, copied out of the model store and verified by digest.

The local deploy step puts the version it rolls out here, and `serve` starts from here:
`.mlflow/serving/<name>/<version>-<sha256[:12]>/model/` (the layout Azure mounts; the digest in
the folder name means a recreated store can never serve stale files).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .deployments import client_for
from .errors import PipelineError
from .lineage import model_digest
from .registry import call

if TYPE_CHECKING:
    from .config import Settings


class ModelFilesError(PipelineError):
    """The store's files are not an MLflow model, or not the ones that were registered."""


def materialize_version(
    settings: Settings, name: str, version: str, digest: str | None = None
) -> Path:
    """Download `name` v`version` once per digest and verify it; return its version folder.

    Without a recorded digest (versions registered before digests were kept) the folder is
    keyed by the digest of what was downloaded, and always downloaded afresh."""
    root = settings.resolve(Path(".mlflow/serving")) / name
    if digest is not None:
        version_dir = root / f"{version}-{digest[:12]}"
        model_dir = version_dir / "model"
        if (model_dir / "MLmodel").is_file() and model_digest(model_dir) == digest:
            return version_dir
        shutil.rmtree(version_dir, ignore_errors=True)  # stale or tampered: fetch again
    client = client_for(settings)
    source = call(
        client,
        "get_model_version_download_uri",
        client.get_model_version_download_uri,
        name,
        version,
    )
    staging_root = root / ".staging"
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=staging_root))
    try:
        downloaded = _download(source, staging)
        found = model_digest(downloaded)
        if digest is not None and found != digest:
            raise ModelFilesError(
                f"{name} v{version} downloaded from {source} has sha256 {found[:12]}, not the "
                f"deployed {digest[:12]}: the artifact store changed; redeploy with `deploy`"
            )
        version_dir = root / f"{version}-{found[:12]}"
        version_dir.mkdir(parents=True, exist_ok=True)
        try:
            downloaded.rename(version_dir / "model")
        except OSError:
            if not (version_dir / "model" / "MLmodel").is_file():
                raise  # not a concurrent download of the same files: a real failure
        return version_dir
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(source_uri: str, staging: Path) -> Path:
    """Download into a temporary folder: a half-copied folder is never served."""
    import mlflow.artifacts

    downloaded = Path(mlflow.artifacts.download_artifacts(source_uri, dst_path=str(staging)))
    if not (downloaded / "MLmodel").is_file():
        raise ModelFilesError(f"{source_uri} is not an MLflow model folder (no MLmodel file)")
    return downloaded
