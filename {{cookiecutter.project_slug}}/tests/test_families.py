"""A model family is one declaration: a family registered here (and nowhere else) is accepted
by the settings, searched by AutoML, trained, gated, registered and served like a built-in."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from serving_fixtures import served_predictions

from {{ cookiecutter.package_name }} import families
from {{ cookiecutter.package_name }}.automl import search
from {{ cookiecutter.package_name }}.config import ConfigError, load_settings
from {{ cookiecutter.package_name }}.pipeline import BasePipeline

TOY = "extra_trees"


def _extra_trees(params: dict, seed: int):
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(
        **{"n_estimators": 60, "min_samples_leaf": 3, "n_jobs": 1, **params}, random_state=seed
    )


def _extra_trees_space(trial) -> dict:
    return {"max_depth": trial.suggest_int("max_depth", 3, 12)}


@pytest.fixture
def toy_family(monkeypatch: pytest.MonkeyPatch) -> families.ModelFamily:
    """Registered for one test only: the table is restored afterwards."""
    family = families.ModelFamily(
        TOY, _extra_trees, _extra_trees_space, trusted_types=families.TREE_TYPES
    )
    monkeypatch.setitem(families.FAMILIES, TOY, family)
    return family


def test_an_unregistered_family_is_refused_with_the_declared_ones(project: Path) -> None:
    with pytest.raises(ConfigError, match=f"unknown model family '{TOY}'.*gradient_boosting"):
        load_settings(project / "config" / "pipeline.yaml", {"model.family": TOY})


def test_automl_searches_a_registered_family(toy_family, project: Path) -> None:
    settings = load_settings(project / "config" / "pipeline.yaml", {"automl.families": [TOY]})
    frame = pd.read_csv(settings.data_path)
    X, y = frame.drop(columns=[settings.data.target]), frame[settings.data.target]
    found = search(
        X,
        y,
        families=settings.automl_families,
        metric="roc_auc",
        n_trials=2,
        timeout_seconds=60,
        folds=2,
        seed=0,
    )
    assert found.family == TOY
    assert set(found.params) == {"max_depth"}
    assert 0.5 < found.cv_score <= 1.0


@pytest.mark.slow
def test_a_registered_family_trains_is_gated_and_served(
    toy_family, project: Path, tmp_path: Path
) -> None:
    settings = load_settings(project / "config" / "pipeline.yaml", {"model.family": TOY})
    first = BasePipeline(settings).run()
    assert first.trained.family == TOY
    assert first.deployment.promoted, first.deployment.reason
    assert first.evaluation.metrics["roc_auc"] > 0.6
    second = BasePipeline(settings).run()  # the same model cannot beat itself
    assert not second.deployment.promoted
    assert second.evaluation.decision.champion_score is not None  # the champion was scored

    sample = pd.read_csv(settings.data_path).drop(columns=[settings.data.target]).head(20)
    expected = mlflow.sklearn.load_model(str(first.trained.model_dir)).predict(sample).tolist()
    records = json.loads(sample.to_json(orient="records"))
    served = served_predictions(
        records, project=project, tracking_uri=settings.tracking_uri, log=tmp_path / "serve.log"
    )
    assert served == expected
