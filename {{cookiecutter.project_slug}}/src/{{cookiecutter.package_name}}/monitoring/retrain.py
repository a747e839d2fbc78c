"""Retraining when drift or a quality drop is found: the same pipeline and the same champion
gate as `run`.

Locally the configured pipeline class (`pipeline.class`, default `BasePipeline`) runs
in-process. It trains on fresh labelled production data when outcomes were fed back
(`monitor feedback`), by `monitoring.quality.retrain_data` (append to the configured data, or
replace it), else on the configured training data: retraining on the very data the champion
learned from would only register an identical version for the gate to refuse. The file it
trained on is kept under `.runs/retrain-data/` and named in the run (`data.source`). On Azure ML
the training pipeline is submitted through `azure/submit.py`. Either way the gate compares the
challenger with the champion on the same holdout, so drift alone never replaces a better model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import PipelineError


@dataclass(frozen=True)
class RetrainOutcome:
    backend: str
    promoted: bool
    version: str | None
    reason: str
    data: str = ""  # what it trained on, when this process chose it

    def summary(self) -> str:
        if self.version is None:
            return f"retraining ({self.backend}): {self.reason}"
        verdict = "promoted to champion" if self.promoted else "not promoted, champion kept"
        on = f" on {self.data}" if self.data else ""
        return f"retrained ({self.backend}){on}: v{self.version} {verdict}: {self.reason}"


def fresh_training_data(settings: Settings) -> tuple[Path | None, str]:
    """Labelled production rows kept in the log (by the configured policy), or None and why
    the configured training data is used."""
    from ..monitoring.feedback import FeedbackError, labelled_rows, training_data
    from ..monitoring.inference_log import InferenceLogError

    window = timedelta(days=settings.monitoring.inference_log.retention_days)
    try:
        labelled = labelled_rows(settings, window)
    except (FeedbackError, InferenceLogError):
        return None, f"{settings.data.path} (no fed-back outcomes yet)"
    return training_data(settings, labelled)


def retrain_local(settings: Settings, observer: Any = None) -> RetrainOutcome:
    """`--backend local` trains here whatever `backend` the config names for `run`."""
    from ..pipeline import create_pipeline

    data, described = fresh_training_data(settings)
    if data is None:
        same = _champion_trained_on_this(settings)
        if same is not None:
            return RetrainOutcome("local", False, None, same, described)
    update: dict[str, Any] = {"backend": "local"}
    if data is not None:
        update["data"] = settings.data.model_copy(update={"path": data})
    settings = settings.model_copy(update=update)
    context = create_pipeline(settings).run(observer)
    registration, deployment = context.registration, context.deployment
    if registration is None:
        return RetrainOutcome("local", False, None, "the pipeline registered no model", described)
    # The gate marks a candidate at register; deploy is the step that promotes it.
    promoted = deployment is not None and deployment.promoted
    reason = (deployment.reason if deployment is not None else "") or registration.reason
    return RetrainOutcome("local", promoted, registration.version, reason, described)


def _champion_trained_on_this(settings: Settings) -> str | None:
    """Why retraining would be pointless: the champion learned from these very rows with this
    very configuration (the lineage tags written at registration); None when anything differs."""
    from ..deployments import client_for
    from ..lineage import file_sha256
    from ..registry import get_champion_version

    champion = get_champion_version(client_for(settings), settings.model_name)
    if champion is None or not settings.data_path.is_file():
        return None
    tags = champion.tags
    if tags.get("lineage.data_sha256") != file_sha256(settings.data_path):
        return None
    if tags.get("lineage.config_sha256") != settings.fingerprint():
        return None
    return (
        f"nothing new to train on: champion v{champion.version} learned from "
        f"{settings.data.path} with this configuration; feed back outcomes "
        "(`monitor feedback --labels FILE`) to retrain on production data"
    )


def retrain_azure(settings: Settings, *, wait: bool, timeout_minutes: int) -> RetrainOutcome:
    """Submit the Azure ML training pipeline (`azure/submit.py`), imported only when used."""
    try:
        from ..azure.submit import submit_training
        from ..azure.workspace import ml_client
    except ImportError as error:
        raise PipelineError(
            "--backend azure needs the Azure ML package (azure/submit.py and azure/workspace.py) "
            f"in this project, and it is not importable ({error}): use --backend local"
        ) from None
    client = ml_client(settings)
    result = submit_training(settings, client, wait=wait, timeout_minutes=timeout_minutes)
    timed_out = " (timed out waiting)" if getattr(result, "timed_out", False) else ""
    reason = result.reason or f"Azure ML job {result.job}: {result.status}{timed_out}"
    return RetrainOutcome("azure", bool(result.promoted), result.version, reason)
