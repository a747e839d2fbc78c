"""Metrics, diagnostic plots and the challenger-versus-champion decision.

MLflow 3 dropped `baseline_model` from `mlflow.evaluate`, so the gate is an explicit,
side-effect-free comparator: the same numbers always give the same decision.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
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

    def as_tags(self) -> dict[str, str]:
        return {f"decision.{key}": str(value) for key, value in asdict(self).items()}


def classification_metrics(
    y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    """accuracy, precision, recall, f1, roc_auc; binary uses the second class as positive,
    multiclass uses macro averages and one-vs-rest ROC AUC."""
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    )
    if binary:
        roc_auc = roc_auc_score(y_true == classes[1], proba[:, 1])
    else:
        roc_auc = roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0, **averaging)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0, **averaging)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0, **averaging)),
        "roc_auc": float(roc_auc),
    }


def score_model(model: Classifier, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
    return classification_metrics(y, model.predict(X), model.predict_proba(X), classes)


def decide(
    metric: str,
    challenger_score: float,
    champion_score: float | None,
    champion_version: str | None,
    min_improvement: float,
) -> Decision:
    """Promote when there is no champion, or when the challenger beats it by the minimum."""

    def verdict(promote: bool, reason: str) -> Decision:
        return Decision(
            promote,
            reason,
            metric,
            challenger_score,
            champion_score,
            champion_version,
            min_improvement,
        )

    if math.isnan(challenger_score):
        return verdict(False, f"challenger {metric} is undefined (NaN)")
    if champion_version is None:
        return verdict(True, "no champion yet")
    if champion_score is None or math.isnan(champion_score):
        return verdict(True, f"champion v{champion_version} has no usable {metric}")
    gain = challenger_score - champion_score
    summary = (
        f"challenger {metric}={challenger_score:.4f} vs champion v{champion_version} "
        f"{metric}={champion_score:.4f} (gain {gain:+.4f}, minimum {min_improvement:.4f})"
    )
    if gain > 0 and gain >= min_improvement:
        return verdict(True, f"{summary}: challenger is better")
    return verdict(False, f"{summary}: champion kept")


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
