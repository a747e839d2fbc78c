"""Model families on mixed, incomplete data, and the custom training function hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import multiclass_frame
from sklearn.dummy import DummyClassifier

from {{ cookiecutter.package_name }}.train import (
    TrainingError,
    build_model,
    load_training_function,
    train_builtin,
    train_custom,
)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    frame = multiclass_frame(rows=400)
    return frame.drop(columns=["grade"]), frame["grade"]


@pytest.mark.parametrize("family", ["gradient_boosting", "random_forest", "logistic_regression"])
def test_each_family_learns_from_raw_columns_with_missing_values(family, data) -> None:
    X, y = data
    model = train_builtin(X, y, family=family, params={}, seed=0, task="classification")
    assert model.score(X, y) > 0.6  # three balanced-ish classes: chance is about 0.33
    unseen = X.head(3).assign(colour=["purple", None, "red"], weight=[None, 1.0, None])
    assert model.predict_proba(unseen).shape == (3, 3)


def test_dummy_baseline_predicts_the_majority_class(data) -> None:
    X, y = data
    model = train_builtin(X, y, family="dummy", params={}, seed=0, task="classification")
    assert set(model.predict(X)) == {y.mode()[0]}


def test_columns_are_split_by_type_by_name(data) -> None:
    X, _ = data
    transformer = build_model("random_forest", {}, 0, X, "classification").named_steps["preprocess"]
    columns = {name: cols for name, _, cols in transformer.transformers}
    assert columns == {
        "numeric": ["weight", "height"],
        "boolean": ["member"],
        "categorical": ["colour", "size"],
    }


def test_boolean_columns_are_one_hot_encoded() -> None:
    rng = np.random.default_rng(1)
    flag = rng.choice([True, False], 200)
    X = pd.DataFrame({"amount": rng.normal(size=200), "flag": flag})
    y = pd.Series(np.where(flag, "yes", "no"))
    model = train_builtin(
        X, y, family="logistic_regression", params={}, seed=0, task="classification"
    )
    assert model.score(X, y) == 1.0
    unseen = pd.DataFrame({"amount": [0.0, 0.1], "flag": [True, None]})
    assert model.predict_proba(unseen).shape == (2, 2)


def test_unknown_family_and_bad_params_are_named(data) -> None:
    X, y = data
    with pytest.raises(TrainingError, match="Unknown model family 'svm'"):
        build_model("svm", {}, 0, X, "classification")
    with pytest.raises(TrainingError, match=r"Invalid model\.params for random_forest"):
        train_builtin(
            X, y, family="random_forest", params={"n_trees": 3}, seed=0, task="classification"
        )


def test_custom_training_function_from_a_file(tmp_path: Path, data) -> None:
    (tmp_path / "my_training.py").write_text(
        "from sklearn.dummy import DummyClassifier\n\n"
        "def train(X, y, *, seed, params):\n"
        "    return DummyClassifier(**params).fit(X, y)\n"
    )
    function = load_training_function("my_training.py:train", project_dir=tmp_path)
    X, y = data
    model = train_custom(
        function,
        X,
        y,
        params={"strategy": "most_frequent"},
        seed=0,
        spec="my_training.py:train",
        task="classification",
    )
    assert set(model.predict(X)) == {y.mode()[0]}


def test_custom_training_function_from_a_module(data) -> None:
    function = load_training_function("sklearn.dummy:DummyClassifier", project_dir=Path())
    assert function.__name__ == "DummyClassifier"


def test_custom_training_function_errors_name_the_spec(tmp_path: Path, data) -> None:
    with pytest.raises(TrainingError, match="does not exist"):
        load_training_function("missing.py:train", project_dir=tmp_path)
    with pytest.raises(TrainingError, match="Cannot import 'no_such_module'"):
        load_training_function("no_such_module:train", project_dir=tmp_path)
    with pytest.raises(TrainingError, match="'nope' is not a function"):
        load_training_function("sklearn.dummy:nope", project_dir=tmp_path)
    X, y = data
    with pytest.raises(TrainingError, match=r"returned str, which has no predict\(\)"):
        train_custom(
            lambda X, y, **_: "oops", X, y, params={}, seed=0, spec="x:y", task="classification"
        )
    with pytest.raises(TrainingError, match="unfitted DummyClassifier"):
        train_custom(
            lambda X, y, **_: DummyClassifier(),
            X,
            y,
            params={},
            seed=0,
            spec="x:y",
            task="classification",
        )
