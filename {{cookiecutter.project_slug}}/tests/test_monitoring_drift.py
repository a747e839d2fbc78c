"""Drift statistics, the report and the inference log, on generated data (fast, no server).

The false-alarm test is a statistical test of the detector itself: current windows drawn from
the reference's own distribution must raise alarms at no more than the configured level.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from {{ cookiecutter.package_name }}.config import DriftSettings
from {{ cookiecutter.package_name }}.drift_reference import PREDICTION_COLUMN
from {{ cookiecutter.package_name }}.monitoring.drift import DriftInputError, compare
from {{ cookiecutter.package_name }}.monitoring.inference_log import (
    CORRELATION_ID,
    MODEL_VERSION,
    TIMESTAMP,
    InferenceLog,
    InferenceLogError,
    parse_window,
    read_window,
)
from {{ cookiecutter.package_name }}.monitoring.report import render

NUMERIC = ["age", "income", "balance", "tenure"]
CATEGORICAL = ["plan", "region"]


def population(rows: int, rng: np.random.Generator, *, shift: bool = False) -> pd.DataFrame:
    """Four numeric and two categorical features; `shift` moves `income` and `plan` only."""
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.lognormal(10, 0.5, rows) * (1.6 if shift else 1.0),
            "balance": rng.normal(0, 1, rows),
            "tenure": rng.integers(0, 72, rows).astype(float),
            "plan": rng.choice(
                ["basic", "plus", "pro"], rows, p=[0.2, 0.3, 0.5] if shift else [0.5, 0.3, 0.2]
            ),
            "region": rng.choice(["north", "south", "east", "west"], rows),
        }
    )
    frame.loc[rng.uniform(size=rows) < 0.05, "balance"] = np.nan
    frame[PREDICTION_COLUMN] = np.where(frame["balance"].fillna(0) > 0.5, "1", "0")
    return frame


def test_drift_is_found_on_the_shifted_features_and_only_there() -> None:
    rng = np.random.default_rng(1)
    reference = population(5000, rng)
    current = population(3000, rng, shift=True)
    result = compare(reference, current, DriftSettings())
    assert sorted(result.drifted_features) == ["income", "plan"]
    assert result.share_drifted == pytest.approx(2 / 6)
    assert result.drifted  # 33% >= the default 30%
    assert result.prediction is not None and not result.prediction.drifted
    assert "DRIFT: 2/6 features drifted" in result.summary()


def test_a_regressors_numeric_predictions_drift_as_numbers() -> None:
    rng = np.random.default_rng(2)
    reference, same, shifted = (
        population(rows, rng, shift=shift)
        for rows, shift in ((4000, False), (2000, False), (2000, True))
    )
    for frame in (reference, same, shifted):
        frame[PREDICTION_COLUMN] = 5.0 + frame["income"] / 10_000  # a fare-like amount
    moved = compare(reference, shifted, DriftSettings()).prediction
    assert moved is not None and moved.kind == "numeric" and moved.drifted
    # The current side as text (how a log may hold it) is read as the same numbers.
    as_text = same.assign(**{PREDICTION_COLUMN: same[PREDICTION_COLUMN].astype(str)})
    stable = compare(reference, as_text, DriftSettings()).prediction
    assert stable is not None and stable.kind == "numeric" and not stable.drifted


def test_no_drift_on_a_fresh_sample_of_the_same_population() -> None:
    rng = np.random.default_rng(2)
    result = compare(population(5000, rng), population(3000, rng), DriftSettings())
    assert result.drifted_features == []
    assert not result.drifted
    assert result.summary().startswith("no drift: 0/6")


def test_false_alarm_rate_stays_under_the_configured_level() -> None:
    """300 windows drawn from the reference's own distribution (6 features: 1,800 checks).
    Per feature the tests alone (no distance threshold) must reject at no more than the
    configured level: a one-sided binomial test at 0.001 must not show a higher rate. A correct
    detector fails it with probability 0.0008; one alarming at 1.5x the level fails with
    probability 0.90. The verdict with the default settings must alarm less often still."""
    level = 0.05
    trials = 300
    rng = np.random.default_rng(3)
    reference = population(2000, rng)
    tests_only = DriftSettings(p_value=level, min_effect=0.0, drifted_share=1.0)
    default = DriftSettings(p_value=level)
    feature_alarms = verdict_alarms = 0
    started = time.perf_counter()
    for _ in range(trials):
        window = population(500, rng)
        feature_alarms += len(compare(reference, window, tests_only).drifted_features)
        verdict_alarms += compare(reference, window, default).drifted
    checks = trials * (len(NUMERIC) + len(CATEGORICAL))
    rate = feature_alarms / checks
    excess = stats.binomtest(feature_alarms, checks, level, alternative="greater")
    assert excess.pvalue > 0.001, f"per-feature false alarms {rate:.3f} exceed {level}"
    assert verdict_alarms / trials <= level
    assert time.perf_counter() - started < 60


def test_ks_p_value_is_scipys() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 3000)})
    current = pd.DataFrame({"x": rng.normal(0.05, 1, 2000)})
    feature = compare(reference, current, DriftSettings()).features[0]
    expected = stats.ks_2samp(reference["x"], current["x"], method="asymp")
    assert feature.statistic == pytest.approx(expected.statistic)
    assert feature.p_value == pytest.approx(expected.pvalue)
    distance = stats.wasserstein_distance(reference["x"], current["x"]) / reference["x"].std(ddof=0)
    assert feature.effect == pytest.approx(distance)


def test_a_large_shift_below_the_distance_threshold_is_not_drift() -> None:
    """A million rows make a tiny shift significant; the distance keeps it from alarming."""
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 20000)})
    current = pd.DataFrame({"x": rng.normal(0.05, 1, 200000)})
    feature = compare(reference, current, DriftSettings()).features[0]
    assert feature.p_value < 0.05 and feature.effect < 0.1 and not feature.drifted


@pytest.mark.parametrize(
    ("current", "message"),
    [
        (pd.DataFrame(columns=["x", "c"]), "has no rows"),
        (pd.DataFrame({"x": [1.0]}), "lacks the model's input columns ['c']"),
        (pd.DataFrame({"x": ["a lot"], "c": ["a"]}), "column 'x' is numeric in the reference"),
    ],
)
def test_unusable_current_data_is_a_clear_error(current: pd.DataFrame, message: str) -> None:
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    with pytest.raises(DriftInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compare(reference, current, DriftSettings())


def test_report_shows_the_verdict_and_every_feature() -> None:
    rng = np.random.default_rng(6)
    result = compare(population(2000, rng), population(2000, rng, shift=True), DriftSettings())
    page = render(result, model="churn v3", source="window.parquet")
    assert page.startswith("<!doctype html>") and "Drift detected" in page
    for name in [*NUMERIC, *CATEGORICAL, "prediction"]:
        assert f"<strong>{name}</strong>" in page
    assert page.count("<svg") == len(NUMERIC) + len(CATEGORICAL) + 1
    assert "<script" not in page


@pytest.mark.parametrize(("text", "expected"), [("30m", 30), ("6h", 360), ("7d", 10080)])
def test_windows_parse(text: str, expected: int) -> None:
    assert parse_window(text) == timedelta(minutes=expected)


@pytest.mark.parametrize("text", ["", "7", "0h", "1y", "-2d"])
def test_bad_windows_are_clear_errors(text: str) -> None:
    with pytest.raises(InferenceLogError, match="is not a window"):
        parse_window(text)


def columns(rows: int, start: float) -> dict[str, np.ndarray]:
    return {
        "x": np.arange(start, start + rows, dtype=float),
        "c": np.array(["a"] * rows, dtype=object),
    }


def test_inference_log_flushes_on_close_and_reads_back_as_a_table(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path / "log", "7", flush_seconds=3600)
    log.record("req-1", columns(2, 0), [0, 1])
    log.record("req-2", columns(3, 2), [1, 1, 0])
    assert not list((tmp_path / "log").rglob("*.parquet"))  # nothing written on the request path
    log.close()
    table = read_window(tmp_path / "log", timedelta(hours=1))
    assert table["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert table[CORRELATION_ID].tolist() == ["req-1"] * 2 + ["req-2"] * 3
    assert table[PREDICTION_COLUMN].tolist() == ["0", "1", "1", "1", "0"]
    assert set(table[MODEL_VERSION]) == {"7"}
    assert str(table[TIMESTAMP].dtype).startswith("datetime64")
    hour = datetime.now(UTC)
    assert list((tmp_path / "log").glob(f"date={hour:%Y-%m-%d}/hour=*/*.parquet"))


def test_inference_log_flushes_in_the_background(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path / "log", "1", flush_seconds=0.2)
    try:
        log.record("req", columns(1, 0), [1])
        deadline = time.monotonic() + 10
        while not list((tmp_path / "log").rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(read_window(tmp_path / "log", timedelta(minutes=5))) == 1
    finally:
        log.close()


def test_empty_or_missing_inference_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InferenceLogError, match="no inference log at"):
        read_window(tmp_path / "nothing", timedelta(hours=1))
    log = InferenceLog(tmp_path / "log", "1", flush_seconds=3600)
    log.record("old", columns(1, 0), [1])
    log.close()
    later = datetime.now(UTC) + timedelta(days=3)
    with pytest.raises(InferenceLogError, match="no requests logged in the last"):
        read_window(tmp_path / "log", timedelta(hours=1), now=later)


def test_chi_square_is_scipys() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"c": rng.choice(["a", "b", "c", None], 3000)})
    current = pd.DataFrame({"c": rng.choice(["a", "b", "c", "d"], 2000)})
    feature = compare(reference, current, DriftSettings()).features[0]
    table = pd.crosstab(
        np.r_[np.zeros(3000), np.ones(2000)],
        pd.concat([reference["c"], current["c"]]).fillna("(missing)").to_numpy(),
    )
    expected = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert feature.statistic == pytest.approx(expected.statistic)
    assert feature.p_value == pytest.approx(expected.pvalue)
    assert feature.missing_reference == pytest.approx(reference["c"].isna().mean())


AZURE_COLLECTOR_SCRIPT = """
from pathlib import Path
import numpy as np
from azureml.ai.monitoring.queue import get_queue
from {{ cookiecutter.package_name }}.monitoring.collect import recorder_from_environment

