"""A small churn-like model and a small taxi-fare regressor, saved the way the pipeline saves
its models, for serving tests.

Serving must not depend on a full training run: this builds the same kind of artifact (a
scikit-learn Pipeline with a ColumnTransformer, saved by `mlflow.sklearn.save_model` with a
signature and an input example) from a few hundred synthetic rows in about a second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from {{ cookiecutter.package_name }}.train import build_preprocessor

# `serve` as the CLI runs it, in a child process: `python -c SERVE --port ...`.
SERVE = "import typer; from {{ cookiecutter.package_name }}.cli.serve import serve; typer.run(serve)"
NUMERIC = ["tenure_months", "monthly_charges", "support_calls"]
CATEGORICAL = ["contract", "payment_method"]


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Raw feature columns as training sees them: floats with gaps, text with gaps."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(0, 72, rows).astype(float),
            "monthly_charges": rng.normal(70, 20, rows).round(2),
            "support_calls": rng.poisson(1.5, rows).astype(float),
            "contract": rng.choice(["monthly", "yearly", "two_year"], rows).astype(object),
            "payment_method": rng.choice(["card", "transfer", "check"], rows).astype(object),
        }
    )
    frame.loc[frame.index % 11 == 0, "monthly_charges"] = np.nan
    frame.loc[frame.index % 13 == 0, "payment_method"] = np.nan
    return frame


def train_model(frame: pd.DataFrame) -> Pipeline:
    churned = ((frame["contract"] == "monthly") & (frame["tenure_months"] < 24)).astype(int)
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False),
                ),
                CATEGORICAL,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", preprocess), ("model", LogisticRegression())]).fit(
        frame, churned
    )


def save_model(model_dir: Path, rows: int = 400) -> Pipeline:
    """Train and save an MLflow model folder at `model_dir`; return the fitted pipeline."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    frame = make_frame(rows)
    model = train_model(frame)
    mlflow.sklearn.save_model(
        model,
        str(model_dir),
        signature=infer_signature(frame, model.predict(frame.head(50))),
        input_example=frame.head(3),
        skops_trusted_types=["numpy.dtype"],  # the pipeline's format: skops, no pickle
    )
    return model


FARE = "fare"


def make_fares(rows: int, seed: int = 0) -> pd.DataFrame:
    """Taxi trips and their fare: numbers and text with gaps, and a skewed, strictly positive
    target (most fares small, a long tail of long trips and airport runs)."""
    rng = np.random.default_rng(seed)
    km = rng.lognormal(1.0, 0.8, rows)
    minutes = km * rng.uniform(1.5, 4.0, rows) + rng.exponential(3.0, rows)
    zone = rng.choice(["downtown", "suburb", "airport"], rows, p=[0.6, 0.3, 0.1])
    fare = (3.0 + 1.5 * km + 0.3 * minutes + 12.0 * (zone == "airport")) * rng.lognormal(
        0.0, 0.1, rows
    )
    frame = pd.DataFrame(
        {
            "trip_km": km.round(2),
            "trip_minutes": minutes.round(1),
            "passengers": rng.integers(1, 5, rows).astype(float),
            "pickup_zone": zone.astype(object),
            "payment_type": rng.choice(["card", "cash"], rows).astype(object),
            FARE: fare.round(2),
        }
    )
    frame.loc[frame.index % 9 == 0, "trip_minutes"] = np.nan
    frame.loc[frame.index % 7 == 0, "pickup_zone"] = np.nan
    return frame


def train_regressor(
    frame: pd.DataFrame, estimator: object, scale_numeric: bool = False
) -> Pipeline:
    """The pipeline's model shape for a numeric target: its preprocessor, then `estimator`."""
    X = frame.drop(columns=[FARE])
    preprocess = build_preprocessor(X, scale_numeric=scale_numeric)
    return Pipeline([("preprocess", preprocess), ("model", estimator)]).fit(X, frame[FARE])


def save_regressor(
    model_dir: Path, family: str = "gradient_boosting", rows: int = 400
) -> tuple[Pipeline, pd.DataFrame]:
    """A family's regressor on `make_fares(rows)`, saved as the training step saves a model
    (skops, signature, input example, drift reference); the fitted pipeline and its inputs."""
    from {{ cookiecutter.package_name }}.drift_reference import save_reference
    from {{ cookiecutter.package_name }}.families import FAMILIES
    from {{ cookiecutter.package_name }}.steps.train import save_model as save_trained
    from {{ cookiecutter.package_name }}.train import builtin_trusted_types

    frame = make_fares(rows)
    declared = FAMILIES[family]
    model = train_regressor(frame, declared.regressor({}, 0), declared.scale_numeric)
    X = frame.drop(columns=[FARE])
    save_trained(model, model_dir, X, builtin_trusted_types())
    save_reference(X, model, model_dir, rows=300, seed=0)
    return model, X


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(
    process: subprocess.Popen, url: str, timeout: float = 60.0
) -> requests.Response:
    """Poll the health route until it answers; fail fast if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before becoming healthy")
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except (requests.ConnectionError, requests.Timeout):
            pass  # gunicorn accepts connections before its workers have loaded the model
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy within {timeout:.0f} s")


def launch(arguments: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python <arguments>` in its own session (so `stop` ends it and all its workers), output
    appended to `log`: an unread pipe would fill up and stall the server."""
    with log.open("a") as handle:
        return subprocess.Popen(
            [sys.executable, *arguments],
            cwd=cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_healthy(
    arguments: list[str],
    *,
    port: int,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float = 120,
) -> subprocess.Popen:
    """`launch` a server listening on `port` and return once it is healthy; a server that dies
    or never answers is stopped before the error propagates."""
    process = launch(arguments, cwd=cwd, env=env, log=log)
    try:
        wait_for_health(process, f"http://127.0.0.1:{port}/", timeout=timeout)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a server we started in its own session (`start_new_session=True`): signal its
    whole process group, so no worker can outlive the test."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of a group whose leader exited


def served_predictions(records: list[dict], *, project: Path, tracking_uri: str, log: Path) -> list:
    """Start `serve` on the project's deployed model, score `records` once, stop the server."""
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri)
    arguments = ["-c", SERVE, "--port", str(port), "--workers", "1"]
    server = start_healthy(arguments, port=port, cwd=project, env=env, log=log)
    try:
        response = requests.post(f"http://127.0.0.1:{port}/score", json=records, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["predictions"]
    finally:
        stop(server)
