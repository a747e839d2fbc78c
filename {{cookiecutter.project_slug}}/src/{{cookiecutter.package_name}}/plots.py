"""Diagnostic plots of a model on the holdout, written as PNG files for the run's artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, confusion_matrix

from .fairness import SELECTION_RATE
from .train import Classifier


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


def plot_fairness(report: dict[str, Any], path: Path) -> None:
    """One bar chart per sensitive column: the metric and the selection rate of each group."""
    metric = report["metric"]
    columns = report["columns"]
    figure = Figure(figsize=(7, 3.2 * len(columns)), layout="constrained")
    for axes, (column, part) in zip(
        np.atleast_1d(figure.subplots(len(columns), 1)), columns.items(), strict=True
    ):
        names = [g["group"] for g in part["groups"]]
        positions = np.arange(len(names))
        for offset, key in ((-0.2, metric), (0.2, SELECTION_RATE)):
            heights = [np.nan if g[key] is None else g[key] for g in part["groups"]]
            axes.bar(positions + offset, heights, width=0.4, label=key)
        axes.set_xticks(
            positions,
            [f"{n}\n({g['rows']} rows)" for n, g in zip(names, part["groups"], strict=True)],
        )
        axes.set_ylim(0, 1.25)  # room for the legend above the bars
        axes.set_title(f"{column} ({part['grouping']})")
        axes.legend(loc="upper right", ncols=2)
    figure.suptitle("Metric and selection rate by group (holdout)")
    figure.savefig(path, dpi=100)
