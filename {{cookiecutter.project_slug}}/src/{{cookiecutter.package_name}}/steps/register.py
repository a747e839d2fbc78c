"""Step 4: register the challenger as a new version, bound to the gate's decision, with its
model card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.models import Model

from .. import registry
from ..config import Settings
from ..errors import PipelineError
from ..lineage import lineage_tags, model_digest
from ..registry import DIGEST_TAG, RegistryError
from . import model_card
from .evaluate import Evaluation
from .prepare import PreparedData
from .records import active_run_id, read_record, write_record
from .train import TrainedModel

REGISTRATION_RECORD = "registration.json"


@dataclass(frozen=True)
class Registration:
    """A registered version; `candidate` means the gate said it should replace the champion
    it was compared with. Only `deploy` makes a candidate the champion."""

    model_name: str
    version: str
    candidate: bool
    reason: str
    champion_version: str | None  # the champion the gate compared with
    digest: str | None = None
    champion_digest: str | None = None
    train_run_id: str | None = None
    model_card: str | None = None  # runs:/ URI of the version's model card

    def describe(self) -> str:
        outcome = "a candidate for champion" if self.candidate else "not a candidate"
        return f"{self.model_name} v{self.version} registered, {outcome}"

    @classmethod
    def read(cls, folder: Path) -> Registration:
        return cls(**read_record(folder, REGISTRATION_RECORD))


def verify_evaluation(model_dir: Path, evaluation: Evaluation, settings: Settings) -> str:
    """Refuse a decision made for another model name or other model files; return the digest."""
    if evaluation.model_name is None or evaluation.challenger_digest is None:
        raise PipelineError(
            "the evaluation record names no model or digest (written by an older version): "
            "re-run evaluate"
        )
    if evaluation.model_name != settings.model_name:
        raise PipelineError(
            f"the evaluation was made for model '{evaluation.model_name}', not "
            f"'{settings.model_name}': pass the matching --model-name or re-run evaluate"
        )
    digest = model_digest(model_dir)
    if digest != evaluation.challenger_digest:
        raise PipelineError(
            f"the model at {model_dir} (sha256 {digest[:12]}) is not the model evaluate scored "
            f"(sha256 {evaluation.challenger_digest[:12]}): refusing to register it; re-run "
            "evaluate on this model folder"
        )
    return digest


def register(
    trained: TrainedModel,
    prepared: PreparedData,
    evaluation: Evaluation,
    output_dir: Path,
    settings: Settings,
) -> Registration:
    """Register the challenger as a new version with lineage, metrics and the decision.

    The version links to the training run and is a candidate only if the gate said so; it
    is never promoted here (see `deploy`)."""
    digest = verify_evaluation(trained.model_dir, evaluation, settings)
    run_id = active_run_id("register")
    train_run_id = trained.run_id or run_id
    client = MlflowClient()
    name = settings.model_name
    lineage = lineage_tags(settings.project_dir, prepared.data_sha256, settings.fingerprint())
    card = model_card.render(
        model_card.CardInputs(
            name,
            run_id,
            train_run_id,
            digest,
            Model.load(str(trained.model_dir)).get_input_schema().input_names(),
            prepared,
            trained,
            evaluation,
            lineage["lineage.git_commit"],
            lineage["lineage.config_sha256"],
        )
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / model_card.FILE_NAME).write_text(card)
    try:  # the version's files are this run's artifacts: its run_id and source are this run's
        mlflow.log_artifacts(str(trained.model_dir), "model")
        # The card goes next to the model folder, not into it: the version's files, and so
        # the digest every later run checks the champion against, stay the model's alone.
        mlflow.log_text(card, model_card.FILE_NAME)
    except Exception as error:
        raise RegistryError(
            f"artifact store of {mlflow.get_tracking_uri()}: logging '{trained.model_dir}' and "
            f"its model card failed ({type(error).__name__}: {error})"
        ) from error
    card_uri = f"runs:/{run_id}/{model_card.FILE_NAME}"  # short: tags hold 256 characters
    decision = evaluation.decision
    tags = {
        **lineage,
        **decision.as_tags(),
        **{f"metric.{k}": f"{v:.6f}" for k, v in evaluation.metrics.items()},
        "data.target": prepared.target,
        "data.source": prepared.source,
        "decision.candidate": str(decision.promote),
        "decision.champion_digest": str(evaluation.champion_digest),
        "lineage.train_run_id": train_run_id,
        "lineage.register_run_id": run_id,
        "model_card": card_uri,
        DIGEST_TAG: digest,  # last: without it a half-tagged version can never be deployed
    }
    version = registry.register_version(
        client, name, mlflow.get_artifact_uri("model"), run_id, tags
    )
    registration = Registration(
        name,
        str(version.version),
        decision.promote,
        decision.reason,
        decision.champion_version,
        digest,
        evaluation.champion_digest,
        train_run_id,
        card_uri,
    )
    write_record(output_dir, REGISTRATION_RECORD, registration)
    mlflow.set_tags(
        {"registered.version": registration.version, "candidate": str(decision.promote)}
    )
    return registration
