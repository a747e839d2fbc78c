"""Diagnostic plots of a model on the holdout, written as PNG files for the run's artifacts.

Classification: confusion matrix and ROC curve; regression: predicted against actual,
residuals by decile of the actual value, and the distribution of errors. Both: permutation
feature importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import is_regressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, confusion_matrix

from .metrics import Predictions
from .train import Model

# The target's deciles: where along its range a regression model over- or under-predicts.
DECILES = 10


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


def residuals_by_decile(y_true: pd.Series, predictions: Predictions) -> dict[str, Any]:
    """Per decile of the actual value: its range, rows, mean actual, mean prediction, mean
    residual (prediction - actual) and mean absolute error."""
    actual, predicted = np.asarray(y_true, dtype=float), predictions.predicted
    residual = predicted - actual
    bands = pd.qcut(pd.Series(actual).rank(method="first"), DECILES, labels=False)
    deciles = []
    for band in range(int(bands.max()) + 1):
        rows = np.flatnonzero(bands.to_numpy() == band)
        deciles.append(
            {
                "decile": band + 1,
                "low": float(actual[rows].min()),
                "high": float(actual[rows].max()),
                "rows": len(rows),
                "mean_actual": float(actual[rows].mean()),
                "mean_prediction": float(predicted[rows].mean()),
                "mean_residual": float(residual[rows].mean()),
                "mae": float(np.abs(residual[rows]).mean()),
            }
        )
    return {"deciles": deciles}


def plot_predicted_vs_actual(y_true: pd.Series, predicted: np.ndarray, path: Path) -> None:
    actual = np.asarray(y_true, dtype=float)
    figure = Figure(figsize=(5, 5), layout="constrained")
    axes = figure.subplots()
    axes.scatter(actual, predicted, s=8, alpha=0.5)
    low, high = min(actual.min(), predicted.min()), max(actual.max(), predicted.max())
    axes.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1)
    axes.set_xlabel("actual")
    axes.set_ylabel("predicted")
    figure.suptitle("Predicted vs actual (holdout)")
    figure.savefig(path, dpi=100)


def plot_residuals_by_decile(summary: dict[str, Any], path: Path) -> None:
    deciles = summary["deciles"]
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    axes = figure.subplots()
    positions = [d["decile"] for d in deciles]
    axes.bar(positions, [d["mean_residual"] for d in deciles], label="mean residual")
    axes.plot(positions, [d["mae"] for d in deciles], marker="o", color="black", label="MAE")
    axes.axhline(0, color="grey", linewidth=1)
    axes.set_xticks(positions, [f"{d['decile']}\n≤{d['high']:.3g}" for d in deciles])
    axes.set_xlabel("decile of the actual value")
    axes.legend()
    figure.suptitle("Residuals (predicted - actual) by decile (holdout)")
    figure.savefig(path, dpi=100)


def plot_error_distribution(y_true: pd.Series, predicted: np.ndarray, path: Path) -> None:
    residual = predicted - np.asarray(y_true, dtype=float)
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axes = figure.subplots()
    axes.hist(residual, bins=40)
    axes.axvline(0, color="grey", linewidth=1)
    axes.set_xlabel("predicted - actual")
    axes.set_ylabel("rows")
    figure.suptitle("Error distribution (holdout)")
    figure.savefig(path, dpi=100)


def plot_feature_importance(
    model: Model, X: pd.DataFrame, y: pd.Series, seed: int, path: Path
) -> dict[str, float]:
    """Permutation importance on the raw columns: works for every model family. The score
    is the model's own: accuracy for a classifier, R² for a regressor."""
    result = permutation_importance(model, X, y, n_repeats=3, random_state=seed, n_jobs=1)
    importances = pd.Series(result.importances_mean, index=X.columns).sort_values()
    top = importances.tail(20)
    figure = Figure(figsize=(6, 0.3 * len(top) + 1.5), layout="constrained")
    axes = figure.subplots()
    axes.barh(top.index.astype(str), top.to_numpy())
    score = "R²" if is_regressor(model) else "accuracy"
    axes.set_xlabel(f"Mean {score} drop when the column is shuffled")
    figure.suptitle("Feature importance (holdout)")
    figure.savefig(path, dpi=100)
    return {str(name): float(value) for name, value in importances.items()}


def write_plots(
    model: Model,
    X: pd.DataFrame,
    y: pd.Series,
    predictions: Predictions,
    seed: int,
    plots_dir: Path,
) -> dict[str, float]:
    """The task's plots from the model's holdout predictions; returns the importances."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    predicted = predictions.predicted
    if predictions.task == "classification":
        plot_confusion_matrix(y, predicted, plots_dir / "confusion_matrix.png")
        plot_roc_curve(y, predictions.proba, predictions.classes, plots_dir / "roc_curve.png")
    else:
        plot_predicted_vs_actual(y, predicted, plots_dir / "predicted_vs_actual.png")
        summary = residuals_by_decile(y, predictions)
        plot_residuals_by_decile(summary, plots_dir / "residuals_by_decile.png")
        plot_error_distribution(y, predicted, plots_dir / "error_distribution.png")
    return plot_feature_importance(model, X, y, seed, plots_dir / "feature_importance.png")


def confusion(y: pd.Series, predictions: Predictions) -> dict[str, Any]:
    classes = predictions.classes
    matrix = confusion_matrix(y, predictions.predicted, labels=classes)
    return {"labels": [str(c) for c in classes], "matrix": matrix.tolist()}


def plot_fairness(report: dict[str, Any], path: Path) -> None:
    """One bar chart per sensitive column: the metric and the selection rate (regression: the
    mean prediction) of each group."""
    metric, rate = report["metric"], report["rate"]
    columns = report["columns"]
    figure = Figure(figsize=(7, 3.2 * len(columns)), layout="constrained")
    for axes, (column, part) in zip(
        np.atleast_1d(figure.subplots(len(columns), 1)), columns.items(), strict=True
    ):
        names = [g["group"] for g in part["groups"]]
        positions = np.arange(len(names))
        for offset, key in ((-0.2, metric), (0.2, rate)):
            heights = [np.nan if g[key] is None else g[key] for g in part["groups"]]
            axes.bar(positions + offset, heights, width=0.4, label=key)
        axes.set_xticks(
            positions,
            [f"{n}\n({g['rows']} rows)" for n, g in zip(names, part["groups"], strict=True)],
        )
        if report["positive_class"] is not None:  # classification: both values are shares
            axes.set_ylim(0, 1.25)  # room for the legend above the bars
        axes.set_title(f"{column} ({part['grouping']})")
        axes.legend(loc="upper right", ncols=2)
    figure.suptitle(f"{metric} and {rate.replace('_', ' ')} by group (holdout)")
    figure.savefig(path, dpi=100)
