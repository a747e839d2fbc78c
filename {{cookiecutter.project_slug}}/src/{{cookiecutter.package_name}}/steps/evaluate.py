"""Step 3: score the challenger and the current champion on the same holdout, and decide."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient

from .. import registry
from ..config import Settings
from ..data import features_and_target, load_table
from ..errors import PipelineError
from ..evaluate import (
    Decision,
    Predictions,
    confusion,
    decide,
    paired_bootstrap_interval,
    score_predictions,
    write_plots,
)
from ..lineage import model_digest
from ..registry import DIGEST_TAG, RegistryError
from .records import log_dataset, read_record, thread_limit, write_record

EVALUATION_RECORD = "evaluation.json"


@dataclass(frozen=True)
class Evaluation:
    """The gate's decision, bound to what it decided about: the model name, the challenger's
    files (digest) and the champion version and files it was compared with."""

    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decision: Decision
    confusion_matrix: dict[str, Any]
    plots_dir: Path
    model_name: str | None = None
    challenger_digest: str | None = None
    champion_digest: str | None = None

    def describe(self) -> str:
        return self.decision.reason

    @classmethod
    def read(cls, folder: Path) -> Evaluation:
        record = read_record(folder, EVALUATION_RECORD)
        decision = Decision(**record.pop("decision"))
        return cls(**{**record, "decision": decision, "plots_dir": Path(record["plots_dir"])})


@dataclass(frozen=True)
class _ChampionScore:
    predictions: Predictions | None
    metrics: dict[str, float] | None
    digest: str
    problem: str | None


def _score_champion(
    client: MlflowClient, champion: Any, model_name: str, X: pd.DataFrame, y: pd.Series
) -> _ChampionScore:
    """Download the champion's files (a store failure fails the step), verify them against
    the digest recorded at registration, and score them on this holdout. A champion that
    loads but cannot score this holdout (other columns or classes) is reported, not raised."""
    version = str(champion.version)
    uri = registry.call(
        client,
        "get_model_version_download_uri",
        client.get_model_version_download_uri,
        model_name,
        version,
    )
    with tempfile.TemporaryDirectory(prefix="champion-") as scratch:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        except Exception as error:
            raise RegistryError(
                f"model registry {registry.store_uri(client)}: download_artifacts('{uri}') "
                f"for champion v{version} failed ({type(error).__name__}: {error})"
            ) from error
        digest = model_digest(local)
        recorded = champion.tags.get(DIGEST_TAG)
        if recorded and recorded != digest:
            raise PipelineError(
                f"champion {model_name} v{version}: its files (sha256 {digest[:12]}) differ "
                f"from those registered (sha256 {recorded[:12]}): the artifact store was "
                "changed; restore it or promote another version"
            )
        try:
            predictions = Predictions.of(mlflow.sklearn.load_model(str(local)), X)
            metrics = score_predictions(predictions, y)
        except Exception as error:  # another schema, other classes, a broken model file
            return _ChampionScore(None, None, digest, f"{type(error).__name__}: {error}")
    return _ChampionScore(predictions, metrics, digest, None)


def evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    """Score the challenger and the current champion on the same holdout and decide."""
    with thread_limit(settings):
        return _evaluate(model_dir, test_path, output_dir, settings)


def _evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    test_frame = load_table(test_path)
    X, y = features_and_target(test_frame, settings.data.target)
    log_dataset(test_frame, test_path, settings.data.target, "test", "evaluation")
    challenger_digest = model_digest(model_dir)
    challenger = mlflow.sklearn.load_model(str(model_dir))
    challenger_predictions = Predictions.of(challenger, X)
    metrics = score_predictions(challenger_predictions, y)
    metric = settings.evaluation.primary_metric
    client = MlflowClient()
    champion = registry.get_champion_version(client, settings.model_name)
    scored = None
    if champion is not None:
        scored = _score_champion(client, champion, settings.model_name, X, y)
    champion_metrics = None if scored is None else scored.metrics
    champion_score = None if champion_metrics is None else champion_metrics[metric]
    significance = settings.evaluation.significance
    interval = None
    if significance.test == "bootstrap" and scored is not None and scored.predictions is not None:
        interval = paired_bootstrap_interval(
            metric,
            y,
            challenger_predictions,
            scored.predictions,
            confidence=significance.confidence,
            resamples=significance.resamples,
            seed=settings.seed,
        )
    decision = decide(
        metric,
        metrics[metric],
        champion_score,
        None if champion is None else str(champion.version),
        settings.evaluation.min_improvement,
        champion_problem=None if scored is None else scored.problem,
        interval=interval,
        confidence=None if interval is None else significance.confidence,
        n=len(y),
    )
    plots_dir = output_dir / "plots"
    importances = write_plots(challenger, X, y, settings.seed, plots_dir)
    evaluation = Evaluation(
        metrics,
        champion_metrics,
        decision,
        confusion(challenger, X, y),
        plots_dir,
        model_name=settings.model_name,
        challenger_digest=challenger_digest,
        champion_digest=None if scored is None else scored.digest,
    )
    write_record(output_dir, EVALUATION_RECORD, evaluation)
    if mlflow.active_run():
        mlflow.log_metrics(metrics)
        if champion_metrics is not None:
            mlflow.log_metrics({f"champion.{k}": v for k, v in champion_metrics.items()})
        mlflow.log_dict(evaluation.confusion_matrix, "evaluation/confusion_matrix.json")
        mlflow.log_dict(importances, "evaluation/feature_importance.json")
        mlflow.log_artifacts(str(plots_dir), "plots")
        mlflow.set_tags(decision.as_tags())
    return evaluation
