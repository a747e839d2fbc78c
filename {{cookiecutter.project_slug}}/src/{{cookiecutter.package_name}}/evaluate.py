"""The challenger-versus-champion decision and the bootstrap intervals it can use (the metrics
are in metrics.py, the plots in plots.py).

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
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from . import tasks
from .metrics import Predictions, metric_on_rows


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
