"""Metrics and the challenger-versus-champion decision (the plots are in plots.py).

MLflow 3 dropped `baseline_model` from `mlflow.evaluate`; `mlflow.validate_evaluation_results`
compares two sets of aggregate numbers and has no paired test. So the gate is an explicit,
side-effect-free comparator (the same numbers always give the same decision) with an optional
paired bootstrap interval computed from both models' predictions on the same holdout rows, and
an optional fairness condition (`DisparityCheck`, computed in fairness.py).

Both tasks share this code: a score's direction (an error such as RMSE is better when lower)
comes from tasks.py, and every comparison is made on the challenger's gain in that direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from . import tasks
from .tasks import Task
from .train import Model


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
    # The paired test on the holdout: "none" or "paired_bootstrap", its interval of the gain
    # (challenger - champion, negated for an error metric: > 0 is better), its confidence
    # level, and the number of holdout rows.
    test: str = "none"
    interval: tuple[float, float] | None = None
    confidence: float | None = None
    n: int | None = None
    # The fairness condition: "off" (not configured), "not compared" (no champion, or the
    # gate stopped before it), "passed" or "refused" (see DisparityCheck).
    fairness: str = "off"

    def as_tags(self) -> dict[str, str]:
        tags = {f"decision.{key}": str(value) for key, value in asdict(self).items()}
        if self.interval is not None:
            tags["decision.interval"] = f"[{self.interval[0]:.6f}, {self.interval[1]:.6f}]"
        return tags


@dataclass(frozen=True)
class DisparityCheck:
    """The gate's fairness input: per sensitive column, the largest difference of the primary
    metric between its groups, for the challenger and for the champion on the same holdout
    rows (None where undefined). The challenger may be worse by at most `tolerance`."""

    challenger: dict[str, float | None]
    champion: dict[str, float | None]
    tolerance: float

    def problems(self, metric: str) -> list[str]:
        """One line per column where the challenger's disparity is worse than allowed. A
        column whose champion disparity is undefined cannot be compared and is skipped; an
        undefined challenger disparity against a defined one is a problem (unverified)."""
        found = []
        for column, new in self.challenger.items():
            old = self.champion.get(column)
            if old is None:
                continue
            if new is None:
                found.append(
                    f"'{column}': challenger's {metric} difference between groups is undefined, "
                    f"champion's is {old:.4f}"
                )
            elif new - old > self.tolerance:
                found.append(
                    f"'{column}': {metric} difference between groups {new:.4f} vs champion's "
                    f"{old:.4f} (worse by {new - old:.4f}, tolerance {self.tolerance:.4f})"
                )
        return found


@dataclass(frozen=True)
class Predictions:
    """One model's outputs on the holdout: what every metric and the paired test need. A
    regression model's have numbers in `predicted`, no class probabilities (zero columns) and
    no classes."""

    predicted: np.ndarray
    proba: np.ndarray
    classes: np.ndarray

    @property
    def task(self) -> Task:
        return "classification" if len(self.classes) else "regression"

    @classmethod
    def of(cls, model: Model, X: pd.DataFrame, task: Task) -> Predictions:
        """Raises TypeError when the model cannot do the task (e.g. a classifier champion
        scored for a regression project), so the caller can report it."""
        if task == "regression":
            if hasattr(model, "predict_proba"):
                raise TypeError(f"{type(model).__name__} is a classifier, the task is regression")
            predicted = np.asarray(model.predict(X), dtype=float)
            return cls(predicted, np.empty((len(predicted), 0)), np.empty(0))
        if not hasattr(model, "predict_proba"):
            raise TypeError(f"{type(model).__name__} has no predict_proba: not a classifier")
        classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
        return cls(np.asarray(model.predict(X)), np.asarray(model.predict_proba(X)), classes)


def metric_value(
    name: str, y_true: Any, y_pred: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> float:
    """One metric; binary uses the second class as positive, multiclass macro averages and
    one-vs-rest ROC AUC; regression metrics compare numbers (MAPE as scikit-learn defines it:
    a zero target counts with a tiny denominator, so prefer another metric for such data)."""
    if name in tasks.METRICS["regression"]:
        return _regression_metric(name, np.asarray(y_true, dtype=float), np.asarray(y_pred))
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


def _regression_metric(name: str, y: np.ndarray, predicted: np.ndarray) -> float:
    if name == "rmse":
        return float(root_mean_squared_error(y, predicted))
    if name == "mae":
        return float(mean_absolute_error(y, predicted))
    if name == "mape":
        return float(mean_absolute_percentage_error(y, predicted))
    if len(y) < 2 or np.all(y == y[0]):  # R² is undefined without target variance
        return math.nan
    return float(r2_score(y, predicted))


def metric_on_rows(
    metric: str, y: pd.Series, predictions: Predictions
) -> Callable[[np.ndarray], float]:
    """`metric_value` as a function of row positions (NaN where undefined on those rows, e.g.
    ROC AUC on rows of a single class): for scoring subsets such as groups or resamples."""
    if predictions.task == "regression":
        actual, predicted = np.asarray(y, dtype=float), predictions.predicted
        return lambda rows: _regression_on_rows(metric, actual[rows], predicted[rows])
    side = _encoded(np.asarray(y), predictions)
    return lambda rows: _metric_on_rows(metric, *side, np.asarray(rows))


def score_predictions(predictions: Predictions, y: pd.Series) -> dict[str, float]:
    """Every metric of the predictions' task (see `metric_value`)."""
    return {
        name: metric_value(name, y, predictions.predicted, predictions.proba, predictions.classes)
        for name in tasks.METRICS[predictions.task]
    }


