"""Drift statistics: each feature and the predictions, current window against the reference.

Numeric features: the two-sample Kolmogorov-Smirnov test (SciPy's asymptotic p-value, the one
`scipy.stats.ks_2samp(method="asymp")` returns) and the Wasserstein distance divided by the
reference's standard deviation, both from one sort. Categorical features and the predicted
class: Pearson's chi-square test of homogeneity and the Jensen-Shannon distance (base 2).
A feature drifts when the test rejects at `p_value` AND the distance reaches `min_effect`:
the test bounds false alarms, the distance keeps a huge window from alarming on a shift too
small to matter. Pure functions of two frames: no I/O, so they are easy to test and benchmark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from ..config import DriftSettings
from ..errors import PipelineError
from .reference import PREDICTION_COLUMN

MISSING = "(missing)"
HISTOGRAM_BINS = 30
TOP_CATEGORIES = 12


class DriftInputError(PipelineError):
    """The current data cannot be compared with the reference (empty, missing columns...)."""


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: Literal["numeric", "categorical"]
    test: str
    statistic: float
    p_value: float
    effect_name: str
    effect: float
    drifted: bool
    missing_reference: float
    missing_current: float
    # Shares per bin (numeric) or category (categorical) for the report's charts.
    labels: list[str] = field(default_factory=list)
    reference_shares: list[float] = field(default_factory=list)
    current_shares: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class DriftResult:
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    share_drifted: float
    drifted: bool
    n_reference: int
    n_current: int
    thresholds: dict[str, Any]

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def summary(self) -> str:
        """One line for the terminal and CI logs."""
        verdict = "DRIFT" if self.drifted else "no drift"
        names = ", ".join(self.drifted_features[:5])
        more = len(self.drifted_features) - 5
        listed = f" ({names}{f' +{more} more' if more > 0 else ''})" if names else ""
        prediction = ""
        if self.prediction is not None:
            prediction = (
                "; predictions drifted" if self.prediction.drifted else "; predictions stable"
            )
        return (
            f"{verdict}: {len(self.drifted_features)}/{len(self.features)} features drifted "
            f"({self.share_drifted:.0%}, threshold {self.thresholds['drifted_share']:.0%}){listed}"
            f"{prediction}; {self.n_current:,} current vs {self.n_reference:,} reference rows"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted_features": self.drifted_features}


def compare(reference: pd.DataFrame, current: pd.DataFrame, settings: DriftSettings) -> DriftResult:
    """Drift of every reference feature (and the predictions, when both sides have them)."""
    features = [c for c in reference.columns if c != PREDICTION_COLUMN]
    if current.empty:
        raise DriftInputError(
            "the current data has no rows: choose a longer --since window or a file with rows"
        )
    missing = [c for c in features if c not in current.columns]
    if missing:
        raise DriftInputError(
            f"the current data lacks the model's input columns {missing}: "
            "pass data with the columns the champion was trained on"
        )
    results = [_feature_drift(name, reference[name], current[name], settings) for name in features]
    prediction = None
    if PREDICTION_COLUMN in reference.columns and PREDICTION_COLUMN in current.columns:
        prediction = _categorical(
            "prediction",
            reference[PREDICTION_COLUMN].astype(str),
            current[PREDICTION_COLUMN].astype(str),
            settings,
        )
    share = sum(f.drifted for f in results) / len(results) if results else 0.0
    drifted = share >= settings.drifted_share or (
        settings.include_predictions and prediction is not None and prediction.drifted
    )
    return DriftResult(
        features=results,
        prediction=prediction,
        share_drifted=share,
        drifted=drifted,
        n_reference=len(reference),
        n_current=len(current),
        thresholds=settings.model_dump(),
    )


def _feature_drift(
    name: str, reference: pd.Series, current: pd.Series, settings: DriftSettings
) -> FeatureDrift:
    numeric = pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
    if not numeric:
        return _categorical(name, reference, current, settings)
    try:
        current = pd.to_numeric(current)
    except (TypeError, ValueError):
        raise DriftInputError(
            f"column '{name}' is numeric in the reference but holds text in the current data"
        ) from None
    return _numeric(name, reference, current, settings)


def _numeric(
    name: str, reference: pd.Series, current: pd.Series, settings: DriftSettings
) -> FeatureDrift:
    ref = np.sort(reference.to_numpy(dtype=float, na_value=np.nan))
    cur = np.sort(current.to_numpy(dtype=float, na_value=np.nan))
    ref_missing, cur_missing = _missing_share(ref), _missing_share(cur)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return FeatureDrift(
            name,
            "numeric",
            "ks",
            0.0,
            1.0,
            "wasserstein_norm",
            0.0,
            False,
            ref_missing,
            cur_missing,
        )
    statistic, distance = _ks_and_wasserstein(ref, cur)
    # SciPy's asymptotic two-sided p-value, exactly as ks_2samp(method="asymp") computes it.
    m, n = sorted((float(ref.size), float(cur.size)), reverse=True)
    p_value = float(stats.kstwo.sf(statistic, np.round(m * n / (m + n))))
    scale = float(np.std(ref))
    effect = distance / scale if scale > 0 else (0.0 if distance == 0 else float("inf"))
    labels, ref_shares, cur_shares = _histogram(ref, cur)
    return FeatureDrift(
        name=name,
        kind="numeric",
        test="ks",
        statistic=statistic,
        p_value=p_value,
        effect_name="wasserstein_norm",
        effect=effect,
        drifted=p_value < settings.p_value and effect >= settings.min_effect,
        missing_reference=ref_missing,
        missing_current=cur_missing,
        labels=labels,
        reference_shares=ref_shares,
        current_shares=cur_shares,
    )


def _ks_and_wasserstein(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Both statistics from the two empirical CDFs on the merged sorted values (inputs sorted):
    the KS statistic is their largest gap, the Wasserstein distance the area between them.

    At the last of each run of equal merged values, the number of values <= it is its index
    + 1, so the current window's CDF follows from the reference's without searching the large
    array: only the (small) reference is searched."""
    merged = np.concatenate([ref, cur])
    merged.sort(kind="mergesort")  # two sorted runs: a merge, not a full sort
    ref_le = np.searchsorted(ref, merged, side="right")
    cur_le = np.arange(1, merged.size + 1) - ref_le
    gap = np.abs(ref_le / ref.size - cur_le / cur.size)
    widths = np.diff(merged)
    run_ends = np.append(widths > 0, True)  # elsewhere `gap` is mid-run and has zero width
    return float(gap[run_ends].max()), float(np.sum(gap[:-1] * widths))


