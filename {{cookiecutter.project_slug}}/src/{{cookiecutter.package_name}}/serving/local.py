"""Run the champion locally exactly as Azure runs it.

`serve` resolves the champion in the local registry, copies its artifacts to
`.mlflow/serving/<name>/<version>/model/` (the layout Azure mounts), points AZUREML_MODEL_DIR
at `<version>/` and starts azureml-inference-server-http on `score.py`: after that, nothing
differs from the cloud.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import PipelineError

SCORE_SCRIPT = Path(__file__).resolve().with_name("score.py")


class ServingError(PipelineError):
    """No model to serve, or the server could not be started."""


def resolve_model_dir(version: str | None = None) -> Path:
    """The folder to use as AZUREML_MODEL_DIR for the champion (or `version`), downloaded once
    per version; the MLflow model sits in its `model/` subfolder, as on Azure."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from ..config import load_settings
    from ..registry import get_champion_version

    settings = load_settings()
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    name = settings.model_name
    if version is None:
        champion = get_champion_version(client, name)
        if champion is None:
            raise ServingError(
                f"no champion for model '{name}' in {settings.tracking_uri}: "
                "train and promote one first with `run`, or pass --version"
            )
        version = str(champion.version)
    # Azure's layout: AZUREML_MODEL_DIR=.../azureml-models/<name>/<version>, model folder inside.
    version_dir = settings.resolve(Path(".mlflow/serving")) / name / version
    if (version_dir / "model" / "MLmodel").is_file():
        return version_dir
    try:
        source = client.get_model_version_download_uri(name, version)
    except MlflowException as error:
        raise ServingError(f"model '{name}' has no version {version}: {error.message}") from None
    _materialize(source, version_dir / "model")
    return version_dir


def _materialize(source_uri: str, target: Path) -> None:
    """Download into a temporary sibling, then rename: a half-copied folder is never served."""
    import mlflow.artifacts

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        downloaded = Path(mlflow.artifacts.download_artifacts(source_uri, dst_path=str(staging)))
        if not (downloaded / "MLmodel").is_file():
            raise ServingError(f"{source_uri} is not an MLflow model folder (no MLmodel file)")
        downloaded.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def server_command(port: int, workers: int, host: str) -> list[str]:
    """azmlinfsrv always binds 0.0.0.0; `server.py` runs it bound to `host` instead."""
    return [
        sys.executable,
        str(Path(__file__).resolve().with_name("server.py")),
        "--host",
        host,
        "--entry_script",
        str(SCORE_SCRIPT),
        "--port",
        str(port),
        "--worker_count",
        str(workers),
    ]


def server_environment(model_dir: Path) -> dict[str, str]:
    env = dict(os.environ, AZUREML_MODEL_DIR=str(model_dir))
    # Each worker is one process on its own core: BLAS/OpenMP thread pools per request only add
    # contention. Azure deployments set the same variable (see docs/serving.md).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_server(model_dir: Path, *, port: int, workers: int, host: str) -> None:
    """Replace this process with the server (like `exec` in a shell), so that Ctrl-C, SIGTERM
    from a supervisor or a test reach gunicorn itself and stop its workers: a child server
    would be orphaned, still serving, when only its parent was told to stop."""
    sys.stdout.flush()
    sys.stderr.flush()
    command = server_command(port, workers, host)
    os.execve(command[0], command, server_environment(model_dir))
