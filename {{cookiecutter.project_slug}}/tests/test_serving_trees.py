"""Tree ensembles evaluated as arrays give the estimator's own probabilities (a regressor's own
predictions), and a compiled path that disagrees with the model is never used."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import multiclass_frame
from serving_fixtures import FARE, make_fares, save_regressor, train_regressor
from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression

from {{ cookiecutter.package_name }}.serving import fastpath, scoring
from {{ cookiecutter.package_name }}.serving.fastpath import PARITY_TOLERANCE, relative_difference
from {{ cookiecutter.package_name }}.serving.trees import compile_trees
from {{ cookiecutter.package_name }}.train import train_builtin


def matrix(rows: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 8))
    X[rng.uniform(size=X.shape) < 0.07] = np.nan  # gradient boosting routes missing values
    signal = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * 0.5
    return X, (signal > 0).astype(int), np.digitize(signal, [-0.6, 0.6])


@pytest.mark.parametrize(
    "estimator",
    [
        HistGradientBoostingClassifier(max_iter=60, random_state=0),
        RandomForestClassifier(n_estimators=40, min_samples_leaf=2, random_state=0),
        ExtraTreesClassifier(n_estimators=30, random_state=0),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
@pytest.mark.parametrize("classes", [2, 3])
def test_compiled_trees_reproduce_the_probabilities(estimator, classes: int) -> None:
    X, binary, three = matrix()
    y = binary if classes == 2 else three
    if not isinstance(estimator, HistGradientBoostingClassifier):
        X = np.nan_to_num(X)  # the pipeline imputes before a forest sees the data
    estimator.fit(X, y)
    proba = compile_trees(estimator)
    assert proba is not None
    fresh, *_ = matrix(400, seed=1)
    if not isinstance(estimator, HistGradientBoostingClassifier):
        fresh = np.nan_to_num(fresh)
    assert np.abs(proba(fresh) - estimator.predict_proba(fresh)).max() <= 1e-12
    # One row at a time (the online shape) takes the path without row offsets.
    one_by_one = np.vstack([proba(fresh[row : row + 1]) for row in range(40)])
    assert np.abs(one_by_one - estimator.predict_proba(fresh[:40])).max() <= 1e-12
    assert (estimator.classes_[proba(fresh).argmax(axis=1)] == estimator.predict(fresh)).all()


def test_other_estimators_keep_their_own_predict() -> None:
    X, y, _ = matrix()
    assert compile_trees(LogisticRegression().fit(np.nan_to_num(X), y)) is None


@pytest.mark.parametrize("family", ["gradient_boosting", "random_forest"])
def test_the_fast_path_of_a_trained_family_uses_verified_trees(family: str) -> None:
    frame = multiclass_frame(rows=400)
    X, y = frame.drop(columns=["grade"]), frame["grade"]
    model = train_builtin(X, y, family=family, params={}, seed=0, task="classification")
    fast = fastpath.compile_fast_path(model)
    assert fast is not None and fast.trees is not None
    assert fastpath.tree_parity(model, fast, X) <= 1e-12
    columns = {name: X[name].to_numpy() for name in X.columns}
    assert (fast(columns) == model.predict(X)).all()


def saved(tmp_path, family: str = "gradient_boosting"):
    """A model saved as the training step saves it (signature, example, drift reference)."""
    from {{ cookiecutter.package_name }}.drift_reference import save_reference
    from {{ cookiecutter.package_name }}.steps.train import save_model
    from {{ cookiecutter.package_name }}.train import builtin_trusted_types

    frame = multiclass_frame(rows=400)
    X, y = frame.drop(columns=["grade"]), frame["grade"]
    model = train_builtin(X, y, family=family, params={}, seed=0, task="classification")
    save_model(model, tmp_path / "model", X, builtin_trusted_types())
    save_reference(X, model, tmp_path / "model", rows=300, seed=0)
    return model, X


def test_a_loaded_tree_model_serves_through_verified_compiled_trees(tmp_path) -> None:
    model, X = saved(tmp_path)
    loaded = scoring.Model.load(tmp_path / "model")
    assert loaded.fast_predict is not None and loaded.fast_predict.trees is not None
    columns = {name: X[name].to_numpy() for name in X.columns}
    assert loaded.predict_columns(columns) == model.predict(X).tolist()


def test_compiled_trees_that_disagree_are_dropped_for_the_models_own_predict(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong compilation (here: every probability flipped) must never answer a request:
    the parity check on the stored training rows drops it, preprocessing stays fast."""
    model, X = saved(tmp_path)
    real = compile_trees(model.steps[-1][1])
    monkeypatch.setattr(fastpath, "compile_trees", lambda estimator: lambda m: real(m)[:, ::-1])
    loaded = scoring.Model.load(tmp_path / "model")
    assert loaded.fast_predict is not None and loaded.fast_predict.trees is None
    columns = {name: X[name].to_numpy() for name in X.columns}
    assert loaded.predict_columns(columns) == model.predict(X).tolist()


