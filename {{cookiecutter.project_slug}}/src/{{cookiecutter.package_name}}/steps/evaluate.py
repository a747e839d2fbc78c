"""Step 3: score the challenger and the current champion on the same holdout, and decide.

With sensitive features configured, both models' fairness reports come from the same holdout
rows and groups (fairness.py); the gate compares them when `evaluation.fairness.gate` is on."""

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
from ..data import check_sensitive_columns, features_and_target, load_table
from ..errors import PipelineError
from ..evaluate import Decision, bootstrap_interval, decide, paired_bootstrap_interval
from ..fairness import disparity_check, fairness_metrics, fairness_report
from ..lineage import model_digest
from ..metrics import Predictions, score_predictions
from ..plots import confusion, plot_fairness, residuals_by_decile, write_plots
from ..registry import DIGEST_TAG, RegistryError
from ..serving.scoring import Parity, serving_parity
from .records import log_dataset, read_record, thread_limit, write_record

EVALUATION_RECORD = "evaluation.json"


@dataclass(frozen=True)
class Evaluation:
    """The gate's decision, bound to what it decided about: the model name, the challenger's
    files (digest) and the champion version and files it was compared with."""

    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decision: Decision
    # Classification: the confusion matrix; regression: residuals by decile of the target.
    holdout_summary: dict[str, Any]
    plots_dir: Path
    model_name: str | None = None
    challenger_digest: str | None = None
    champion_digest: str | None = None
    # The challenger's primary metric with its bootstrap interval on the holdout:
    # {metric, value, low, high, confidence, resamples, n}.
    metric_interval: dict[str, Any] | None = None
    # fairness.fairness_report of each model; None when no sensitive features are configured
    # (and for the champion, when there is none or it could not be scored).
    fairness: dict[str, Any] | None = None
    champion_fairness: dict[str, Any] | None = None

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
    client: MlflowClient, champion: Any, settings: Settings, X: pd.DataFrame, y: pd.Series
) -> _ChampionScore:
    """Download the champion's files (a store failure fails the step), verify them against
    the digest recorded at registration, and score them on this holdout. A champion that
    loads but cannot score this holdout (other columns or classes, or the other task) is
    reported, not raised."""
    model_name = settings.model_name
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
            model = mlflow.sklearn.load_model(str(local))
            predictions = Predictions.of(model, X, settings.task)
            metrics = score_predictions(predictions, y)
        except Exception as error:  # another schema, classes or task; a broken model file
            return _ChampionScore(None, None, digest, f"{type(error).__name__}: {error}")
    return _ChampionScore(predictions, metrics, digest, None)


