"""Regression through the core: metrics against scikit-learn, the gate's direction, data checks
and the split, the families' regressors, and the regression plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import amount_frame
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from {{ cookiecutter.package_name }} import tasks
from {{ cookiecutter.package_name }}.data import DataError, split_table, validate_table
from {{ cookiecutter.package_name }}.evaluate import decide, paired_bootstrap_interval
from {{ cookiecutter.package_name }}.families import FAMILIES, choices
from {{ cookiecutter.package_name }}.metrics import Predictions, metric_on_rows, score_predictions
from {{ cookiecutter.package_name }}.plots import write_plots
from {{ cookiecutter.package_name }}.train import TrainingError, build_model, train_builtin

FARES = amount_frame()
X, Y = FARES.drop(columns=["amount"]), FARES["amount"]


def _numbers(values: np.ndarray) -> Predictions:
    return Predictions(np.asarray(values, dtype=float), np.empty((len(values), 0)), np.empty(0))


def test_regression_metrics_match_scikit_learn_on_all_rows_and_on_resamples() -> None:
    rng = np.random.default_rng(4)
    y = pd.Series(rng.gamma(2.0, 5.0, 300))
    predicted = y.to_numpy() * rng.lognormal(0, 0.2, 300)
    metrics = score_predictions(_numbers(predicted), y)
    assert set(metrics) == set(tasks.METRICS["regression"])
    assert metrics["rmse"] == pytest.approx(root_mean_squared_error(y, predicted))
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, predicted))
    assert metrics["r2"] == pytest.approx(r2_score(y, predicted))
    rows = rng.integers(0, 300, 300)
    for metric in tasks.METRICS["regression"]:
        on_rows = metric_on_rows(metric, y, _numbers(predicted))(rows)
        expected = score_predictions(_numbers(predicted[rows]), y.iloc[rows].reset_index(drop=True))
        assert on_rows == pytest.approx(expected[metric])


def test_r2_without_target_variance_is_undefined_not_a_number_the_gate_could_trust() -> None:
    constant = pd.Series([5.0] * 10)
    assert math.isnan(score_predictions(_numbers(np.arange(10)), constant)["r2"])
    assert math.isnan(metric_on_rows("r2", constant, _numbers(np.arange(10)))(np.arange(10)))


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "promote"),
    [
        ("rmse", 2.0, 2.5, True),  # a smaller error is better
        ("rmse", 2.5, 2.0, False),
        ("mae", 1.2, 1.2, False),
        ("mape", 0.10, 0.12, True),
        ("r2", 0.80, 0.75, True),  # a larger R² is better
        ("r2", 0.75, 0.80, False),
    ],
)
def test_the_gate_compares_in_the_metrics_direction(
    metric: str, challenger: float, champion: float, promote: bool
) -> None:
    decision = decide(metric, challenger, champion, "1", 0.001)
    assert decision.promote is promote
    better = "higher" if tasks.higher_is_better(metric) else "lower"
    assert f"{better} is better" in decision.reason


def test_min_improvement_applies_to_the_gain_of_an_error_metric() -> None:
    assert not decide("rmse", 1.95, 2.0, "1", 0.1).promote  # 0.05 better, 0.1 needed
    assert decide("rmse", 1.85, 2.0, "1", 0.1).promote


def test_the_paired_interval_of_an_error_is_the_gain_positive_when_the_challenger_errs_less() -> (
    None
):
    rng = np.random.default_rng(2)
    y = pd.Series(rng.gamma(2.0, 5.0, 400))
    close = _numbers(y.to_numpy() + rng.normal(0, 1, 400))
    far = _numbers(y.to_numpy() + rng.normal(0, 4, 400))
    options = {"confidence": 0.95, "resamples": 300, "seed": 1}
    low, high = paired_bootstrap_interval("rmse", y, close, far, **options)
    assert 0 < low < high
    low, high = paired_bootstrap_interval("rmse", y, far, close, **options)
    assert low < high < 0
    assert not decide("rmse", 4.0, 1.0, "1", 0.0, interval=(low, high), confidence=0.95).promote


def test_a_text_target_under_regression_is_refused_before_training(tmp_path: Path) -> None:
    frame = FARES.assign(amount=FARES["amount"].map(lambda v: f"${v}"))
    with pytest.raises(DataError, match=r"task is regression.*set task: classification"):
        validate_table(frame, "amount", tmp_path / "d.csv", "regression")


def test_a_two_valued_target_is_refused_and_few_whole_numbers_warned(tmp_path: Path) -> None:
    binary = FARES.assign(amount=(FARES["amount"] > 10).astype(int))
    with pytest.raises(DataError, match=r"only two values.*class label.*task: classification"):
        validate_table(binary, "amount", tmp_path / "d.csv", "regression")
    counts = FARES.assign(amount=np.arange(len(FARES)) % 5)
    (warning,) = validate_table(counts, "amount", tmp_path / "d.csv", "regression")
    assert "5 distinct whole numbers" in warning and "task: classification" in warning
    assert validate_table(FARES, "amount", tmp_path / "d.csv", "regression") == []


def test_the_regression_split_keeps_the_skewed_tail_in_both_halves() -> None:
    train, test = split_table(FARES, "amount", 0.2, seed=3, task="regression")
    assert len(test) == 120 and len(train) == 480
    top = FARES["amount"].quantile(0.9)
    assert (test["amount"] >= top).sum() == pytest.approx(12, abs=1)
    again, _ = split_table(FARES, "amount", 0.2, seed=3, task="regression")
    pd.testing.assert_frame_equal(train, again)


@pytest.mark.parametrize("family", choices("regression"))
def test_every_regression_family_learns_better_than_the_mean(family: str) -> None:
    if family == "xgboost":
        pytest.importorskip("xgboost")
    model = train_builtin(X, Y, family=family, params={}, seed=0, task="regression")
    baseline = train_builtin(X, Y, family="dummy", params={}, seed=0, task="regression")
    scored = score_predictions(Predictions.of(model, X, "regression"), Y)
    mean_only = score_predictions(Predictions.of(baseline, X, "regression"), Y)
    assert scored["rmse"] < 0.6 * mean_only["rmse"]
    assert scored["r2"] > 0.6
    assert not hasattr(model, "predict_proba")


def test_each_task_offers_its_own_families_and_refuses_the_others() -> None:
    assert "logistic_regression" not in choices("regression")
    assert "linear_regression" not in choices("classification")
    assert {"gradient_boosting", "random_forest", "xgboost"} <= set(choices("regression"))
    assert FAMILIES["dummy"].tasks() == ("classification", "regression")
    with pytest.raises(TrainingError, match="'logistic_regression' has no regression model"):
        build_model("logistic_regression", {}, 0, X, "regression")


def test_a_classifier_cannot_be_scored_as_a_regressor_and_the_reverse() -> None:
    regressor = train_builtin(X, Y, family="dummy", params={}, seed=0, task="regression")
    with pytest.raises(TypeError, match="not a classifier"):
        Predictions.of(regressor, X, "classification")
    labels = (Y.median() < Y).map({True: "high", False: "low"})
    classifier = train_builtin(X, labels, family="dummy", params={}, seed=0, task="classification")
    with pytest.raises(TypeError, match="task is regression"):
        Predictions.of(classifier, X, "regression")


def test_regression_plots_are_written(tmp_path: Path) -> None:
    model = train_builtin(X, Y, family="gradient_boosting", params={}, seed=0, task="regression")
    importances = write_plots(model, X, Y, Predictions.of(model, X, "regression"), 0, tmp_path)
    for name in (
        "predicted_vs_actual.png",
        "residuals_by_decile.png",
        "error_distribution.png",
        "feature_importance.png",
    ):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "roc_curve.png").exists()
    assert max(importances, key=importances.__getitem__) == "distance"
    assert importances["noise"] < importances["distance"] / 10