def _histogram(ref: np.ndarray, cur: np.ndarray) -> tuple[list[str], list[float], list[float]]:
    """Shares in equal-width bins over the central 99% of both samples (outliers clipped)."""
    low = min(ref[int(0.005 * (ref.size - 1))], cur[int(0.005 * (cur.size - 1))])
    high = max(ref[int(0.995 * (ref.size - 1))], cur[int(0.995 * (cur.size - 1))])
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    ref_counts = np.histogram(np.clip(ref, low, high), edges)[0]
    cur_counts = np.histogram(np.clip(cur, low, high), edges)[0]
    labels = [f"{edge:.4g}" for edge in edges[:-1]]
    return labels, _shares(ref_counts), _shares(cur_counts)


def _categorical(
    name: str, reference: pd.Series, current: pd.Series, settings: DriftSettings
) -> FeatureDrift:
    ref_counts, cur_counts = _category_counts(reference), _category_counts(current)
    categories = sorted(set(ref_counts) | set(cur_counts))
    table = np.array(
        [[ref_counts.get(c, 0) for c in categories], [cur_counts.get(c, 0) for c in categories]],
        dtype=float,
    )
    statistic, p_value = _chi_square(table)
    effect = float(jensenshannon(table[0], table[1], base=2))
    top = np.argsort(-(table[0] + table[1]), kind="stable")[:TOP_CATEGORIES]
    return FeatureDrift(
        name=name,
        kind="categorical",
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        effect_name="jensen_shannon",
        effect=effect,
        drifted=p_value < settings.p_value and effect >= settings.min_effect,
        missing_reference=ref_counts.get(MISSING, 0) / max(len(reference), 1),
        missing_current=cur_counts.get(MISSING, 0) / max(len(current), 1),
        labels=[categories[i] for i in top],
        reference_shares=[float(table[0, i] / table[0].sum()) for i in top],
        current_shares=[float(table[1, i] / table[1].sum()) for i in top],
    )


def _category_counts(values: pd.Series) -> dict[str, int]:
    """Counts by category as text, missing values counted as a category of their own."""
    counts: dict[str, int] = {}
    for key, count in values.value_counts(dropna=False).items():
        label = MISSING if pd.isna(key) else str(key)
        counts[label] = counts.get(label, 0) + int(count)
    return counts


def _chi_square(table: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity on a 2 x k table of counts (what
    `scipy.stats.chi2_contingency(table, correction=False)` returns, without its overhead)."""
    if table.shape[1] < 2:
        return 0.0, 1.0  # one category on both sides: nothing can have moved
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))


def _missing_share(values: np.ndarray) -> float:
    return float(np.isnan(values).mean()) if values.size else 0.0


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]
