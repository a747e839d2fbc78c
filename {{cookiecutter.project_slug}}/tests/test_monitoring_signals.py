"""Drift that cannot be fooled: a column that goes missing, infinite values, tiny windows, and
many features checked at once without multiplying false alarms.

The false-alarm tests are statistical tests of the detector: windows drawn from the reference's
own distribution, on 9 and on 30 features, must raise a feature alarm in no more than the
configured share of windows (Benjamini-Hochberg bounds it by `p_value` when nothing drifted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from {{ cookiecutter.package_name }}.config import DriftSettings
from {{ cookiecutter.package_name }}.monitoring.drift import (
    DriftInputError,
    benjamini_hochberg,
    compare,
)

LEVEL = DriftSettings().p_value


def wide_population(
    features: int, rows: int, rng: np.random.Generator, shifted: frozenset[int] = frozenset()
) -> pd.DataFrame:
    """`features` columns, one in three categorical, 5% missing values in every column;
    columns in `shifted` move by half a standard deviation (numeric) or tilt (categorical)."""
    data = {}
    for index in range(features):
        moved = index in shifted
        if index % 3 == 2:
            weights = [0.2, 0.3, 0.5] if moved else [0.5, 0.3, 0.2]
            column = rng.choice(["a", "b", "c"], rows, p=weights).astype(object)
            column[rng.uniform(size=rows) < 0.05] = None
        else:
            column = rng.normal(0.5 if moved else 0.0, 1.0, rows)
            column[rng.uniform(size=rows) < 0.05] = np.nan
        data[f"f{index:02d}"] = column
    return pd.DataFrame(data)


@pytest.mark.parametrize("features", [9, 30])
def test_same_distribution_windows_rarely_alarm_however_many_features(features: int) -> None:
    """Without control, 30 features at 5% each alarm in ~79% of windows; with it, at most at
    the configured level (a one-sided binomial test at 0.001 must not show more)."""
    rng = np.random.default_rng(features)
    reference = wide_population(features, 2000, rng)
    tests_only = DriftSettings(min_effect=0.0, min_missing_change=1e-9)
    windows = 200
    alarms = verdict_alarms = 0
    for _ in range(windows):
        window = wide_population(features, 500, rng)
        alarms += bool(compare(reference, window, tests_only).drifted_features)
        verdict_alarms += compare(reference, window, DriftSettings()).drifted
    excess = stats.binomtest(alarms, windows, LEVEL, alternative="greater")
    assert excess.pvalue > 0.001, f"{alarms}/{windows} windows alarmed on {features} features"
    assert verdict_alarms <= alarms


@pytest.mark.parametrize("features", [9, 30])
def test_reshuffled_reference_is_no_drift_and_a_real_shift_is(features: int) -> None:
    rng = np.random.default_rng(100 + features)
    reference = wide_population(features, 3000, rng)
    reshuffled = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    same = compare(reference, reshuffled, DriftSettings())
    assert not same.drifted and same.drifted_features == []
    shifted = frozenset(range(0, features, 2))  # about half the features move
    moved = compare(reference, wide_population(features, 1000, rng, shifted), DriftSettings())
    assert moved.drifted
    assert set(moved.drifted_features) <= {f"f{i:02d}" for i in shifted}
    assert len(moved.drifted_features) >= len(shifted) * 0.8


def test_a_numeric_column_that_goes_missing_is_drift() -> None:
    rng = np.random.default_rng(7)
    reference = wide_population(9, 2000, rng)
    current = wide_population(9, 800, rng)
    current["f00"] = np.nan
    result = compare(reference, current, DriftSettings())
    (gone,) = [f for f in result.features if f.name == "f00"]
    assert gone.drifted and gone.signals == ["missing values"]
    assert gone.missing_current == 1.0
    assert result.drifted and result.quality_breaches == ["f00"]
    assert "missing or non-finite values changed in f00" in result.summary()


def test_a_rise_from_none_to_half_missing_is_drift_for_numbers_and_text() -> None:
    rng = np.random.default_rng(8)
    reference = pd.DataFrame(
        {"x": rng.normal(0, 1, 2000), "c": rng.choice(["a", "b"], 2000).astype(object)}
    )
    current = pd.DataFrame(
        {"x": rng.normal(0, 1, 1000), "c": rng.choice(["a", "b"], 1000).astype(object)}
    )
    current.loc[current.index % 2 == 0, ["x", "c"]] = [np.nan, None]
    result = compare(reference, current, DriftSettings())
    assert {f.name: "missing values" in f.signals for f in result.features} == {
        "x": True,
        "c": True,
    }
    assert result.drifted


def test_infinite_values_are_drift_and_never_a_nan_distance() -> None:
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000), "y": rng.normal(0, 1, 2000)})
    current = pd.DataFrame({"x": rng.normal(0, 1, 1000), "y": rng.normal(0, 1, 1000)})
    current.loc[current.index % 10 == 0, "x"] = np.inf
    current.loc[current.index % 10 == 1, "x"] = -np.inf
    result = compare(reference, current, DriftSettings())
    x, y = result.features
    assert x.drifted and "non-finite values" in x.signals
    assert x.non_finite_current == pytest.approx(0.2) and x.non_finite_reference == 0.0
    assert np.isfinite(x.effect) and np.isfinite(x.statistic)
    assert not y.drifted
    assert result.drifted


def test_a_window_below_the_minimum_is_refused_with_the_setting_named() -> None:
    rng = np.random.default_rng(10)
    reference = wide_population(9, 2000, rng)
    with pytest.raises(DriftInputError, match=r"has 3 rows.*at least 100.*min_rows"):
        compare(reference, wide_population(9, 3, rng), DriftSettings())
    small = compare(reference, wide_population(9, 3, rng), DriftSettings(min_rows=3))
    assert small.n_current == 3


def test_benjamini_hochberg_threshold() -> None:
    """The largest p-value with p_(k) <= k/m * level (here k = 2 of m = 4)."""
    assert benjamini_hochberg([0.01, 0.02, 0.5, 0.9], 0.05) == 0.02
    assert benjamini_hochberg([0.2, 0.3], 0.05) == 0.0
    assert benjamini_hochberg([0.04, 0.04, 0.04], 0.05) == 0.04