record = recorder_from_environment(Path("/models/churn/4"))
record("req-9", {"x": np.array([1.0, 2.0]), "c": np.array(["a", None], dtype=object)}, [0, 1])
print(get_queue().length())
"""


def test_on_azure_the_data_collector_receives_inputs_and_outputs(tmp_path: Path) -> None:
    """With collection configured (the legacy switch; no sidecar: the sender thread is off),
    one request queues one `model_inputs` and one `model_outputs` payload. A subprocess:
    the collector keeps global state."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, AZUREML_MDC_ENABLED="true", AZUREML_MDC_WORKER_DISABLED="true")
    env.pop("INFERENCE_LOG_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", AZURE_COLLECTOR_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2"


SHUTDOWN_SCRIPT = """
import sys
import numpy as np
from pathlib import Path
from {{ cookiecutter.package_name }}.monitoring.inference_log import InferenceLog

log = InferenceLog(Path(sys.argv[1]), "1", flush_seconds=3600)
log.record("only", {"x": np.array([1.0])}, [0])
"""  # exits at once: the only flush is the one at interpreter shutdown


def test_a_process_that_exits_before_any_flush_still_writes_its_rows(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", SHUTDOWN_SCRIPT, str(tmp_path / "log")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Could not write" not in done.stderr, done.stderr
    assert read_window(tmp_path / "log", timedelta(hours=1))[CORRELATION_ID].tolist() == ["only"]
