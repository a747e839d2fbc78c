"""Retraining when drift is found: the same pipeline and the same champion gate as `run`.

Locally the configured pipeline class (`pipeline.class`, default `BasePipeline`) runs
in-process on the configured training data; on Azure ML the training pipeline is submitted
through `azure/submit.py`. Either way the gate compares the challenger with the champion on
the same holdout, so drift alone never replaces a better model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import PipelineError


@dataclass(frozen=True)
class RetrainOutcome:
    backend: str
    promoted: bool
    version: str | None
    reason: str

    def summary(self) -> str:
        if self.version is None:
            return f"retraining ({self.backend}): {self.reason}"
        verdict = "promoted to champion" if self.promoted else "not promoted, champion kept"
        return f"retrained ({self.backend}): v{self.version} {verdict}: {self.reason}"


def pipeline_class(settings: Settings) -> type:
    """The class named by `pipeline.class` ("module:Class"), else the package's BasePipeline."""
    from ..pipeline import BasePipeline

    section = settings.model_dump(by_alias=True).get("pipeline") or {}
    spec = section.get("class") if isinstance(section, dict) else None
    if not spec:
        return BasePipeline
    module_name, _, class_name = str(spec).partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise PipelineError(f"pipeline.class '{spec}' cannot be loaded: {error}") from None


def retrain_local(settings: Settings, observer: Any = None) -> RetrainOutcome:
    """`--backend local` trains here whatever `backend` the config names for `run`."""
    settings = settings.model_copy(update={"backend": "local"})
    context = pipeline_class(settings)(settings).run(observer)
    registration, deployment = context.registration, context.deployment
    if registration is None:
        return RetrainOutcome("local", False, None, "the pipeline registered no model")
    # The gate marks a candidate at register; deploy is the step that promotes it.
    promoted = deployment is not None and deployment.promoted
    reason = (deployment.reason if deployment is not None else "") or registration.reason
    return RetrainOutcome("local", promoted, registration.version, reason)


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
