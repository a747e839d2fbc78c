"""How a model's holdout predictions differ between groups of the sensitive columns.

fairlearn's `MetricFrame` splits the rows by group and gives the largest difference and ratio
between groups; the metric inside it is the pipeline's own (`evaluate.metric_on_rows`), so a
group's value is exactly what the overall metric would be on that group's rows.

Grouping rule, the same for every model scored on the same rows: a numeric column with more
than NUMERIC_MAX_GROUPS distinct values is cut into QUANTILE_BANDS quantile bands of the
evaluated rows (fewer where values tie at the cut points); any other column groups by value.
Missing values form their own group, MISSING_GROUP.

Beside the metric, each group gets the share predicted as the positive class (selection rate)
or, for regression, the mean prediction: the two say whether a group is treated differently
whatever the truth.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from .evaluate import DisparityCheck
from .metrics import Predictions, metric_on_rows

NUMERIC_MAX_GROUPS = 10
QUANTILE_BANDS = 4
MISSING_GROUP = "(missing)"
SELECTION_RATE = "selection_rate"
MEAN_PREDICTION = "mean_prediction"


def rate_name(predictions: Predictions) -> str:
    return SELECTION_RATE if predictions.task == "classification" else MEAN_PREDICTION


def _rate(predictions: Predictions) -> Any:
    if predictions.task == "regression":
        return lambda y_true, y_pred: float(np.mean(y_pred))
    positive = positive_class(predictions.classes)
    return lambda y_true, y_pred: selection_rate(y_true, y_pred, pos_label=positive)


def groups(values: pd.Series) -> tuple[pd.Series, list[str], str]:
    """Each row's group label, the labels in display order, and the rule that made them."""
    missing = values.isna()
    if is_numeric_dtype(values) and not is_bool_dtype(values):
        present = values[~missing].astype(float)
        if present.nunique() > NUMERIC_MAX_GROUPS:
            codes, edges = pd.qcut(
                present, QUANTILE_BANDS, labels=False, retbins=True, duplicates="drop"
            )
            names = [
                f"{'[' if i == 0 else '('}{edges[i]:g}, {edges[i + 1]:g}]"
                for i in range(len(edges) - 1)
            ]
            labels = pd.Series(MISSING_GROUP, index=values.index, dtype=object)
            labels[~missing] = [names[int(code)] for code in codes]
            rule = f"{len(names)} quantile bands of the holdout values"
            return labels, _with_missing(names, missing), rule
        order = sorted(present.unique())
        names = [f"{value:g}" for value in order]
        labels = pd.Series(MISSING_GROUP, index=values.index, dtype=object)
        labels[~missing] = [f"{value:g}" for value in present]
        return labels, _with_missing(names, missing), "one group per value"
    labels = values.astype(object).where(~missing, MISSING_GROUP).astype(str)
    names = sorted(str(v) for v in values[~missing].unique())
    return labels, _with_missing(names, missing), "one group per value"


def _with_missing(names: list[str], missing: pd.Series) -> list[str]:
    return [*names, MISSING_GROUP] if missing.any() else names


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN; an undefined group value is None)."""
    value = float(value)
    return value if math.isfinite(value) else None


def positive_class(classes: np.ndarray) -> Any:
    """The class whose predicted share is the selection rate: the second in sorted order, the
    positive class of binary metrics; for multiclass data, likewise the second class."""
    return classes[1]


def column_report(
    values: pd.Series, y: pd.Series, predictions: Predictions, metric: str
) -> dict[str, Any]:
    """One sensitive column: per group the rows, the metric and the selection rate (or mean
    prediction), and the largest difference and ratio (smallest / largest) between groups,
    NaN groups left out."""
    labels, order, rule = groups(values.reset_index(drop=True))
    score = metric_on_rows(metric, y, predictions)
    rate = rate_name(predictions)
    frame = MetricFrame(
        metrics={
            metric: lambda y_true, y_pred, rows: score(rows),
            rate: _rate(predictions),
        },
        y_true=np.asarray(y),
        y_pred=predictions.predicted,
        sensitive_features=labels.rename(str(values.name)),
        sample_params={metric: {"rows": np.arange(len(y))}},
    )
    by_group = frame.by_group.reindex(order)
    counts = labels.value_counts()
    return {
        "grouping": rule,
        "groups": [
            {
                "group": name,
                "rows": int(counts[name]),
                metric: _number(by_group.loc[name, metric]),
                rate: _number(by_group.loc[name, rate]),
            }
            for name in order
        ],
        "difference": {k: _number(v) for k, v in frame.difference().items()},
        "ratio": {k: _number(v) for k, v in frame.ratio().items()},
    }


def fairness_report(
    X: pd.DataFrame, y: pd.Series, predictions: Predictions, metric: str, columns: list[str]
) -> dict[str, Any]:
    """The JSON-ready report of one model on the holdout, for every sensitive column."""
    classification = predictions.task == "classification"
    return {
        "metric": metric,
        "rate": rate_name(predictions),
        "positive_class": str(positive_class(predictions.classes)) if classification else None,
        "rows": len(y),
        "columns": {column: column_report(X[column], y, predictions, metric) for column in columns},
    }


def disparities(report: dict[str, Any]) -> dict[str, float | None]:
    """Per column, the largest difference of the primary metric between groups."""
    metric = report["metric"]
    return {column: part["difference"][metric] for column, part in report["columns"].items()}


def disparity_check(
    challenger: dict[str, Any], champion: dict[str, Any] | None, tolerance: float
) -> DisparityCheck:
    """The gate's fairness input; without a champion report there is nothing to compare."""
    return DisparityCheck(
        disparities(challenger), {} if champion is None else disparities(champion), tolerance
    )


def metric_key(column: str) -> str:
    """A column name as MLflow allows in a metric name."""
    return re.sub(r"[^\w.\- /]", "_", column)


def fairness_metrics(report: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """`<prefix>fairness.<column>.<metric>.difference` and `.ratio`; undefined ones left out."""
    found = {}
    for column, part in report["columns"].items():
        for kind in ("difference", "ratio"):
            for name, value in part[kind].items():
                if value is not None:
                    found[f"{prefix}fairness.{metric_key(column)}.{name}.{kind}"] = value
    return found
