"""AutoML: a seeded optuna search over families, candidates logged as child runs."""

from __future__ import annotations

from pathlib import Path

import mlflow
from conftest import copy_store, multiclass_frame

from {{ cookiecutter.package_name }}.automl import search


def test_search_is_reproducible_and_logs_each_candidate(tmp_path: Path, empty_store: Path) -> None:
    frame = multiclass_frame(rows=300)
    X, y = frame.drop(columns=["grade"]), frame["grade"]
    options = dict(
        families=["logistic_regression", "random_forest"],
        metric="f1",
        n_trials=4,
        timeout_seconds=120,
        folds=2,
        seed=11,
    )
    mlflow.set_tracking_uri(copy_store(empty_store, tmp_path))
    experiment = mlflow.create_experiment("automl", artifact_location=tmp_path.as_uri())
    with mlflow.start_run(experiment_id=experiment) as parent:
        first = search(X, y, **options)
    second = search(X, y, **options)  # no active run: nothing logged, same answer
    assert first == second
    assert first.family in {"logistic_regression", "random_forest"}
    assert first.n_trials == 4
    assert 0.0 < first.cv_score <= 1.0
    children = mlflow.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 4
    assert children["metrics.cv_f1"].max() == first.cv_score
