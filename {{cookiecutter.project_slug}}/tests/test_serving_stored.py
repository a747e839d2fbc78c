"""The fast path stored at training: it serves requests and batches exactly as the pipeline
would, without scikit-learn imported, and only for the model file it was verified against;
anything that does not match is ignored and the fast path compiled at load instead."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import multiclass_frame
from serving_fixtures import FARE, make_fares
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.drift_reference import save_reference
from {{ cookiecutter.package_name }}.serving import fastpath, stored
from {{ cookiecutter.package_name }}.serving.fastpath import PARITY_TOLERANCE, relative_difference
from {{ cookiecutter.package_name }}.serving.scoring import Model, store_fast_path
from {{ cookiecutter.package_name }}.steps.train import save_model
from {{ cookiecutter.package_name }}.train import builtin_trusted_types, train_builtin


def trained(family: str, task: str, seed: int = 0) -> tuple[Pipeline, pd.DataFrame]:
    if task == "classification":
        frame, target = multiclass_frame(rows=500, seed=seed), "grade"
    else:
        frame, target = make_fares(500, seed=seed), FARE
    X, y = frame.drop(columns=[target]), frame[target]
    return train_builtin(X, y, family=family, params={}, seed=0, task=task), X


def saved(model_dir: Path, model: Pipeline, X: pd.DataFrame) -> Path:
    """As the training step saves a model: skops, signature, example, drift reference."""
    save_model(model, model_dir, X, builtin_trusted_types())
    save_reference(X, model, model_dir, rows=300, seed=0)
    return model_dir


def scored_rows(X: pd.DataFrame) -> pd.DataFrame:
    """The inputs with unseen categories and missing values, and more than a request's rows."""
    rows = pd.concat([X, X], ignore_index=True)
    for name in rows.columns:
        if rows[name].dtype == object:
            rows.loc[::7, name] = "unseen in training"
        rows[name] = rows[name].astype(object) if rows[name].dtype == bool else rows[name]
        rows.loc[::11, name] = np.nan
    assert len(rows) >= fastpath.SMALL_BLOCK
    return rows


def columns_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame.columns}


def same(ours, theirs, regressor: bool) -> bool:
    if regressor:
        return relative_difference(np.asarray(ours), np.asarray(theirs)) <= PARITY_TOLERANCE
    return np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize(
    ("family", "task", "predictor"),
    [
        ("logistic_regression", "classification", "linear"),
        ("gradient_boosting", "classification", "trees"),
        ("random_forest", "classification", "trees"),
        ("linear_regression", "regression", "linear"),
        ("gradient_boosting", "regression", "trees"),
    ],
)
def test_the_stored_fast_path_scores_requests_and_batches_as_the_pipeline(
    tmp_path, family: str, task: str, predictor: str, caplog: pytest.LogCaptureFixture
) -> None:
    model, X = trained(family, task)
    model_dir = saved(tmp_path / "model", model, X)
    assert store_fast_path(model, model_dir)
    record = json.loads((model_dir / stored.RECORD_FILE).read_text())
    assert set(record["predictor"]) == {predictor}
    assert record["verified"]["rows"] > 300  # the example, its variations, the stored rows
    with caplog.at_level(logging.INFO):
        loaded = Model.load(model_dir)
    assert "stored fast path" in caplog.text
    regressor = task == "regression"
    assert loaded.regressor is regressor
    rows = scored_rows(X)
    expected = model.predict(rows)
    request = rows.head(fastpath.SMALL_BLOCK - 1)
    assert same(loaded.predict_columns(columns_of(request)), expected[: len(request)], regressor)
    assert same(loaded.predict_batch(columns_of(rows)), expected, regressor)
    if predictor == "trees":  # explanations come from the stored trees as from compiled ones
        compiled = fastpath.compile_fast_path(model)
        ours = loaded.fast_predict.explain(columns_of(request.head(5)), list(expected[:5]))
        theirs = compiled.explain(columns_of(request.head(5)), list(expected[:5]))
        assert ours == theirs