@pytest.mark.parametrize(
    "estimator",
    [
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
        RandomForestClassifier(n_estimators=20, min_samples_leaf=2, random_state=0),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
@pytest.mark.parametrize("classes", [2, 3])
def test_contributions_add_up_to_the_models_output(estimator, classes: int) -> None:
    """Bias plus contributions is the raw score (boosting) or the probability (forests), per
    row and class; a column the trees never split on contributes nothing."""
    X, binary, three = matrix(800)
    X = np.column_stack([X, np.ones(len(X))])
    if not isinstance(estimator, HistGradientBoostingClassifier):
        X = np.nan_to_num(X)
    estimator.fit(X, binary if classes == 2 else three)
    fresh = X[:200]
    bias, parts = compile_trees(estimator).contributions(fresh)
    if isinstance(estimator, HistGradientBoostingClassifier):
        output = estimator.decision_function(fresh).reshape(len(fresh), -1)
    else:
        output = estimator.predict_proba(fresh)
    assert parts.shape == (len(fresh), X.shape[1], output.shape[1])
    assert np.abs(bias + parts.sum(axis=1) - output).max() <= 1e-9
    assert not parts[:, -1, :].any()
    assert np.abs(parts[:, :2, :]).sum() > np.abs(parts[:, 2:, :]).sum()  # the signal columns


def test_a_served_tree_model_explains_each_row_by_input_column(tmp_path) -> None:
    model, X = saved(tmp_path)
    loaded = scoring.Model.load(tmp_path / "model")
    rows = X.head(6)
    status, answer = loaded.score(rows.to_json(orient="records"), explain=True)
    assert status == 200, answer
    raw = model.decision_function(rows)
    classes = list(model.classes_)
    assert [row["class"] for row in answer["explanations"]] == answer["predictions"]
    for index, explanation in enumerate(answer["explanations"]):
        # One-hot columns are summed back into the column they encode.
        assert list(explanation["contributions"]) == list(X.columns)
        total = explanation["bias"] + sum(explanation["contributions"].values())
        assert total == pytest.approx(raw[index, classes.index(explanation["class"])], abs=1e-9)
    assert loaded.score(rows.to_json(orient="records")) == (
        200,
        {"predictions": answer["predictions"]},
    )


def test_explain_is_refused_with_the_reason_where_no_compiled_trees_serve(tmp_path) -> None:
    _, X = saved(tmp_path, family="logistic_regression")
    loaded = scoring.Model.load(tmp_path / "model")
    status, answer = loaded.score(X.head(2).to_json(orient="records"), explain=True)
    assert status == 400
    assert answer == {"message": scoring.EXPLAIN_UNAVAILABLE}


# Identity-link boosting (baseline + leaf values), log-link boosting (exp of that), and forests
# (the mean of the trees' leaf values).
REGRESSORS = {
    "gradient_boosting": HistGradientBoostingRegressor(max_iter=60, random_state=0),
    "gradient_boosting_poisson": HistGradientBoostingRegressor(
        loss="poisson", max_iter=60, random_state=0
    ),
    "random_forest": RandomForestRegressor(n_estimators=30, min_samples_leaf=2, random_state=0),
    "extra_trees": ExtraTreesRegressor(n_estimators=30, random_state=0),
}


def columns_of(frame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame.columns}


@pytest.mark.parametrize("name", REGRESSORS)
def test_compiled_trees_reproduce_a_regressors_predictions(name: str) -> None:
    model = train_regressor(make_fares(400), clone(REGRESSORS[name]))
    fast = fastpath.compile_fast_path(model)
    assert fast is not None and fast.regressor and fast.trees is not None
    X = make_fares(300, seed=1).drop(columns=[FARE])  # missing values, as served
    assert fastpath.tree_parity(model, fast, X) <= 1e-12
    # One row at a time (the online shape) takes the path without row offsets.
    columns = columns_of(X)
    one_by_one = np.concatenate(
        [fast({n: c[row : row + 1] for n, c in columns.items()}) for row in range(20)]
    )
    assert relative_difference(one_by_one, model.predict(X.head(20))) <= 1e-12


def test_regression_parity_is_relative_to_the_scale_of_the_predictions() -> None:
    """Float noise of the same relative size is a match for fares and for prices in millions
    (1e-5 absolute there); a millionth off is not, and NaN never is."""
    fares = np.array([3.65, 12.25, 72.62])
    for scale in (1.0, 1e6):
        theirs = fares * scale
        assert relative_difference(theirs * (1 + 1e-12), theirs) <= PARITY_TOLERANCE
        assert relative_difference(theirs * (1 + 1e-6), theirs) > PARITY_TOLERANCE
    assert relative_difference(np.array([np.nan]), np.array([1.0])) == math.inf
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize("name", REGRESSORS)
def test_a_regressors_contributions_add_up_to_its_prediction(name: str) -> None:
    """Bias plus contributions is the prediction itself (its log for poisson boosting); a
    column the trees never split on contributes nothing."""
    X, _, _ = matrix(800)
    X = np.column_stack([X, np.ones(len(X))])
    estimator = clone(REGRESSORS[name])
    if not isinstance(estimator, HistGradientBoostingRegressor):
        X = np.nan_to_num(X)
    fare = np.exp(1 + np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]))  # skewed, positive
    estimator.fit(X, fare)
    fresh = X[:200]
    bias, parts = compile_trees(estimator).contributions(fresh)
    output = estimator.predict(fresh)
    if name == "gradient_boosting_poisson":
        output = np.log(output)
    assert parts.shape == (len(fresh), X.shape[1], 1)
    assert np.abs(bias[0] + parts[:, :, 0].sum(axis=1) - output).max() <= 1e-9
    assert not parts[:, -1, :].any()


