"""Metrics against scikit-learn's definitions, plots, and the champion gate's comparator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import multiclass_frame
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import f1_score, roc_auc_score

from {{ cookiecutter.package_name }}.evaluate import decide, paired_bootstrap_interval
from {{ cookiecutter.package_name }}.metrics import Predictions, score_predictions
from {{ cookiecutter.package_name }}.plots import write_plots
from {{ cookiecutter.package_name }}.train import build_model

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def test_binary_metrics_use_the_second_class_as_positive() -> None:
    y = pd.Series(["no", "no", "yes", "yes", "yes"])
    predicted = np.array(["no", "yes", "yes", "yes", "no"])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    metrics = score_predictions(Predictions(predicted, proba, np.array(["no", "yes"])), y)
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y == "yes", proba[:, 1]))


def test_multiclass_metrics_are_macro_averaged_one_vs_rest() -> None:
    classes = np.array(["a", "b", "c"])
    y = pd.Series(["a", "b", "c", "a", "b", "c"])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.2, 0.5, 0.3],
            [0.1, 0.6, 0.3],
            [0.5, 0.4, 0.1],
            [0.3, 0.3, 0.4],
            [0.1, 0.1, 0.8],
        ]
    )
    predicted = classes[proba.argmax(axis=1)]
    metrics = score_predictions(Predictions(predicted, proba, classes), y)
    assert metrics["f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    expected_auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    assert metrics["roc_auc"] == pytest.approx(expected_auc)


def test_no_champion_promotes_and_says_so() -> None:
    decision = decide("roc_auc", 0.7, None, None, 0.01)
    assert decision.promote
    assert decision.reason == "no champion yet"


def test_worse_or_not_enough_better_keeps_the_champion() -> None:
    worse = decide("f1", 0.70, 0.80, "3", 0.0)
    assert not worse.promote
    assert "champion kept" in worse.reason
    assert "v3" in worse.reason
    marginal = decide("f1", 0.805, 0.80, "3", 0.01)
    assert not marginal.promote
    assert decide("f1", 0.811, 0.80, "3", 0.01).promote
    assert not decide("f1", 0.80, 0.80, "3", 0.0).promote  # a tie is not a win


def test_undefined_challenger_score_is_never_promoted() -> None:
    assert not decide("roc_auc", math.nan, None, None, 0.0).promote


def test_decision_tags_record_both_scores() -> None:
    tags = decide("accuracy", 0.9, 0.8, "2", 0.05).as_tags()
    assert tags["decision.promote"] == "True"
    assert tags["decision.challenger_score"] == "0.9"
    assert tags["decision.champion_score"] == "0.8"
    assert tags["decision.champion_version"] == "2"
    assert tags["decision.min_improvement"] == "0.05"


@given(challenger=scores, champion=scores, minimum=st.floats(0.0, 0.2))
def test_promotion_implies_a_strict_gain_of_at_least_the_minimum(
    challenger: float, champion: float, minimum: float
) -> None:
    decision = decide("roc_auc", challenger, champion, "1", minimum)
    gain = challenger - champion
    assert decision.promote == (gain > 0 and gain >= minimum)


def test_plots_are_written_for_multiclass_data(tmp_path: Path) -> None:
    frame = multiclass_frame(rows=300)
    X, y = frame.drop(columns=["grade"]), frame["grade"]
    model = build_model("logistic_regression", {}, 0, X, "classification").fit(X, y)
    predictions = Predictions.of(model, X, "classification")
    importances = write_plots(model, X, y, predictions, seed=0, plots_dir=tmp_path)
    for name in ("confusion_matrix.png", "roc_curve.png", "feature_importance.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(importances) == set(X.columns)
    assert max(importances, key=importances.__getitem__) in {"weight", "colour"}


def test_a_champion_that_cannot_be_scored_is_kept_whether_it_raises_or_scores_nan() -> None:
    raised = decide("roc_auc", 0.9, None, "4", 0.0, champion_problem="KeyError: 'tenure'")
    undefined = decide("roc_auc", 0.9, math.nan, "4", 0.0)
    for decision in (raised, undefined):
        assert not decision.promote
        assert "champion v4 cannot be scored on this holdout" in decision.reason
    assert "KeyError" in raised.reason and "NaN" in undefined.reason


def test_a_gain_inside_the_noise_is_not_promoted_and_the_test_is_recorded() -> None:
    noisy = decide("f1", 0.82, 0.80, "3", 0.001, interval=(-0.01, 0.05), confidence=0.95, n=400)
    assert not noisy.promote
    assert "not significant" in noisy.reason
    tags = noisy.as_tags()
    assert tags["decision.test"] == "paired_bootstrap"
    assert tags["decision.interval"] == "[-0.010000, 0.050000]"
    assert tags["decision.n"] == "400"
    assert decide("f1", 0.82, 0.80, "3", 0.001, interval=(0.004, 0.04), confidence=0.95).promote


def test_paired_bootstrap_interval_separates_a_real_gain_from_none() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(rng.integers(0, 2, 400))
    classes = np.array([0, 1])
    truth = y.to_numpy()

    def predictions(accuracy: float) -> Predictions:
        right = rng.uniform(size=len(y)) < accuracy
        predicted = np.where(right, truth, 1 - truth)
        return Predictions(predicted, np.column_stack([1 - predicted, predicted]), classes)

    good, poor = predictions(0.9), predictions(0.6)
    options = {"confidence": 0.95, "resamples": 300, "seed": 1}
    low, high = paired_bootstrap_interval("accuracy", y, good, poor, **options)
    assert 0 < low < 0.3 < high
    assert paired_bootstrap_interval("accuracy", y, good, good, **options) == (0.0, 0.0)


@pytest.mark.parametrize("classes", [["no", "yes"], ["a", "b", "c"]], ids=["binary", "multiclass"])
def test_bootstrap_metrics_match_scikit_learn(classes: list[str]) -> None:
    """The bootstrap's numpy metrics equal metric_value's scikit-learn ones on the same rows."""
    from {{ cookiecutter.package_name }}.metrics import _encoded, _metric_on_rows, metric_value
    from {{ cookiecutter.package_name }}.tasks import METRICS

    labels = np.array(classes)
    rng = np.random.default_rng(3)
    for trial in range(15):
        rows = int(rng.integers(20, 200))
        y = rng.choice(labels, rows)
        proba = rng.dirichlet(np.ones(len(labels)), rows)
        if len(labels) == 2 and trial % 3 == 0:
            proba = np.round(proba, 1)  # tied scores
        predicted = labels[proba.argmax(axis=1)]
        predicted[:5] = labels[0]
        encoded = _encoded(y, Predictions(predicted, proba, labels))
        for metric in METRICS["classification"]:
            expected = metric_value(metric, y, predicted, proba, labels)
            assert _metric_on_rows(metric, *encoded, np.arange(rows)) == pytest.approx(expected)