@pytest.mark.parametrize("family", ["logistic_regression", "gradient_boosting"])
def test_serving_from_the_stored_fast_path_never_imports_scikit_learn(tmp_path, family) -> None:
    """Requests need neither scikit-learn nor skops (~0.9 s of imports per process); a tree
    model's batch loads its estimator for scikit-learn's own predictor."""
    model, X = trained(family, "classification")
    model_dir = saved(tmp_path / "model", model, X)
    assert store_fast_path(model, model_dir)
    X.head(3).to_json(tmp_path / "rows.json", orient="split", index=False)
    script = """
import json, sys
from pathlib import Path
from {{ cookiecutter.package_name }}.serving.scoring import Model
model = Model.load(Path(sys.argv[1]))
body = json.dumps({"input_data": json.loads(Path(sys.argv[2]).read_text())})
status, answer = model.score(body)
print(json.dumps({"status": status, "answer": answer, "sklearn": "sklearn" in sys.modules,
                  "skops": "skops" in sys.modules}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome = json.loads(result.stdout)
    assert outcome["status"] == 200
    assert outcome["answer"]["predictions"] == model.predict(X.head(3)).tolist()
    assert not outcome["sklearn"] and not outcome["skops"], result.stderr


# Each change returns the pipeline now in the folder when it is not the one saved there.
def tampered_arrays(model_dir: Path) -> None:
    with np.load(model_dir / stored.ARRAYS_FILE) as arrays:
        changed = {key: arrays[key] for key in arrays.files}
    for key, values in changed.items():
        if values.dtype.kind == "f" and values.size:
            changed[key] = -values  # every coefficient, mean and threshold negated
    np.savez(model_dir / stored.ARRAYS_FILE, **changed)


def replaced_model_file(model_dir: Path) -> Pipeline:
    """Another model's file where the verified one was (e.g. a folder assembled by hand)."""
    other, X = trained("logistic_regression", "classification", seed=3)
    elsewhere = saved(model_dir.parent / "other", other, X)
    shutil.copyfile(elsewhere / "model.skops", model_dir / "model.skops")
    return other


def unknown_format(model_dir: Path) -> None:
    record = json.loads((model_dir / stored.RECORD_FILE).read_text())
    (model_dir / stored.RECORD_FILE).write_text(json.dumps({**record, "format": 99}))


def nan_category(model_dir: Path) -> None:
    """The record itself carries no digest (the model folder's covers it in transport)."""
    text = (model_dir / stored.RECORD_FILE).read_text()
    record = json.loads(text)
    group = next(g for g in record["preprocess"] if "one_hot" in g["steps"][-1])
    group["steps"][-1]["one_hot"]["categories"][0].append(float("nan"))
    (model_dir / stored.RECORD_FILE).write_text(json.dumps(record))


def truncated_record(model_dir: Path) -> None:
    text = (model_dir / stored.RECORD_FILE).read_text()
    (model_dir / stored.RECORD_FILE).write_text(text[: len(text) // 2])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (tampered_arrays, "fast_path.npz is not the file that was verified"),
        (replaced_model_file, "model.skops is not the file it was compiled from"),
        (unknown_format, "format 99"),
        (nan_category, "OneHotEncoder learnt NaN as a category"),
        (truncated_record, "cannot be read"),
    ],
    ids=lambda value: getattr(value, "__name__", "reason"),
)
def test_a_stored_fast_path_that_does_not_match_is_ignored_with_a_warning(
    tmp_path, change, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    model, X = trained("logistic_regression", "classification")
    model_dir = saved(tmp_path / "model", model, X)
    assert store_fast_path(model, model_dir)
    in_folder = change(model_dir) or model
    with caplog.at_level(logging.INFO):
        loaded = Model.load(model_dir)
    assert "Ignoring the stored fast path" in caplog.text and reason in caplog.text
    assert "fast path verified at load" in caplog.text
    # What answers is the model file in the folder, whatever the stored path said.
    rows = scored_rows(X)
    assert np.array_equal(loaded.predict_batch(columns_of(rows)), in_folder.predict(rows))


def test_an_estimator_with_its_own_predict_is_not_stored(tmp_path) -> None:
    """Only plain arrays are stored; anything else keeps compiling (and verifying) at load."""
    model, X = trained("logistic_regression", "classification")
    model.steps[-1] = ("model", GaussianNB())
    model.fit(X, multiclass_frame(rows=500)["grade"])
    model_dir = saved(tmp_path / "model", model, X)
    assert not store_fast_path(model, model_dir)
    assert not (model_dir / stored.RECORD_FILE).exists()
    assert not (model_dir / stored.ARRAYS_FILE).exists()
    assert Model.load(model_dir).fast_predict is not None  # compiled at load, as before
