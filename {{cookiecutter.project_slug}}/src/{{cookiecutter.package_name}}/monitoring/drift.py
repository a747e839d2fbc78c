"""Drift statistics: each feature and the predictions, current window against the reference.

Numeric features: the two-sample Kolmogorov-Smirnov test (SciPy's asymptotic p-value, the one
`scipy.stats.ks_2samp(method="asymp")` returns) and the Wasserstein distance divided by the
reference's standard deviation, both from one sort. Categorical features and the predicted
class: Pearson's chi-square test of homogeneity and the Jensen-Shannon distance (base 2).
Every column also gets a data-quality test: its shares of present, missing and (numeric)
non-finite values, by the same chi-square test, so a column that goes missing or starts
carrying infinities is caught even though the distribution test only sees its finite values.

A feature drifts when one of its tests rejects AND its effect matters: the distance reaches
`min_effect`, or the missing share moves by `min_missing_change` (any rise of non-finite values
counts). The tests of all features are one family: a feature's p-value is the smaller of its
two, doubled (Bonferroni within the feature), and Benjamini-Hochberg at `p_value` decides which
features reject, so the chance of a false alarm does not grow with the number of features. The
distance keeps a huge window from alarming on a shift too small to matter. Pure functions of
two frames: no I/O, so they are easy to test and benchmark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from ..config import DriftSettings
from ..drift_reference import PREDICTION_COLUMN
from ..errors import PipelineError

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
    # The data-quality test: shares of missing and non-finite values, and its p-value.
    quality_p_value: float = 1.0
    non_finite_reference: float = 0.0
    non_finite_current: float = 0.0
    # What moved: "distribution", "missing values", "non-finite values".
    signals: list[str] = field(default_factory=list)

    @property
    def quality_breach(self) -> bool:
        return any(signal != "distribution" for signal in self.signals)


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

    @property
    def quality_breaches(self) -> list[str]:
        return [f.name for f in self.features if f.quality_breach]

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
        quality = ""
        if self.quality_breaches:
            quality = (
                f"; missing or non-finite values changed in {', '.join(self.quality_breaches)}"
            )
        return (
            f"{verdict}: {len(self.drifted_features)}/{len(self.features)} features drifted "
            f"({self.share_drifted:.0%}, threshold {self.thresholds['drifted_share']:.0%}){listed}"
            f"{prediction}{quality}; {self.n_current:,} current vs {self.n_reference:,} "
            "reference rows"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "drifted_features": self.drifted_features,
            "quality_breaches": self.quality_breaches,
        }


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
    columns = {name: _comparable(name, reference[name], current[name]) for name in features}
    if len(current) < settings.min_rows:
        raise DriftInputError(
            f"the current data has {len(current)} rows; a drift check needs at least "
            f"{settings.min_rows} (monitoring.drift.min_rows): choose a longer --since window "
            "or pass more data"
        )
    tested = [_test_feature(name, ref, cur) for name, (ref, cur) in columns.items()]
    threshold = benjamini_hochberg([_feature_p_value(f) for f in tested], settings.p_value)
    results = [_decide(f, threshold, settings) for f in tested]
    prediction = None
    if PREDICTION_COLUMN in reference.columns and PREDICTION_COLUMN in current.columns:
        # One test on its own, at the configured level: a regressor's numbers as numbers
        # (the reference stores them as floats), class labels as categories.
        ref_predicted, cur_predicted = reference[PREDICTION_COLUMN], current[PREDICTION_COLUMN]
        if pd.api.types.is_float_dtype(ref_predicted):
            cur_numbers = pd.to_numeric(cur_predicted, errors="coerce")
            predicted = _numeric("prediction", ref_predicted, cur_numbers)
        else:
            predicted = _categorical(
                "prediction", ref_predicted.astype(str), cur_predicted.astype(str)
            )
        moved = predicted.p_value < settings.p_value and predicted.effect >= settings.min_effect
        prediction = replace(predicted, drifted=moved, signals=["distribution"] if moved else [])
    share = sum(f.drifted for f in results) / len(results) if results else 0.0
    drifted = (
        share >= settings.drifted_share
        or (settings.include_predictions and prediction is not None and prediction.drifted)
        or (settings.quality_is_drift and any(f.quality_breach for f in results))
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


def benjamini_hochberg(p_values: list[float], level: float) -> float:
    """The largest p-value that Benjamini-Hochberg rejects at false discovery rate `level`
    (the k-th smallest p-value that is <= k/m * level); 0.0 when it rejects none."""
    ordered = np.sort(np.asarray(p_values, dtype=float))
    m = ordered.size
    passing = np.nonzero(ordered <= level * np.arange(1, m + 1) / max(m, 1))[0]
    return float(ordered[passing[-1]]) if passing.size else 0.0


def _feature_p_value(feature: FeatureDrift) -> float:
    """A feature's two tests (distribution, quality) as one p-value: Bonferroni within it."""
    return min(1.0, 2 * min(feature.p_value, feature.quality_p_value))


