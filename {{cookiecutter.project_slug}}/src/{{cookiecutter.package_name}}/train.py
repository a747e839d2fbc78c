"""Training: the preprocessing every family shares, and the custom training function hook.

The families themselves are declared in `families.py`.

Every model is a scikit-learn Pipeline whose first stage does the preprocessing (imputation,
scaling, one-hot encoding), so the saved model takes the raw feature columns and training and
serving cannot skew.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from . import families
from .errors import PipelineError
from .families import FAMILIES
from .tasks import Task


class Model(Protocol):
    """A fitted model on the raw feature columns; a classifier also has predict_proba and
    classes_."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Any: ...
    def predict(self, X: pd.DataFrame) -> Any: ...


TrainingFunction = Callable[..., Model]
"""`fn(X, y, *, seed, params) -> fitted model` taking raw feature columns: a classifier or a
regressor, as the settings' task says."""


def builtin_trusted_types() -> list[str]:
    """What skops must trust to load any built-in family's model (each family lists its own)."""
    return ["numpy.dtype", *(t for family in FAMILIES.values() for t in family.trusted_types)]


class TrainingError(PipelineError):
    """The training function could not be found or returned something unusable."""


def build_preprocessor(X: pd.DataFrame, scale_numeric: bool) -> ColumnTransformer:
    """Numeric: median imputation (+ scaling); booleans: one-hot; anything else: a constant
    'missing' category, then one-hot.

    Columns are listed by name (not chosen by a selector at fit time), so the saved model
    states exactly which inputs it treats as numbers and which as categories.
    """
    boolean = list(X.select_dtypes("bool").columns)
    numeric = [c for c in X.select_dtypes("number").columns if c not in boolean]
    categorical = [c for c in X.columns if c not in numeric and c not in boolean]
    numeric_steps: list[Any] = [SimpleImputer(strategy="median")]
    if scale_numeric:
        numeric_steps.append(StandardScaler())
    categorical_steps = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30, sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), numeric),
            ("boolean", OneHotEncoder(handle_unknown="ignore", sparse_output=False), boolean),
            ("categorical", categorical_steps, categorical),
        ],
        verbose_feature_names_out=False,
    )


def build_model(
    family: str, params: dict[str, Any], seed: int, X: pd.DataFrame, task: Task
) -> Pipeline:
    """An unfitted Pipeline for a declared family's model of the task on X's columns;
    `params` go to the estimator."""
    try:
        declared = families.get(family)
        build = declared.builder(task)
    except PipelineError as error:
        raise TrainingError(str(error)) from None
    preprocessor = build_preprocessor(X, scale_numeric=declared.scale_numeric)
    return Pipeline([("preprocess", preprocessor), ("model", build(dict(params), seed))])


def train_builtin(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    family: str,
    params: dict[str, Any],
    seed: int,
    task: Task,
) -> Pipeline:
    try:
        model = build_model(family, params, seed, X, task).fit(X, y)
    except TypeError as error:  # an unknown estimator parameter from the config
        raise TrainingError(f"Invalid model.params for {family}: {error}") from None
    device = getattr(model.named_steps["model"], "device_", None)
    if device is not None:
        import mlflow

        if mlflow.active_run():
            mlflow.set_tag("model.device", device)
    return model


def load_training_function(spec: str, project_dir: Path) -> TrainingFunction:
    """Resolve 'package.module:function' or 'path/to/file.py:function' (project-relative)."""
    module_name, _, function_name = spec.partition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        path = path if path.is_absolute() else project_dir / path
        if not path.is_file():
            raise TrainingError(f"Training function file {path} (from '{spec}') does not exist")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise TrainingError(f"Training function file {path} is not a Python module")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise TrainingError(
                f"Cannot import '{module_name}' for training function '{spec}': {error}"
            ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TrainingError(f"'{function_name}' is not a function in '{module_name}' ('{spec}')")
    return function


def train_custom(
    function: TrainingFunction,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    params: dict[str, Any],
    seed: int,
    spec: str,
    task: Task,
) -> Model:
    model = function(X, y, seed=seed, params=params)
    kind = "classifier" if task == "classification" else "regressor"
    if not callable(getattr(model, "predict", None)):
        raise TrainingError(
            f"Training function '{spec}' returned {type(model).__name__}, which has no "
            f"predict(): return a fitted scikit-learn {kind} (e.g. a Pipeline)"
        )
    if task == "regression":
        if callable(getattr(model, "predict_proba", None)):
            raise TrainingError(
                f"Training function '{spec}' returned a classifier ({type(model).__name__}) "
                "but the task is regression: return a fitted regressor, or set task: "
                "classification in config/pipeline.yaml"
            )
        return model
    if not callable(getattr(model, "predict_proba", None)):
        raise TrainingError(
            f"Training function '{spec}' returned {type(model).__name__}, which has no "
            "predict_proba(): return a fitted scikit-learn classifier (e.g. a Pipeline), or "
            "set task: regression in config/pipeline.yaml"
        )
    if not hasattr(model, "classes_"):
        raise TrainingError(
            f"Training function '{spec}' returned an unfitted {type(model).__name__} "
            "(no classes_): call fit(X, y) before returning it"
        )
    return model
