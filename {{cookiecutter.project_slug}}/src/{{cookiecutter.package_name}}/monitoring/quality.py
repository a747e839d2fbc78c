"""Live model quality: the primary metric of each serving version on its fed-back outcomes.

Each version's labelled rows are scored again with that version's own files (verified by
digest), so metrics that need probabilities (ROC AUC) are exact, and compared with the same
metric on the version's holdout (its `metric.<name>` registry tag, written at registration).
A version is degraded when even the best end of its live metric's confidence interval
(percentile bootstrap) is worse than its holdout evaluation by more than
`monitoring.quality.margin` (the upper end below it for a score, the lower end above it for an
error such as RMSE): a few unlucky rows cannot trigger a retraining, a real drop does.
`compare` is the A/B view: two versions' live metrics on their own requests, and whether the
difference is significant.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from .. import tasks
from ..config import Settings
from ..errors import PipelineError
from ..evaluate import bootstrap_interval, difference_interval
from ..metrics import Predictions, metric_value
from .feedback import feature_columns
from .inference_log import MODEL_VERSION


@dataclass(frozen=True)
class VersionQuality:
    version: str
    n: int
    metric: str
    value: float
    low: float
    high: float
    evaluated: float | None  # the same metric on the version's holdout, at registration
    degraded: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    metric: str
    first: VersionQuality
    second: VersionQuality
    low: float  # interval of first's gain over second (tasks.gain: > 0, first is better)
    high: float
    winner: str | None  # None: no significant difference

    def summary(self) -> str:
        verdict = (
            f"v{self.winner} wins"
            if self.winner
            else "no significant difference (collect more outcomes)"
        )
        return (
            f"{self.metric}: v{self.first.version} {self.first.value:.4f} (n={self.first.n}) "
            f"vs v{self.second.version} {self.second.value:.4f} (n={self.second.n}); "
            f"gain of v{self.first.version} in [{self.low:+.4f}, {self.high:+.4f}]: {verdict}"
        )


def _scored(settings: Settings, client: Any, version: str, rows: pd.DataFrame) -> tuple:
    import mlflow.sklearn

    from ..model_files import materialize_version
    from ..registry import DIGEST_TAG, get_version

    registered = get_version(client, settings.model_name, version)
    folder = materialize_version(
        settings, settings.model_name, version, registered.tags.get(DIGEST_TAG)
    )
    model = mlflow.sklearn.load_model(str(folder / "model"))
    target = settings.data.target
    y = rows[target].reset_index(drop=True)
    if settings.task == "regression":
        if is_bool_dtype(y) or not is_numeric_dtype(y):
            raise PipelineError(
                f"outcomes of '{target}' must be numbers for a regression model (found "
                f"{y.dtype}, e.g. {y.iloc[0]!r}): feed back the measured values"
            )
    else:
        unknown = set(y.unique()) - set(model.classes_.tolist())
        if unknown:
            raise PipelineError(
                f"outcomes {sorted(map(str, unknown))} are not classes v{version} predicts "
                f"({', '.join(map(str, model.classes_))}): feed back the values of '{target}'"
            )
    predictions = Predictions.of(model, rows[feature_columns(rows, target)], settings.task)
    return registered, y, predictions


def _quality_of(
    settings: Settings, client: Any, version: str, rows: pd.DataFrame
) -> tuple[VersionQuality, tuple[pd.Series, Predictions]]:
    quality = settings.monitoring.quality
    metric = settings.evaluation.primary_metric
    registered, y, predictions = _scored(settings, client, version, rows)
    value = metric_value(metric, y, predictions.predicted, predictions.proba, predictions.classes)
    low, high = bootstrap_interval(
        metric,
        y,
        predictions,
        confidence=quality.confidence,
        resamples=quality.resamples,
        seed=settings.seed,
    )
    tag = registered.tags.get(f"metric.{metric}")
    evaluated = float(tag) if tag else None
    degraded, reason = _verdict(metric, len(y), low, high, evaluated, settings)
    line = VersionQuality(version, len(y), metric, value, low, high, evaluated, degraded, reason)
    return line, (y, predictions)


def version_quality(
    settings: Settings, client: Any, labelled: pd.DataFrame
) -> list[VersionQuality]:
    """One line per version that answered labelled requests, newest version first."""
    results = [
        _quality_of(settings, client, str(version), rows)[0]
        for version, rows in labelled.groupby(MODEL_VERSION, sort=False)
    ]
    return sorted(results, key=lambda q: _number(q.version), reverse=True)


def _number(version: str) -> int:
    return int(version) if version.isdigit() else 0


def _verdict(
    metric: str, n: int, low: float, high: float, evaluated: float | None, settings: Settings
) -> tuple[bool, str]:
    quality = settings.monitoring.quality
    if n < quality.min_labelled_rows:
        return False, f"{n} labelled rows; at least {quality.min_labelled_rows} are needed"
    if evaluated is None:
        return False, "no holdout evaluation recorded for this version"
    if math.isnan(high):
        return False, "the outcomes hold too few classes (or values) for an interval"
    if not tasks.higher_is_better(metric):  # an error: the lower end is its best
        ceiling = evaluated + quality.margin
        if low > ceiling:
            return True, (
                f"degraded: live interval [{low:.4f}, {high:.4f}] is above the holdout "
                f"{evaluated:.4f} + margin {quality.margin} = {ceiling:.4f} (lower is better)"
            )
        return False, f"as evaluated: live interval reaches {low:.4f} <= {ceiling:.4f}"
    floor = evaluated - quality.margin
    if high < floor:
        return True, (
            f"degraded: live interval [{low:.4f}, {high:.4f}] is below the holdout "
            f"{evaluated:.4f} - margin {quality.margin} = {floor:.4f}"
        )
    return False, f"as evaluated: live interval reaches {high:.4f} >= {floor:.4f}"


def compare(
    settings: Settings, client: Any, labelled: pd.DataFrame, versions: tuple[str, str] | None
) -> Comparison:
    """Two versions' live metrics on their own labelled requests, and which one wins."""
    quality = settings.monitoring.quality
    seen = [str(v) for v in labelled[MODEL_VERSION].drop_duplicates()]
    chosen = versions or tuple(sorted(seen, key=_number)[-2:])
    if len(chosen) != 2 or any(v not in seen for v in chosen):
        raise PipelineError(
            f"need labelled requests of two versions to compare; found {', '.join(seen) or 'none'}"
        )
    (first, first_rows), (second, second_rows) = (
        _quality_of(settings, client, v, labelled[labelled[MODEL_VERSION].astype(str) == v])
        for v in chosen
    )
    low, high = difference_interval(
        settings.evaluation.primary_metric,
        first_rows,
        second_rows,
        confidence=quality.confidence,
        resamples=quality.resamples,
        seed=settings.seed,
    )
    winner = first.version if low > 0 else second.version if high < 0 else None
    return Comparison(settings.evaluation.primary_metric, first, second, low, high, winner)