def test_a_served_regressor_explains_each_row_in_the_units_of_its_prediction(tmp_path) -> None:
    model, X = save_regressor(tmp_path / "model")
    loaded = scoring.Model.load(tmp_path / "model")
    assert loaded.regressor and loaded.fast_predict is not None and loaded.fast_predict.explains
    rows = X.head(6)
    status, answer = loaded.score(rows.to_json(orient="records"), explain=True)
    assert status == 200, answer
    predictions = answer["predictions"]
    assert all(type(prediction) is float for prediction in predictions)
    assert relative_difference(predictions, model.predict(rows)) <= PARITY_TOLERANCE
    for prediction, explanation in zip(predictions, answer["explanations"], strict=True):
        assert list(explanation) == ["output", "bias", "contributions"]  # no class
        assert explanation["output"] == "prediction"
        assert list(explanation["contributions"]) == list(X.columns)
        total = explanation["bias"] + sum(explanation["contributions"].values())
        assert total == pytest.approx(prediction, abs=1e-9)


def test_compiled_regressor_trees_a_millionth_off_are_dropped_for_the_models_own_predict(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, X = save_regressor(tmp_path / "model", family="random_forest")
    real = compile_trees(model.steps[-1][1])
    monkeypatch.setattr(fastpath, "compile_trees", lambda estimator: lambda m: real(m) * 1.000001)
    loaded = scoring.Model.load(tmp_path / "model")
    assert loaded.fast_predict is not None and loaded.fast_predict.trees is None
    assert loaded.predict_columns(columns_of(X)) == model.predict(X).tolist()


@pytest.mark.parametrize("family", ["logistic_regression", "gradient_boosting"])
def test_a_batch_is_encoded_and_predicted_as_requests_are(family: str) -> None:
    """Batches (SMALL_BLOCK rows or more) are one-hot encoded by pandas' hash index and
    predicted by the estimator's own predict; requests value by value. Both give the
    pipeline's matrix and predictions, unseen categories and missing values included."""
    frame = multiclass_frame(rows=800)
    X, y = frame.drop(columns=["grade"]), frame["grade"]
    model = train_builtin(X, y, family=family, params={}, seed=0, task="classification")
    fast = fastpath.compile_fast_path(model)
    assert fast is not None
    scored = X.copy()
    scored.loc[::7, "colour"] = "purple"  # unseen in training
    scored.loc[::11, "size"] = np.nan
    scored["member"] = scored["member"].astype(object)
    scored.loc[::13, "member"] = np.nan
    assert len(scored) >= fastpath.SMALL_BLOCK
    columns = {name: scored[name].to_numpy() for name in scored.columns}
    expected = model[:-1].transform(scored)
    assert np.array_equal(fast.transform(columns), expected)
    head = {name: values[: fastpath.SMALL_BLOCK - 1] for name, values in columns.items()}
    assert np.array_equal(fast.transform(head), expected[: fastpath.SMALL_BLOCK - 1])
    assert (fast.predict_many(columns) == model.predict(scored)).all()
    assert fastpath.verified(model, fast, scored)
    # A batch encoding that disagrees with the pipeline is refused, not used.
    shifted = fastpath.FastPath(lambda c: fast.transform(c)[:, ::-1], fast.estimator)
    assert not fastpath.verified(model, shifted, scored)
