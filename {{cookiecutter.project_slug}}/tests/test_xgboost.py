"""The xgboost family: any label type, CPU here (no GPU visible), and the same gate, serving
and batch paths as every other family."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from conftest import multiclass_frame
from mlflow import MlflowClient
from serving_fixtures import served_predictions

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.pipeline import BasePipeline
from {{ cookiecutter.package_name }}.serving.batch import score_file
from {{ cookiecutter.package_name }}.train import train_builtin
from {{ cookiecutter.package_name }}.xgboost_model import gpu_visible


def test_xgboost_learns_text_labels_and_records_its_device() -> None:
    frame = multiclass_frame(rows=300)
    X, y = frame.drop(columns=["grade"]), frame["grade"]
    model = train_builtin(
        X, y, family="xgboost", params={"n_estimators": 30}, seed=0, task="classification"
    )
    assert model.score(X, y) > 0.6
    assert list(model.classes_) == sorted(y.unique())
    assert set(model.predict(X.head(20))) <= set(y.unique())
    estimator = model.named_steps["model"]
    assert estimator.device_ == ("cuda" if gpu_visible() else "cpu")
    assert estimator.model_.get_params()["device"] == "cpu"  # serving never needs a GPU


@pytest.mark.slow
def test_xgboost_goes_through_gate_serving_and_batch(project: Path, tmp_path: Path) -> None:
    config = project / "config" / "pipeline.yaml"
    settings = load_settings(config, {"model.family": "xgboost"})
    first = BasePipeline(settings).run()
    assert first.deployment.promoted
    run = MlflowClient().get_run(first.run_id)
    assert run.data.tags["model.device"] in {"cpu", "cuda"}
    second = BasePipeline(settings).run()  # the same model cannot beat itself
    assert not second.deployment.promoted
    assert second.deployment.previous_champion == "1"
    assert second.evaluation.decision.champion_score is not None  # the champion was scored

    sample = pd.read_csv(project / "data" / "sample.csv").drop(columns=["churned"]).head(25)
    model = mlflow.sklearn.load_model(str(first.trained.model_dir))
    expected = model.predict(sample).tolist()

    input_path, output_path = tmp_path / "in.csv", tmp_path / "out.csv"
    sample.to_csv(input_path, index=False)
    score_file(first.trained.model_dir, input_path, output_path)
    assert pd.read_csv(output_path).iloc[:, -1].tolist() == expected

    records = json.loads(sample.to_json(orient="records"))
    served = served_predictions(
        records, project=project, tracking_uri=settings.tracking_uri, log=tmp_path / "serve.log"
    )
    assert served == expected
