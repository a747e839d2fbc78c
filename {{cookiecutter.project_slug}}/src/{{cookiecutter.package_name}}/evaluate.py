"""Metrics, diagnostic plots and the challenger-versus-champion decision.

MLflow 3 dropped `baseline_model` from `mlflow.evaluate`; `mlflow.validate_evaluation_results`
compares two sets of aggregate numbers and has no paired test. So the gate is an explicit,
side-effect-free comparator (the same numbers always give the same decision) with an optional
paired bootstrap interval computed from both models' predictions on the same holdout rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import rankdata
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from .train import Classifier


@dataclass(frozen=True)
class Decision:
    """Whether the challenger replaces the champion, with the numbers that decided it."""

    promote: bool
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None
    min_improvement: float
    # The paired test on the holdout: "none" or "paired_bootstrap", its interval of
    # (challenger - champion), its confidence level, and the number of holdout rows.
    test: str = "none"
    interval: tuple[float, float] | None = None
    confidence: float | None = None
    n: int | None = None

    def as_tags(self) -> dict[str, str]:
        tags = {f"decision.{key}": str(value) for key, value in asdict(self).items()}
        if self.interval is not None:
            tags["decision.interval"] = f"[{self.interval[0]:.6f}, {self.interval[1]:.6f}]"
        return tags


@dataclass(frozen=True)
class Predictions:
    """One model's outputs on the holdout: what every metric and the paired test need."""

    predicted: np.ndarray
    proba: np.ndarray
    classes: np.ndarray

    @classmethod
    def of(cls, model: Classifier, X: pd.DataFrame) -> Predictions:
        classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
        return cls(np.asarray(model.predict(X)), np.asarray(model.predict_proba(X)), classes)


def metric_value(
    name: str, y_true: Any, y_pred: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> float:
    """One metric; binary uses the second class as positive, multiclass macro averages and
    one-vs-rest ROC AUC."""
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    )
    if name == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    if name == "precision":
        return float(precision_score(y_true, y_pred, zero_division=0, **averaging))
    if name == "recall":
        return float(recall_score(y_true, y_pred, zero_division=0, **averaging))
    if name == "f1":
        return float(f1_score(y_true, y_pred, zero_division=0, **averaging))
    if binary:
        return float(roc_auc_score(np.asarray(y_true) == classes[1], proba[:, 1]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))


METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def classification_metrics(
    y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    """accuracy, precision, recall, f1, roc_auc (see `metric_value`)."""
    return {name: metric_value(name, y_true, y_pred, proba, classes) for name in METRICS}


def score_predictions(predictions: Predictions, y: pd.Series) -> dict[str, float]:
    return classification_metrics(y, predictions.predicted, predictions.proba, predictions.classes)


def score_model(model: Classifier, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    return score_predictions(Predictions.of(model, X), y)


def paired_bootstrap_interval(
    metric: str,
    y: pd.Series,
    challenger: Predictions,
    champion: Predictions,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval of metric(challenger) - metric(champion), both scored on the same
    resampled rows each time, so that what the rows have in common cancels out.

    Metrics are computed with numpy on class codes (`_metric_on_rows`, checked against
    scikit-learn in the tests): scikit-learn's own functions cost milliseconds per call in input
    validation, which over thousands of resamples would dominate a run."""
    rng = np.random.default_rng(seed)
    y_values = np.asarray(y)
    sides = [_encoded(y_values, predictions) for predictions in (challenger, champion)]
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y_values), len(y_values))
        scores = [_metric_on_rows(metric, *side, rows) for side in sides]
        difference = scores[0] - scores[1]
        if not math.isnan(difference):
            differences.append(difference)
    return _percentiles(differences, resamples, confidence)


def bootstrap_interval(
    metric: str,
    y: pd.Series,
    predictions: Predictions,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval of one model's metric on these rows (live quality)."""
    rng = np.random.default_rng(seed)
    side = _encoded(np.asarray(y), predictions)
    values = [
        _metric_on_rows(metric, *side, rng.integers(0, len(y), len(y))) for _ in range(resamples)
    ]
    return _percentiles([v for v in values if not math.isnan(v)], resamples, confidence)


def difference_interval(
    metric: str,
    first: tuple[pd.Series, Predictions],
    second: tuple[pd.Series, Predictions],
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval of metric(first) - metric(second) on two different sets of rows
    (an A/B comparison: each version answered its own requests), resampled independently."""
    rng = np.random.default_rng(seed)
    sides = [(_encoded(np.asarray(y), p), len(y)) for y, p in (first, second)]
    differences = []
    for _ in range(resamples):
        a, b = (_metric_on_rows(metric, *side, rng.integers(0, n, n)) for side, n in sides)
        if not math.isnan(a - b):
            differences.append(a - b)
    return _percentiles(differences, resamples, confidence)


def _percentiles(values: list[float], resamples: int, confidence: float) -> tuple[float, float]:
    if len(values) < resamples // 2:  # e.g. most resamples hold a single class
        return (math.nan, math.nan)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _encoded(
    y: np.ndarray, predictions: Predictions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Labels and predictions as indices into the model's classes (-1: a class it lacks)."""
    index = {label: code for code, label in enumerate(predictions.classes.tolist())}
    y_codes = np.array([index.get(label, -1) for label in y.tolist()])
    predicted = np.array([index.get(label, -1) for label in predictions.predicted.tolist()])
    return y_codes, predicted, predictions.proba, len(predictions.classes)


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), like roc_auc_score."""
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return math.nan
    ranks = rankdata(score)
    return float(
        (ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)
    )


def _metric_on_rows(
    metric: str,
    y_codes: np.ndarray,
    predicted: np.ndarray,
    proba: np.ndarray,
    n_classes: int,
    rows: np.ndarray,
) -> float:
    """`metric_value` on a subset of rows, from class codes (same averaging rules)."""
    y, p = y_codes[rows], predicted[rows]
    if metric == "accuracy":
        return float(np.mean(y == p))
    if metric == "roc_auc":
        if n_classes == 2:
            return _auc(y == 1, proba[rows, 1])
        if (y < 0).any():
            return math.nan
        return float(np.mean([_auc(y == k, proba[rows, k]) for k in range(n_classes)]))
    labels = [1] if n_classes == 2 else np.union1d(y, p).tolist()
    values = []
    for label in labels:
        tp = float(np.sum((p == label) & (y == label)))
        fp = float(np.sum((p == label) & (y != label)))
        fn = float(np.sum((p != label) & (y == label)))
        if metric == "precision":
            values.append(tp / (tp + fp) if tp + fp else 0.0)
        elif metric == "recall":
            values.append(tp / (tp + fn) if tp + fn else 0.0)
        else:
            values.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(values))


def decide(
    metric: str,
    challenger_score: float,
    champion_score: float | None,
    champion_version: str | None,
    min_improvement: float,
    *,
    champion_problem: str | None = None,
    interval: tuple[float, float] | None = None,
    confidence: float | None = None,
    n: int | None = None,
) -> Decision:
    """The gate's one rule.

    - A challenger whose score is undefined (NaN) is never promoted.
    - No champion: promote.
    - A champion that cannot be scored on this holdout (it raises, or its score is NaN) is
      kept: an unverified challenger never replaces it. Use another model name for another
      data set, or fix the champion.
    - Otherwise promote only if gain = challenger - champion is > 0 and >= min_improvement,
      and, when a paired interval is given, its lower bound is > 0.
    """

    def verdict(promote: bool, reason: str) -> Decision:
        test = "none" if interval is None else "paired_bootstrap"
        return Decision(
            promote,
            reason,
            metric,
            challenger_score,
            champion_score,
            champion_version,
            min_improvement,
            test,
            interval,
            confidence,
            n,
        )

    if math.isnan(challenger_score):
        return verdict(False, f"challenger {metric} is undefined (NaN)")
    if champion_version is None:
        return verdict(True, "no champion yet")
    if champion_problem is not None or champion_score is None or math.isnan(champion_score):
        problem = champion_problem or f"its {metric} is undefined (NaN)"
        return verdict(
            False,
            f"champion v{champion_version} cannot be scored on this holdout ({problem}): "
            "champion kept; for a different data set use another model name (--model-name)",
        )
    gain = challenger_score - champion_score
    summary = (
        f"challenger {metric}={challenger_score:.4f} vs champion v{champion_version} "
        f"{metric}={champion_score:.4f} (gain {gain:+.4f}, minimum {min_improvement:.4f}"
    )
    if interval is not None:
        summary += (
            f", {confidence:.0%} paired bootstrap interval "
            f"[{interval[0]:+.4f}, {interval[1]:+.4f}] over n={n}"
        )
    summary += ")"
    if not (gain > 0 and gain >= min_improvement):
        return verdict(False, f"{summary}: champion kept")
    if interval is not None and not interval[0] > 0:
        return verdict(False, f"{summary}: the gain is not significant, champion kept")
    return verdict(True, f"{summary}: challenger is better")


def plot_confusion_matrix(y_true: pd.Series, y_pred: np.ndarray, path: Path) -> None:
    figure = Figure(figsize=(5, 4.5), layout="constrained")
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=figure.subplots(), colorbar=False)
    figure.suptitle("Confusion matrix (holdout)")
    figure.savefig(path, dpi=100)


def plot_roc_curve(y_true: pd.Series, proba: np.ndarray, classes: np.ndarray, path: Path) -> None:
    """One curve for binary data, one-vs-rest curves for multiclass."""
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    axes = figure.subplots()
    positives = classes[1:] if len(classes) == 2 else classes
    for label in positives:
        column = int(np.flatnonzero(classes == label)[0])
        RocCurveDisplay.from_predictions(
            y_true == label, proba[:, column], name=f"class {label}", ax=axes
        )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    figure.suptitle("ROC curve (holdout)")
    figure.savefig(path, dpi=100)


def plot_feature_importance(
    model: Classifier, X: pd.DataFrame, y: pd.Series, seed: int, path: Path
) -> dict[str, float]:
    """Permutation importance on the raw columns: works for every model family."""
    result = permutation_importance(model, X, y, n_repeats=3, random_state=seed, n_jobs=1)
    importances = pd.Series(result.importances_mean, index=X.columns).sort_values()
    top = importances.tail(20)
    figure = Figure(figsize=(6, 0.3 * len(top) + 1.5), layout="constrained")
    axes = figure.subplots()
    axes.barh(top.index.astype(str), top.to_numpy())
    axes.set_xlabel("Mean accuracy drop when the column is shuffled")
    figure.suptitle("Feature importance (holdout)")
    figure.savefig(path, dpi=100)
    return {str(name): float(value) for name, value in importances.items()}


def write_plots(
    model: Classifier, X: pd.DataFrame, y: pd.Series, seed: int, plots_dir: Path
) -> dict[str, float]:
    plots_dir.mkdir(parents=True, exist_ok=True)
    classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
    plot_confusion_matrix(y, model.predict(X), plots_dir / "confusion_matrix.png")
    plot_roc_curve(y, model.predict_proba(X), classes, plots_dir / "roc_curve.png")
    return plot_feature_importance(model, X, y, seed, plots_dir / "feature_importance.png")


def confusion(model: Classifier, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
    matrix = confusion_matrix(y, model.predict(X), labels=classes)
    return {"labels": [str(c) for c in classes], "matrix": matrix.tolist()}