def _fairness_reports(
    settings: Settings,
    X: pd.DataFrame,
    y: pd.Series,
    challenger: Predictions,
    scored: _ChampionScore | None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Both models' fairness reports on the same rows and groups (None: not configured, or
    no champion predictions)."""
    columns = settings.evaluation.fairness.sensitive_features
    if not columns:
        return None, None
    metric = settings.evaluation.primary_metric
    report = fairness_report(X, y, challenger, metric, columns)
    if scored is None or scored.predictions is None:
        return report, None
    return report, fairness_report(X, y, scored.predictions, metric, columns)


def _metric_interval(
    settings: Settings, y: pd.Series, predictions: Predictions, value: float
) -> dict[str, Any]:
    """The primary metric with its bootstrap interval on the holdout, for the model card."""
    significance = settings.evaluation.significance
    metric = settings.evaluation.primary_metric
    low, high = bootstrap_interval(
        metric,
        y,
        predictions,
        confidence=significance.confidence,
        resamples=significance.resamples,
        seed=settings.seed,
    )
    return {
        "metric": metric,
        "value": value,
        "low": low,
        "high": high,
        "confidence": significance.confidence,
        "resamples": significance.resamples,
        "n": len(y),
    }


def evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    """Score the challenger and the current champion on the same holdout and decide."""
    with thread_limit(settings):
        return _evaluate(model_dir, test_path, output_dir, settings)


def _evaluate(model_dir: Path, test_path: Path, output_dir: Path, settings: Settings) -> Evaluation:
    test_frame = load_table(test_path)
    fairness = settings.evaluation.fairness
    check_sensitive_columns(
        test_frame, fairness.sensitive_features, settings.data.target, test_path
    )
    X, y = features_and_target(test_frame, settings.data.target)
    log_dataset(test_frame, test_path, settings.data.target, "test", "evaluation")
    challenger_digest = model_digest(model_dir)
    challenger = mlflow.sklearn.load_model(str(model_dir))
    challenger_predictions = Predictions.of(challenger, X, settings.task)
    parity = _check_serving_parity(model_dir, challenger, X)
    metrics = score_predictions(challenger_predictions, y)
    metric = settings.evaluation.primary_metric
    client = MlflowClient()
    champion = registry.get_champion_version(client, settings.model_name)
    scored = None
    if champion is not None:
        scored = _score_champion(client, champion, settings, X, y)
    champion_metrics = None if scored is None else scored.metrics
    champion_score = None if champion_metrics is None else champion_metrics[metric]
    significance = settings.evaluation.significance
    report, champion_report = _fairness_reports(settings, X, y, challenger_predictions, scored)
    disparity = None
    if fairness.gate and report is not None:
        disparity = disparity_check(report, champion_report, fairness.tolerance)
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
        disparity=disparity,
    )
    plots_dir = output_dir / "plots"
    importances = write_plots(challenger, X, y, challenger_predictions, settings.seed, plots_dir)
    summary_name, summarize = (
        ("residuals_by_decile", residuals_by_decile)
        if settings.task == "regression"
        else ("confusion_matrix", confusion)
    )
    if report is not None:
        plot_fairness(report, plots_dir / "fairness.png")
    evaluation = Evaluation(
        metrics,
        champion_metrics,
        decision,
        summarize(y, challenger_predictions),
        plots_dir,
        model_name=settings.model_name,
        challenger_digest=challenger_digest,
        champion_digest=None if scored is None else scored.digest,
        metric_interval=_metric_interval(settings, y, challenger_predictions, metrics[metric]),
        fairness=report,
        champion_fairness=champion_report,
    )
    write_record(output_dir, EVALUATION_RECORD, evaluation)
    if mlflow.active_run():
        mlflow.log_metrics(metrics)
        if champion_metrics is not None:
            mlflow.log_metrics({f"champion.{k}": v for k, v in champion_metrics.items()})
        mlflow.log_dict(evaluation.holdout_summary, f"evaluation/{summary_name}.json")
        mlflow.log_dict(importances, "evaluation/feature_importance.json")
        if evaluation.fairness is not None:
            mlflow.log_metrics(fairness_metrics(evaluation.fairness))
            if evaluation.champion_fairness is not None:
                mlflow.log_metrics(fairness_metrics(evaluation.champion_fairness, "champion."))
            mlflow.log_dict(
                {"challenger": evaluation.fairness, "champion": evaluation.champion_fairness},
                "evaluation/fairness.json",
            )
        mlflow.log_artifacts(str(plots_dir), "plots")
        mlflow.set_tags(decision.as_tags())
        mlflow.set_tag("serving.path", "pipeline predict" if parity is None else parity.path)
        if parity is not None:
            mlflow.log_metrics(
                {
                    "serving.parity.rows": parity.rows,
                    "serving.parity.tree_difference": parity.tree_difference,
                }
            )
    return evaluation


def _check_serving_parity(model_dir: Path, challenger: Any, X: pd.DataFrame) -> Parity | None:
    """The model as served (its fast path) must answer as the model just evaluated, on the
    holdout too: otherwise the metrics would not be those of what serves. A disagreement is a
    defect, not a worse model, so the step fails and nothing is registered."""
    parity = serving_parity(model_dir, challenger, X)
    if parity is not None and not parity.holds:
        raise PipelineError(
            f"The model's {parity.path} does not answer as the model itself on {parity.rows} "
            f"holdout rows (same predictions: {parity.agrees}; compiled trees' largest "
            f"difference {parity.tree_difference:g}, tolerance {parity.tolerance:g}): "
            "nothing is registered. Retrain, and report it: the fast path was verified "
            "when the model was saved"
        )
    return parity
