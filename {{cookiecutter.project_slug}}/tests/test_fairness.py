"""Group metrics against hand computations, the early refusal of absent columns, the fairness
condition of the gate, and the model card's sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from {{ cookiecutter.package_name }}.config import FairnessSettings, Settings
from {{ cookiecutter.package_name }}.data import DataError
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.evaluate import decide
from {{ cookiecutter.package_name }}.fairness import (
    MISSING_GROUP,
    disparity_check,
    fairness_metrics,
    fairness_report,
    groups,
)
from {{ cookiecutter.package_name }}.metrics import Predictions, score_predictions
from {{ cookiecutter.package_name }}.steps.evaluate import Evaluation
from {{ cookiecutter.package_name }}.steps.model_card import CardInputs, render
from {{ cookiecutter.package_name }}.steps.prepare import PreparedData, prepare_data
from {{ cookiecutter.package_name }}.steps.train import TrainedModel

CLASSES = np.array(["no", "yes"])


def predictions(predicted: list[str], positive_scores: list[float] | None = None) -> Predictions:
    """Predictions whose probabilities agree with the labels unless scores are given."""
    labels = np.array(predicted)
    scores = np.where(labels == "yes", 0.9, 0.1) if positive_scores is None else positive_scores
    scores = np.asarray(scores, dtype=float)
    return Predictions(labels, np.column_stack([1 - scores, scores]), CLASSES)


def by_group(part: dict) -> dict[str, dict]:
    return {group["group"]: group for group in part["groups"]}


def test_group_metrics_match_a_hand_computation() -> None:
    X = pd.DataFrame({"region": ["A", "A", "A", "A", "B", "B", "B", None, None]})
    y = pd.Series(["yes", "no", "yes", "no", "yes", "no", "no", "yes", "no"])
    model = predictions(["yes", "no", "no", "no", "yes", "yes", "yes", "yes", "no"])

    report = fairness_report(X, y, model, "accuracy", ["region"])

    assert report["positive_class"] == "yes"
    part = report["columns"]["region"]
    groups_ = by_group(part)
    assert list(groups_) == ["A", "B", MISSING_GROUP]
    # A: 3 of 4 right, 1 of 4 predicted yes; B: 1 of 3 right, 3 of 3 yes; missing: 2 of 2, 1 of 2.
    assert groups_["A"] == {"group": "A", "rows": 4, "accuracy": 0.75, "selection_rate": 0.25}
    assert groups_["B"]["rows"] == 3
    assert groups_["B"]["accuracy"] == pytest.approx(1 / 3)
    assert groups_["B"]["selection_rate"] == 1.0
    assert groups_[MISSING_GROUP] == {
        "group": MISSING_GROUP,
        "rows": 2,
        "accuracy": 1.0,
        "selection_rate": 0.5,
    }
    assert part["difference"]["accuracy"] == pytest.approx(1 - 1 / 3)
    assert part["ratio"]["accuracy"] == pytest.approx(1 / 3)
    assert part["difference"]["selection_rate"] == pytest.approx(0.75)
    assert part["ratio"]["selection_rate"] == pytest.approx(0.25)
    assert fairness_metrics(report) == {
        "fairness.region.accuracy.difference": pytest.approx(2 / 3),
        "fairness.region.accuracy.ratio": pytest.approx(1 / 3),
        "fairness.region.selection_rate.difference": pytest.approx(0.75),
        "fairness.region.selection_rate.ratio": pytest.approx(0.25),
    }


def test_group_roc_auc_is_the_metric_on_the_groups_rows_and_undefined_groups_are_left_out() -> None:
    X = pd.DataFrame({"plan": ["a"] * 4 + ["b"] * 4 + ["c"] * 2})
    y = pd.Series(["yes", "no", "yes", "no", "yes", "no", "no", "yes", "yes", "yes"])
    scores = [0.8, 0.3, 0.4, 0.6, 0.9, 0.2, 0.1, 0.7, 0.6, 0.4]
    model = predictions(["yes" if s > 0.5 else "no" for s in scores], scores)

    part = fairness_report(X, y, model, "roc_auc", ["plan"])["columns"]["plan"]

    groups_ = by_group(part)
    expected = {
        name: roc_auc_score(y[X["plan"] == name] == "yes", np.array(scores)[X["plan"] == name])
        for name in ("a", "b")
    }
    assert groups_["a"]["roc_auc"] == pytest.approx(expected["a"])  # 0.5
    assert groups_["b"]["roc_auc"] == pytest.approx(expected["b"])  # 1.0
    assert groups_["c"]["roc_auc"] is None  # one class only: undefined, not 0 or 1
    assert part["difference"]["roc_auc"] == pytest.approx(expected["b"] - expected["a"])


def test_many_valued_numbers_are_quantile_bands_and_missing_is_a_group() -> None:
    ages = pd.Series([*range(1, 41), None], dtype=float)
    labels, order, rule = groups(ages)
    assert order == ["[1, 10.75]", "(10.75, 20.5]", "(20.5, 30.25]", "(30.25, 40]", MISSING_GROUP]
    assert rule == "4 quantile bands of the holdout values"
    assert labels.value_counts().to_dict() == {
        "[1, 10.75]": 10,
        "(10.75, 20.5]": 10,
        "(20.5, 30.25]": 10,
        "(30.25, 40]": 10,
        MISSING_GROUP: 1,
    }
    labels, order, rule = groups(pd.Series([2, 0, 1, 1, 2]))
    assert order == ["0", "1", "2"] and rule == "one group per value"
    assert labels.tolist() == ["2", "0", "1", "1", "2"]


def sample_frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "plan": rng.choice(["basic", "plus"], rows),
            "churned": np.tile([0, 1], rows // 2),
        }
    )


def settings_with(tmp_path: Path, fairness: dict) -> Settings:
    return Settings.model_validate(
        {
            "project_dir": str(tmp_path),
            "task": "classification",
            "data": {"target": "churned"},
            "evaluation": {"primary_metric": "roc_auc", "fairness": fairness},
        }
    )


def test_an_absent_sensitive_column_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    sample_frame().to_csv(data, index=False)
    settings = settings_with(tmp_path, {"sensitive_features": ["age", "gender"]})
    with pytest.raises(DataError) as refused:
        prepare_data(data, tmp_path / "prepared", settings)
    assert str(refused.value) == (
        "Sensitive feature column(s) 'gender' (evaluation.fairness.sensitive_features) are not "
        f"in {data}; its columns are: age, plan, churned. Fix the names in config/pipeline.yaml "
        "or point data.path at data that has them"
    )
    assert not (tmp_path / "prepared").exists()  # no split, so nothing can be trained
    assert isinstance(refused.value, PipelineError)  # the CLI prints it as one line, exit 1
    with pytest.raises(DataError, match="'churned' is the target column"):
        prepare_data(
            data,
            tmp_path / "prepared",
            settings_with(tmp_path, {"sensitive_features": ["churned"]}),
        )


def test_a_gate_without_columns_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="gate is true but sensitive_features is empty"):
        FairnessSettings(sensitive_features=[], gate=True)
    with pytest.raises(ValidationError, match="age listed more than once"):
        FairnessSettings(sensitive_features=["age", "age"])


def biased_challenger() -> tuple[pd.DataFrame, pd.Series, Predictions, Predictions]:
    """40 rows, groups A and B. The champion is right on 15 of 20 in each group; the
    challenger is right on all of A but only 12 of 20 of B: better overall (0.80 vs 0.75),
    much worse for B."""
    X = pd.DataFrame({"group": ["A"] * 20 + ["B"] * 20})
    y = pd.Series(["yes", "no"] * 20)
    wrong = {"yes": "no", "no": "yes"}
    champion = [wrong[v] if i % 20 < 5 else v for i, v in enumerate(y)]
    challenger = [wrong[v] if i >= 20 and i % 20 < 8 else v for i, v in enumerate(y)]
    return X, y, predictions(challenger), predictions(champion)


@pytest.mark.parametrize("gate", [True, False])
def test_a_biased_challenger_is_refused_only_when_the_gate_is_on(gate: bool) -> None:
    X, y, challenger, champion = biased_challenger()
    scores = [score_predictions(p, y)["accuracy"] for p in (challenger, champion)]
    assert scores == [0.8, 0.75]
    reports = [fairness_report(X, y, p, "accuracy", ["group"]) for p in (challenger, champion)]
    settings = FairnessSettings(sensitive_features=["group"], gate=gate, tolerance=0.02)
    disparity = disparity_check(*reports, settings.tolerance) if settings.gate else None

    decision = decide("accuracy", *scores, "3", 0.01, disparity=disparity)

    if gate:
        assert not decision.promote
        assert decision.fairness == "refused"
        assert decision.reason == (
            "challenger accuracy=0.8000 vs champion v3 accuracy=0.7500 (higher is better; gain "
            "+0.0500, minimum 0.0100), but its accuracy differs more between groups than the "
            "champion's beyond "
            "evaluation.fairness.tolerance: 'group': accuracy difference between groups 0.4000 "
            "vs champion's 0.0000 (worse by 0.4000, tolerance 0.0200): champion kept"
        )
    else:
        assert decision.promote
        assert decision.fairness == "off"


def test_a_disparity_within_tolerance_passes_and_no_champion_is_not_compared() -> None:
    X, y, challenger, champion = biased_challenger()
    reports = [fairness_report(X, y, p, "accuracy", ["group"]) for p in (challenger, champion)]
    passed = decide("accuracy", 0.8, 0.75, "3", 0.01, disparity=disparity_check(*reports, 0.4))
    assert passed.promote and passed.fairness == "passed"
    first = decide(
        "accuracy", 0.8, None, None, 0.01, disparity=disparity_check(reports[0], None, 0.02)
    )
    assert first.promote and first.fairness == "not compared"
    assert first.as_tags()["decision.fairness"] == "not compared"


def card_inputs(fairness: dict | None, champion_fairness: dict | None = None) -> CardInputs:
    decision = decide("accuracy", 0.8, 0.75, "3", 0.01)
    evaluation = Evaluation(
        {"accuracy": 0.8, "roc_auc": 0.81},
        {"accuracy": 0.75, "roc_auc": 0.77},
        decision,
        {},
        Path("plots"),
        model_name="churn",
        champion_digest="c" * 64,
        metric_interval={
            "metric": "accuracy",
            "value": 0.8,
            "low": 0.675,
            "high": 0.925,
            "confidence": 0.95,
            "resamples": 1000,
            "n": 40,
        },
        fairness=fairness,
        champion_fairness=champion_fairness,
    )
    prepared = PreparedData(
        Path("train.parquet"),
        Path("test.parquet"),
        "churned",
        "data/x.csv",
        "d" * 64,
        ["0", "1"],
        160,
        40,
    )
    trained = TrainedModel(Path("model"), "logistic_regression", {"C": 1.0})
    return CardInputs(
        "churn",
        "run-2",
        "run-1",
        "a" * 64,
        ["group", "tenure"],
        prepared,
        trained,
        evaluation,
        "abc123",
        "f00d",
    )


def test_the_model_card_states_data_metrics_fairness_limitations_and_lineage() -> None:
    X, y, challenger, champion = biased_challenger()
    reports = [fairness_report(X, y, p, "accuracy", ["group"]) for p in (challenger, champion)]
    card = render(card_inputs(*reports))
    sections = [line for line in card.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Data",
        "## Metrics (holdout)",
        "## Fairness (holdout)",
        "## Limitations",
        "## Lineage",
    ]
    assert "- Rows: 200 (160 training, 40 holdout)" in card
    assert "| accuracy (higher is better) | 0.8000 | 0.7500 |" in card
    assert "95% bootstrap interval [0.6750, 0.9250] (1000 resamples of the 40 holdout rows)" in card
    assert "| A | 20 | 1.0000 | 0.5000 |" in card
    assert "| B | 20 | 0.6000 | 0.5000 |" in card
    assert "- Difference: accuracy 0.4000, selection rate 0.0000" in card
    assert "- Champion's accuracy difference on the same rows: 0.0000" in card
    assert "Model family `logistic_regression`: Linear in the encoded columns" in card
    assert f"- Compared against champion: v3 (sha256 `{'c' * 64}`)" in card
    assert "- Registered from run `run-2`; trained in run `run-1`" in card


def test_the_model_card_says_when_no_sensitive_features_are_configured() -> None:
    card = render(card_inputs(None))
    assert "No sensitive features are configured" in card
    assert "Fairness was not assessed" in card
