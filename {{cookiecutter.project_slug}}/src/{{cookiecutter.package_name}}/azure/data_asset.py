"""The training data as an Azure ML data asset, versioned by the hash of its content.

The same file always maps to the same version, so re-submitting never uploads a duplicate, and
a model's lineage tag `lineage.data_sha256` names the asset version it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import PACKAGE_NAME, PROJECT_SLUG, Settings
from ..errors import PipelineError
from ..lineage import file_sha256

if TYPE_CHECKING:
    from azure.ai.ml.entities import Data

VERSION_LENGTH = 16


DATA_ASSET_ENV = "AZURE_ML_DATA_ASSET"  # "name:version" or "name@latest"; wins over the config
LATEST = "@latest"


@dataclass(frozen=True)
class DataAssetSpec:
    name: str
    version: str  # "latest" until `resolve_latest` names the version
    local_path: str | None  # None: the asset already lives in the workspace
    sha256: str | None

    @property
    def latest(self) -> bool:
        return self.local_path is None and self.version == LATEST[1:]

    @property
    def reference(self) -> str:
        if self.latest:
            return f"azureml:{self.name}{LATEST}"
        return f"azureml:{self.name}:{self.version}"


def data_asset_spec(settings: Settings) -> DataAssetSpec:
    """`AZURE_ML_DATA_ASSET`, else `azure.data_asset` when configured ("name:version", or
    "name@latest": the scheduled retraining job trains on the newest registered data, not on
    a data/ folder its snapshot does not have), else `data.path` named after the project."""
    import os

    configured = os.environ.get(DATA_ASSET_ENV) or settings.azure.data_asset
    if configured and configured.endswith(LATEST):
        return DataAssetSpec(configured.removesuffix(LATEST), LATEST[1:], None, None)
    if configured:
        name, version = configured.split(":")
        return DataAssetSpec(name, version, None, None)
    path = settings.data_path
    if not path.is_file():
        raise PipelineError(
            f"Training data {path} does not exist: set data.path, or azure.data_asset to "
            "'name:version' of a data asset already in the workspace"
        )
    digest = file_sha256(path)
    name = f"{PROJECT_SLUG}-training-data"
    return DataAssetSpec(name, digest[:VERSION_LENGTH], str(path), digest)


def latest_data_asset() -> str:
    """What the scheduled retraining job trains on: this project's training data asset, at
    whatever version is newest when it runs."""
    return f"{PROJECT_SLUG}-training-data{LATEST}"


def resolve_latest(client: Any, spec: DataAssetSpec) -> DataAssetSpec:
    """The exact version `latest` means now (the job then names it, never `latest`)."""
    if not spec.latest:
        return spec
    asset = client.data.get(spec.name, label="latest")
    return DataAssetSpec(spec.name, str(asset.version), None, None)


def build_data_asset(spec: DataAssetSpec) -> Data:
    """A `uri_file` data asset for the local file in `spec` (uploaded on create)."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    if spec.local_path is None:
        raise PipelineError(f"{spec.reference} is already in the workspace: nothing to create")
    return Data(
        name=spec.name,
        version=spec.version,
        path=spec.local_path,
        type=AssetTypes.URI_FILE,
        description=f"Training data for {PACKAGE_NAME}, versioned by content hash",
        tags={"sha256": spec.sha256 or ""},
    )
