"""Regression end to end: the taxi-fare sample and a real data set the project has never seen
(scikit-learn's diabetes progression) are prepared, trained, gated in the error's direction,
registered and served as numbers; a worse regressor and a text target are refused."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import cli, write_config
from mlflow import MlflowClient
from serving_fixtures import served_predictions
from sklearn.datasets import load_diabetes

from {{ cookiecutter.package_name }} import tasks
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.registry import get_champion_version
from {{ cookiecutter.package_name }}.tracking import configure_tracking

pytestmark = pytest.mark.slow


def champion_of(config: Path):
    settings = load_settings(config)
    configure_tracking(settings)
    return settings, get_champion_version(MlflowClient(), settings.model_name)


def test_fares_train_gate_register_and_serve_numbers(regression_project: Path) -> None:
    config = regression_project / "config" / "pipeline.yaml"
    code, output = cli("run", "--config", str(config))
    assert code == 0, output
    assert "'fare_amount' from" in output and "v1 promoted to champion" in output
    settings, first = champion_of(config)
    metric = settings.evaluation.primary_metric
    assert settings.task == "regression" and metric in tasks.METRICS["regression"]
    run = MlflowClient().get_run(first.run_id)
    assert {"rmse", "mae", "r2", "mape"} <= set(run.data.metrics)
    assert "roc_auc" not in run.data.metrics
    assert run.data.metrics["r2"] > 0.8  # the sample's fares follow distance and time
    plots = {a.path for a in MlflowClient().list_artifacts(first.run_id, "plots")}
    assert plots == {
        "plots/predicted_vs_actual.png",
        "plots/residuals_by_decile.png",
        "plots/error_distribution.png",
        "plots/feature_importance.png",
    }
    deciles = mlflow.artifacts.load_dict(
        f"runs:/{first.run_id}/evaluation/residuals_by_decile.json"
    )["deciles"]
    assert len(deciles) == 10 and sum(d["rows"] for d in deciles) == 400
    card = Path(mlflow.artifacts.download_artifacts(first.tags["model_card"])).read_text()
    assert "regressor of `fare_amount`" in card and "| rmse (lower is better) |" in card

    code, output = cli("run", "--config", str(config), "--model-family", "dummy")
    assert code == 0, output
    assert "v2 registered, not promoted" in output
    _, kept = champion_of(config)
    assert str(kept.version) == "1"
    second = MlflowClient().get_model_version(settings.model_name, "2")
    better = "higher" if tasks.higher_is_better(metric) else "lower"
    assert f"{better} is better" in second.tags["decision.reason"]
    challenger = float(second.tags["decision.challenger_score"])
    kept = float(second.tags["decision.champion_score"])
    assert tasks.gain(metric, challenger, kept) < 0  # the dummy is worse in the metric's direction

    rows = pd.read_csv(regression_project / "data" / "sample.csv").head(4)
    records = json.loads(rows.drop(columns=["fare_amount"]).to_json(orient="records"))
    tracking_uri = settings.tracking_uri
    log = regression_project / "serve.log"
    predictions = served_predictions(
        records, project=regression_project, tracking_uri=tracking_uri, log=log
    )
    assert len(predictions) == 4
    assert all(isinstance(value, float) for value in predictions)
    local = mlflow.sklearn.load_model(f"models:/{settings.model_name}/1")
    expected = local.predict(rows.drop(columns=["fare_amount"]))
    np.testing.assert_allclose(predictions, expected, rtol=1e-9)


def test_a_real_regression_data_set_through_data_trains_gates_and_serves(
    regression_project: Path,
) -> None:
    diabetes = load_diabetes(as_frame=True, scaled=False).frame  # never seen by the project
    diabetes.to_csv(regression_project / "diabetes.csv", index=False)
    config = yaml.safe_load((regression_project / "config" / "pipeline.yaml").read_text())
    config["data"].update({"path": "diabetes.csv", "target": "target"})
    config["tracking"]["model_name"] = "diabetes"
    path = write_config(regression_project, config)
    code, output = cli("run", "--config", str(path))
    assert code == 0, output
    assert "'target' from 25 to 346" in output and "v1 promoted to champion" in output
    settings, first = champion_of(path)
    metrics = MlflowClient().get_run(first.run_id).data.metrics
    assert metrics["r2"] > 0.2  # progression is hard to predict; the mean scores 0

    code, output = cli("run", "--config", str(path), "--model-family", "dummy")
    assert code == 0, output
    assert "v2 registered, not promoted" in output
    assert str(champion_of(path)[1].version) == "1"

    features = diabetes.drop(columns=["target"]).head(3)
    records = json.loads(features.to_json(orient="records"))
    predictions = served_predictions(
        records,
        project=regression_project,
        tracking_uri=settings.tracking_uri,
        log=regression_project / "serve.log",
    )
    expected = mlflow.sklearn.load_model(f"models:/diabetes/{first.version}").predict(features)
    np.testing.assert_allclose(predictions, expected, rtol=1e-9)


def test_a_text_target_under_regression_is_refused_before_anything_is_trained(
    regression_project: Path,
) -> None:
    frame = pd.read_csv(regression_project / "data" / "sample.csv")
    frame["fare_amount"] = np.where(frame["fare_amount"] > 20, "expensive", "cheap")
    data = regression_project / "labels.csv"
    frame.to_csv(data, index=False)
    config = regression_project / "config" / "pipeline.yaml"
    code, output = cli("run", "--config", str(config), "--data", str(data))
    assert code != 0
    assert "task is regression" in output and "set task: classification" in output
    assert champion_of(config)[1] is None