def _decide(feature: FeatureDrift, threshold: float, settings: DriftSettings) -> FeatureDrift:
    """`threshold`: the largest feature p-value that Benjamini-Hochberg rejects (0: none)."""
    signals = []
    if 2 * feature.p_value <= threshold and feature.effect >= settings.min_effect:
        signals.append("distribution")
    if 2 * feature.quality_p_value <= threshold:
        moved = abs(feature.missing_current - feature.missing_reference)
        if moved >= settings.min_missing_change:
            signals.append("missing values")
        if feature.non_finite_current > feature.non_finite_reference:
            signals.append("non-finite values")
    return replace(feature, drifted=bool(signals), signals=signals)


def _comparable(name: str, reference: pd.Series, current: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The current column as the reference's kind: numbers stay numbers, text is refused."""
    numeric = pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
    if not numeric:
        return reference, current
    try:
        return reference, pd.to_numeric(current)
    except (TypeError, ValueError):
        raise DriftInputError(
            f"column '{name}' is numeric in the reference but holds text in the current data"
        ) from None


def _test_feature(name: str, reference: pd.Series, current: pd.Series) -> FeatureDrift:
    numeric = pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
    return _numeric(name, reference, current) if numeric else _categorical(name, reference, current)


def _numeric(name: str, reference: pd.Series, current: pd.Series) -> FeatureDrift:
    ref_all = reference.to_numpy(dtype=float, na_value=np.nan)
    cur_all = current.to_numpy(dtype=float, na_value=np.nan)
    ref_counts, cur_counts = _validity_counts(ref_all), _validity_counts(cur_all)
    _, quality_p = _chi_square(np.array([ref_counts, cur_counts], dtype=float))
    ref = np.sort(ref_all[np.isfinite(ref_all)])
    cur = np.sort(cur_all[np.isfinite(cur_all)])
    ref_missing, cur_missing = ref_counts[1] / ref_all.size, cur_counts[1] / cur_all.size
    ref_inf, cur_inf = ref_counts[2] / ref_all.size, cur_counts[2] / cur_all.size
    common = {
        "name": name,
        "kind": "numeric",
        "test": "ks",
        "effect_name": "wasserstein_norm",
        "drifted": False,
        "missing_reference": float(ref_missing),
        "missing_current": float(cur_missing),
        "quality_p_value": quality_p,
        "non_finite_reference": float(ref_inf),
        "non_finite_current": float(cur_inf),
    }
    if ref.size == 0 or cur.size == 0:  # nothing finite to compare: only quality can move
        return FeatureDrift(statistic=0.0, p_value=1.0, effect=0.0, **common)
    statistic, distance = _ks_and_wasserstein(ref, cur)
    # SciPy's asymptotic two-sided p-value, exactly as ks_2samp(method="asymp") computes it.
    m, n = sorted((float(ref.size), float(cur.size)), reverse=True)
    p_value = float(stats.kstwo.sf(statistic, np.round(m * n / (m + n))))
    scale = float(np.std(ref))
    effect = distance / scale if scale > 0 else (0.0 if distance == 0 else float("inf"))
    labels, ref_shares, cur_shares = _histogram(ref, cur)
    return FeatureDrift(
        statistic=statistic,
        p_value=p_value,
        effect=effect,
        labels=labels,
        reference_shares=ref_shares,
        current_shares=cur_shares,
        **common,
    )


def _validity_counts(values: np.ndarray) -> list[int]:
    """How many values are finite, missing (NaN) and infinite."""
    missing = int(np.isnan(values).sum())
    infinite = int(np.isinf(values).sum())
    return [values.size - missing - infinite, missing, infinite]


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


def _categorical(name: str, reference: pd.Series, current: pd.Series) -> FeatureDrift:
    ref_counts, cur_counts = _category_counts(reference), _category_counts(current)
    categories = sorted(set(ref_counts) | set(cur_counts))
    table = np.array(
        [[ref_counts.get(c, 0) for c in categories], [cur_counts.get(c, 0) for c in categories]],
        dtype=float,
    )
    statistic, p_value = _chi_square(table)
    effect = float(jensenshannon(table[0], table[1], base=2))
    top = np.argsort(-(table[0] + table[1]), kind="stable")[:TOP_CATEGORIES]
    ref_missing, cur_missing = ref_counts.get(MISSING, 0), cur_counts.get(MISSING, 0)
    presence = np.array(
        [[len(reference) - ref_missing, ref_missing], [len(current) - cur_missing, cur_missing]],
        dtype=float,
    )
    return FeatureDrift(
        name=name,
        kind="categorical",
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        effect_name="jensen_shannon",
        effect=effect,
        drifted=False,
        missing_reference=ref_missing / max(len(reference), 1),
        missing_current=cur_missing / max(len(current), 1),
        labels=[categories[i] for i in top],
        reference_shares=[float(table[0, i] / table[0].sum()) for i in top],
        current_shares=[float(table[1, i] / table[1].sum()) for i in top],
        quality_p_value=_chi_square(presence)[1],
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
    `scipy.stats.chi2_contingency(table, correction=False)` returns, without its overhead).
    Columns empty on both sides (no infinite values anywhere, say) carry no information."""
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0  # one category on both sides: nothing can have moved
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]