def score_model(model: Model, X: pd.DataFrame, y: pd.Series, task: Task) -> dict[str, float]:
    return score_predictions(Predictions.of(model, X, task), y)


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
    """Percentile interval of the challenger's gain over the champion (`tasks.gain`: > 0 is
    better, whichever way the metric points), both scored on the same resampled rows each
    time, so that what the rows have in common cancels out.

    Metrics are computed with numpy on class codes (`_metric_on_rows`, checked against
    scikit-learn in the tests): scikit-learn's own functions cost milliseconds per call in input
    validation, which over thousands of resamples would dominate a run."""
    rng = np.random.default_rng(seed)
    scores = [metric_on_rows(metric, y, predictions) for predictions in (challenger, champion)]
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        difference = tasks.gain(metric, scores[0](rows), scores[1](rows))
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
    score = metric_on_rows(metric, y, predictions)
    values = [score(rng.integers(0, len(y), len(y))) for _ in range(resamples)]
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
    """Percentile interval of first's gain over second (`tasks.gain`: > 0 is better) on two
    different sets of rows (an A/B comparison: each version answered its own requests),
    resampled independently."""
    rng = np.random.default_rng(seed)
    sides = [(metric_on_rows(metric, y, p), len(y)) for y, p in (first, second)]
    differences = []
    for _ in range(resamples):
        a, b = (score(rng.integers(0, n, n)) for score, n in sides)
        if not math.isnan(a - b):
            differences.append(tasks.gain(metric, a, b))
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


def _regression_on_rows(metric: str, y: np.ndarray, predicted: np.ndarray) -> float:
    """`_regression_metric` in plain numpy (same definitions, checked against scikit-learn in
    the tests): thousands of resamples cannot afford scikit-learn's input validation."""
    error = predicted - y
    if metric == "rmse":
        return float(np.sqrt(np.mean(error**2)))
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    if metric == "mape":  # scikit-learn's epsilon guards a zero target
        return float(np.mean(np.abs(error) / np.maximum(np.abs(y), np.finfo(np.float64).eps)))
    total = float(np.sum((y - y.mean()) ** 2))
    return math.nan if total == 0 else 1.0 - float(np.sum(error**2)) / total


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
    disparity: DisparityCheck | None = None,
) -> Decision:
    """The gate's one rule.

    - A challenger whose score is undefined (NaN) is never promoted.
    - No champion: promote.
    - A champion that cannot be scored on this holdout (it raises, or its score is NaN) is
      kept: an unverified challenger never replaces it. Use another model name for another
      data set, or fix the champion.
    - Otherwise promote only if the gain (challenger - champion, negated for an error metric
      such as RMSE) is > 0 and >= min_improvement, and, when a paired interval of the gain
      is given, its lower bound is > 0, and, when a disparity
      check is given (fairness gate on), no sensitive column's disparity is worse than the
      champion's by more than its tolerance.
    """
    fairness = "off" if disparity is None else "not compared"

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
            fairness,
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
    gain = tasks.gain(metric, challenger_score, champion_score)
    summary = (
        f"challenger {metric}={challenger_score:.4f} vs champion v{champion_version} "
        f"{metric}={champion_score:.4f} ({_direction(metric)}; gain {gain:+.4f}, minimum "
        f"{min_improvement:.4f}"
    )
    if interval is not None:
        summary += (
            f", {confidence:.0%} paired bootstrap interval "
            f"[{interval[0]:+.4f}, {interval[1]:+.4f}] over n={n}"
        )
    summary += ")"
    unfair = [] if disparity is None else disparity.problems(metric)
    if disparity is not None:
        fairness = "refused" if unfair else "passed"
    also = f"; fairness also refuses it: {'; '.join(unfair)}" if unfair else ""
    if not (gain > 0 and gain >= min_improvement):
        return verdict(False, f"{summary}: champion kept{also}")
    if interval is not None and not interval[0] > 0:
        return verdict(False, f"{summary}: the gain is not significant, champion kept{also}")
    if unfair:
        return verdict(
            False,
            f"{summary}, but its {metric} differs more between groups than the champion's "
            f"beyond evaluation.fairness.tolerance: {'; '.join(unfair)}: champion kept",
        )
    return verdict(True, f"{summary}: challenger is better")


def _direction(metric: str) -> str:
    return "higher is better" if tasks.higher_is_better(metric) else "lower is better"
