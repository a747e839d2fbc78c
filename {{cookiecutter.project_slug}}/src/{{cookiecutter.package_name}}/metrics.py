"""Each task's metrics on one model's predictions: scikit-learn's definitions for whole sets,
and the same definitions in plain numpy for the thousands of row subsets (resamples, groups)
the bootstrap intervals and the fairness report score."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
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
