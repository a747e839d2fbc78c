"""The level-4 loop: serve, feed back what really happened by request id, see each version's
live metric, and retrain on labelled production data when the serving version degrades."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import cli
from serving_fixtures import SERVE, free_port, start_healthy, stop

from {{ cookiecutter.package_name }}.cli.monitor import DRIFT_EXIT_CODE
from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.evaluate import bootstrap_interval, difference_interval
from {{ cookiecutter.package_name }}.metrics import Predictions

REQUESTS, ROWS = 12, 25  # 300 labelled rows, several rows per request


def served_requests(project: Path, tracking_uri: str, frame: pd.DataFrame) -> list[str]:
    """Send `frame` in REQUESTS requests to `serve`; the request id of each, as returned."""
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri)
    arguments = ["-c", SERVE, "--port", str(port), "--workers", "1"]
    server = start_healthy(arguments, port=port, cwd=project, env=env, log=project / "serve.log")
    ids = []
    try:
        for index in range(REQUESTS):
            chunk = frame.iloc[index * ROWS : (index + 1) * ROWS]
            response = requests.post(
                f"http://127.0.0.1:{port}/score", data=chunk.to_json(orient="records"), timeout=30
            )
            assert response.status_code == 200, response.text
            ids.append(response.headers["x-request-id"])  # what a caller keeps to feed back
    finally:
        stop(server)  # a clean stop flushes the inference log
    return ids


def outcomes(ids: list[str], truth: pd.Series, target: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": np.repeat(ids, ROWS),
            "row": np.tile(np.arange(ROWS), len(ids)),
            target: truth.to_numpy()[: len(ids) * ROWS],
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_feedback_live_quality_and_retraining_on_a_degraded_model(
    task: str, request: pytest.FixtureRequest
) -> None:
    project = request.getfixturevalue(
        "project" if task == "classification" else "regression_project"
    )
    config = str(project / "config" / "pipeline.yaml")
    settings = load_settings(Path(config))
    target = settings.data.target
    code, output = cli("run", "--config", config)
    assert code == 0, output

    sample = pd.read_csv(project / "data" / "sample.csv").sample(REQUESTS * ROWS, random_state=3)
    ids = served_requests(project, settings.tracking_uri, sample.drop(columns=[target]))
    labels = project / "labels.csv"
    outcomes(ids, sample[target], target).to_csv(labels, index=False)
    code, output = cli("monitor", "feedback", "--labels", str(labels), "--config", config)
    assert code == 0, output
    assert f"{REQUESTS * ROWS}/{REQUESTS * ROWS} outcomes matched" in output

    code, output = cli("monitor", "quality", "--since", "1h", "--config", config)
    assert code == 0, output  # as good as evaluated
    assert "v1 (serving)" in output and "as evaluated" in output

    # The world changes: what the model learned is now the opposite of what happens (for
    # fares: every fare is two and a half times what it was; RMSE, lower is better, rises).
    changed = 1 - sample[target] if task == "classification" else sample[target] * 2.5
    flipped = project / "flipped.csv"
    outcomes(ids, changed, target).to_csv(flipped, index=False)
    code, output = cli("monitor", "feedback", "--labels", str(flipped), "--config", config)
    assert code == 0, output
    code, output = cli("monitor", "quality", "--since", "1h", "--retrain", "--config", config)
    assert code == DRIFT_EXIT_CODE, output
    assert "degraded: live interval" in output
    if task == "regression":
        assert "above the holdout" in output and "(lower is better)" in output
    assert f"+ {REQUESTS * ROWS} labelled production rows: v2" in output, output
    retrain_files = list((project / ".runs" / "retrain-data").glob("*.parquet"))
    assert len(retrain_files) == 1
    trained_on = pd.read_parquet(retrain_files[0])
    assert len(trained_on) == len(pd.read_csv(project / "data" / "sample.csv")) + REQUESTS * ROWS


@pytest.mark.slow
def test_feedback_for_unknown_requests_is_refused_and_changes_nothing(project: Path) -> None:
    config = str(project / "config" / "pipeline.yaml")
    code, output = cli("run", "--config", config)
    assert code == 0, output
    settings = load_settings(Path(config))
    sample = pd.read_csv(project / "data" / "sample.csv").head(REQUESTS * ROWS)
    served_requests(project, settings.tracking_uri, sample.drop(columns=[settings.data.target]))
    unknown = project / "unknown.csv"
    pd.DataFrame({"request_id": ["nope"], settings.data.target: [1]}).to_csv(unknown, index=False)
    code, output = cli("monitor", "feedback", "--labels", str(unknown), "--config", config)
    assert code == 1 and "none of the 1 outcomes" in output, output
    no_target = project / "no_target.csv"
    pd.DataFrame({"request_id": ["x"]}).to_csv(no_target, index=False)
    code, output = cli("monitor", "feedback", "--labels", str(no_target), "--config", config)
    assert code == 1 and "lacks the columns" in output, output
    code, output = cli("monitor", "quality", "--config", config)
    assert code == 1 and "no outcomes under" in output, output


def predictions(labels: np.ndarray, predicted: np.ndarray) -> Predictions:
    proba = np.column_stack([1.0 - predicted, predicted]).astype(float)
    return Predictions(predicted, proba, np.array([0, 1]))


def test_a_better_version_wins_the_comparison_and_equal_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(rng.integers(0, 2, 400))
    right = predictions(y.to_numpy(), y.to_numpy())
    noisy = y.to_numpy().copy()
    noisy[rng.uniform(size=400) < 0.4] ^= 1
    guessing = predictions(y.to_numpy(), noisy)
    options = {"confidence": 0.95, "resamples": 400, "seed": 1}
    low, high = difference_interval("accuracy", (y, right), (y, guessing), **options)
    assert low > 0.3 and high <= 0.5  # 1.0 vs ~0.6
    low, high = difference_interval("accuracy", (y, guessing), (y, guessing), **options)
    assert low < 0 < high
    low, high = bootstrap_interval("accuracy", y, guessing, **options)
    assert low < float(np.mean(noisy == y)) < high


def test_an_error_metrics_comparison_is_won_by_the_smaller_error() -> None:
    rng = np.random.default_rng(5)
    y = pd.Series(rng.gamma(2.0, 6.0, 400))
    numbers = lambda values: Predictions(values, np.empty((400, 0)), np.empty(0))  # noqa: E731
    close = numbers(y.to_numpy() + rng.normal(0, 1, 400))
    far = numbers(y.to_numpy() + rng.normal(0, 5, 400))
    options = {"confidence": 0.95, "resamples": 400, "seed": 1}
    low, _ = difference_interval("rmse", (y, close), (y, far), **options)
    assert low > 0  # the gain of the closer version: its RMSE is smaller
    _, high = difference_interval("rmse", (y, far), (y, close), **options)
    assert high < 0
