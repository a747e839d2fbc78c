"""Run the deployed model locally exactly as Azure runs it.

`serve` reads the deployment record of the `local` environment (written by the last successful
`deploy`), copies that exact version's artifacts to
`.mlflow/serving/<name>/<version>-<sha256[:12]>/model/` (the layout Azure mounts; the digest in
the folder name means a recreated store can never serve stale files), verifies the files
against the recorded digest, points AZUREML_MODEL_DIR at that folder and starts
azureml-inference-server-http on `score.py`: after that, nothing differs from the cloud.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PipelineError

if TYPE_CHECKING:
    pass

# Set for the server by `serve`; `monitoring/collect.py` reads them in each worker.
INFERENCE_LOG_ENV = "INFERENCE_LOG_DIR"
FLUSH_SECONDS_ENV = "INFERENCE_LOG_FLUSH_SECONDS"
COMPACT_MINUTES_ENV = "INFERENCE_LOG_COMPACT_MINUTES"
RETENTION_DAYS_ENV = "INFERENCE_LOG_RETENTION_DAYS"
SCORE_SCRIPT = Path(__file__).resolve().with_name("score.py")


class ServingError(PipelineError):
    """No model to serve, or the server could not be started."""


def resolve_model_dir(version: str | None = None, environment: str = "local") -> Path:
    """The folder to use as AZUREML_MODEL_DIR: the version the last successful deploy to
    `environment` recorded (or `version`), verified by digest; the MLflow model sits in its
    `model/` subfolder, as on Azure."""
    from ..config import load_settings
    from ..deployments import client_for, read_deployment
    from ..model_files import materialize_version
    from ..registry import DIGEST_TAG, get_version

    settings = load_settings()
    name = settings.model_name
    if version is None:
        record = read_deployment(settings, environment)
        if record is None:
            raise ServingError(
                f"nothing is deployed to '{environment}' for model '{name}' in "
                f"{settings.tracking_uri}: train and deploy one first with `run`, or pass "
                "--version"
            )
        return materialize_version(settings, name, record.version, record.digest)
    try:
        registered = get_version(client_for(settings), name, version)
    except PipelineError as error:
        raise ServingError(f"model '{name}' has no usable version {version}: {error}") from None
    return materialize_version(settings, name, version, registered.tags.get(DIGEST_TAG))


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


def server_environment(
    model_dir: Path,
    inference_log_dir: Path | None = None,
    flush_seconds: float = 10.0,
    *,
    compact_minutes: float = 10.0,
    retention_days: int = 30,
) -> dict[str, str]:
    """The server's environment; with `inference_log_dir`, score.py logs every request there."""
    env = dict(os.environ, AZUREML_MODEL_DIR=str(model_dir))
    env.pop(INFERENCE_LOG_ENV, None)
    if inference_log_dir is not None:
        env[INFERENCE_LOG_ENV] = str(inference_log_dir)
        env[FLUSH_SECONDS_ENV] = str(flush_seconds)
        env[COMPACT_MINUTES_ENV] = str(compact_minutes)
        env[RETENTION_DAYS_ENV] = str(retention_days)
    # Each worker is one process on its own core: BLAS/OpenMP thread pools per request only add
    # contention. Azure deployments set the same variable (see docs/serving.md).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_server(model_dir: Path, *, port: int, workers: int, host: str, env: dict[str, str]) -> None:
    """Replace this process with the server (like `exec` in a shell), so that Ctrl-C, SIGTERM
    from a supervisor or a test reach gunicorn itself and stop its workers: a child server
    would be orphaned, still serving, when only its parent was told to stop. `env` comes from
    `server_environment`."""
    sys.stdout.flush()
    sys.stderr.flush()
    command = server_command(port, workers, host)
    os.execve(command[0], command, env)
