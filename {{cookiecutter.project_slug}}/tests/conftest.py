"""Shared fixtures: every test gets its own project folder and MLflow store under tmp."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Small models train fastest on one thread, and a busy CI runner makes spinning threads slow.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib.util

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }} import families, tasks

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Each task's sample data set and target (scripts/make_sample_data.py writes both).
TARGETS = {"classification": "churned", "regression": "fare_amount"}


@pytest.fixture(autouse=True)
def _no_outside_tracking_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's MLFLOW_TRACKING_URI must never receive test runs."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow SQLite store; creating one costs seconds, copying it does not."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def copy_store(empty_store: Path, folder: Path) -> str:
    """A private store for one test, as a tracking URI."""
    target = folder / ".mlflow" / "mlflow.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_store, target)
    return f"sqlite:///{target}"


def write_sample(task: str, path: Path) -> Path:
    """The task's sample data set, from the project's own generator (deterministic)."""
    spec = importlib.util.spec_from_file_location(
        "make_sample_data", PROJECT_DIR / "scripts" / "make_sample_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_sample(task, path)


def for_task(config: dict, task: str) -> dict:
    """The bake's config turned to `task`: its target, and its metric and families where the
    bake's answers belong to the other task."""
    config["task"] = task
    config["data"]["target"] = TARGETS[task]
    evaluation = config["evaluation"]
    if evaluation["primary_metric"] not in tasks.METRICS[task]:
        evaluation["primary_metric"] = tasks.DEFAULT_METRIC[task]
    if task not in families.FAMILIES[config["model"]["family"]].tasks():
        config["model"]["family"] = "gradient_boosting"
    config["automl"]["families"] = [
        name
        for name in config["automl"]["families"] or families.default_search(task)
        if task in families.FAMILIES[name].tasks()
    ] or list(families.default_search(task))
    config["azure"]["sweep"]["primary_metric"] = None
    return config


def make_project(folder: Path, empty_store: Path, task: str = "classification") -> Path:
    """A copy of this project's config and the task's sample data, with MLflow state inside
    `folder`. Every bake tests both tasks: `project` is the classification one whatever the
    bake's answer, `regression_project` the regression one."""
    copy_store(empty_store, folder)  # where the default settings put the store
    (folder / "config").mkdir()
    (folder / "data").mkdir()
    write_sample(task, folder / "data" / "sample.csv")
    config = yaml.safe_load((PROJECT_DIR / "config" / "pipeline.yaml").read_text())
    config = for_task(config, task)
    config["automl"]["enabled"] = False  # tests that want AutoML turn it on explicitly
    # Likewise fairness: the bake's answer may name columns the sample data lacks.
    config["evaluation"]["fairness"] = {"sensitive_features": [], "gate": False, "tolerance": 0.02}
    write_config(folder, config)
    return folder


@pytest.fixture
def project(tmp_path: Path, empty_store: Path) -> Path:
    return make_project(tmp_path, empty_store)


@pytest.fixture
def regression_project(tmp_path: Path, empty_store: Path) -> Path:
    return make_project(tmp_path, empty_store, "regression")


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Path:
    """One project for tests that must leave the registry empty."""
    return make_project(tmp_path_factory.mktemp("shared-project"), empty_store)


def cli(*args: str) -> tuple[int, str]:
    """Run the command line in-process: its exit code and what a terminal would show (Click's
    output holds stdout and stderr interleaved)."""
    from typer.testing import CliRunner

    from {{ cookiecutter.package_name }}.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def write_config(project_dir: Path, config: dict) -> Path:
    path = project_dir / "config" / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def multiclass_frame(rows: int = 600, seed: int = 7) -> pd.DataFrame:
    """Three classes; numeric, categorical and boolean features; missing values."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], rows)
    size = rng.choice(["S", "M", "L", "XL"], rows)
    weight = rng.normal(50, 15, rows)
    height = rng.normal(170, 10, rows)
    score = (weight - 50) / 15 + 1.2 * (colour == "red") - 1.2 * (colour == "blue")
    score += rng.normal(0, 0.5, rows)
    label = np.where(score < -0.5, "low", np.where(score < 0.7, "mid", "high"))
    member = rng.choice([True, False], rows)
    frame = pd.DataFrame(
        {
            "weight": weight,
            "height": height,
            "colour": colour,
            "size": size,
            "member": member,
            "grade": label,
        }
    )
    frame.loc[rng.uniform(size=rows) < 0.08, "weight"] = np.nan
    frame.loc[rng.uniform(size=rows) < 0.08, "colour"] = None
    return frame


def amount_frame(rows: int = 600, seed: int = 11) -> pd.DataFrame:
    """A right-skewed positive amount (like a fare) from numeric, categorical and boolean
    features, with missing values: the unit tests' regression data."""
    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 3.0, rows)
    zone = rng.choice(["north", "centre", "south"], rows, p=[0.3, 0.5, 0.2])
    night = rng.choice([True, False], rows, p=[0.25, 0.75])
    noise_column = rng.normal(0, 1, rows)
    amount = (3.0 + 2.2 * distance + 4.0 * (zone == "centre") + 2.5 * night) * rng.lognormal(
        0, 0.12, rows
    )
    frame = pd.DataFrame(
        {
            "distance": distance,
            "zone": zone,
            "night": night,
            "noise": noise_column,
            "amount": np.round(amount, 2),
        }
    )
    frame.loc[rng.uniform(size=rows) < 0.05, "distance"] = np.nan
    frame.loc[rng.uniform(size=rows) < 0.05, "zone"] = None
    return frame


@pytest.fixture(scope="session")
def aml():
    """azure-ai-ml, imported once per test session (about 12 s)."""
    import azure.ai.ml

    return azure.ai.ml
