"""Model families and the custom training function hook.

Every model is a scikit-learn Pipeline whose first stage does the preprocessing (imputation,
scaling, one-hot encoding), so the saved model takes the raw feature columns and training and
serving cannot skew.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

from .errors import PipelineError


class Classifier(Protocol):
    def fit(self, X: pd.DataFrame, y: pd.Series) -> Any: ...
    def predict(self, X: pd.DataFrame) -> Any: ...
    def predict_proba(self, X: pd.DataFrame) -> Any: ...


TrainingFunction = Callable[..., Classifier]
"""`fn(X, y, *, seed, params) -> fitted classifier` taking raw feature columns."""


# Types skops must trust to save and load the built-in families without pickle. Reviewed:
# they are scikit-learn's own tree structures and numpy dtypes, created by this process.
BUILTIN_TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    # xgboost: this package's label-encoding wrapper, the estimator, and its booster, which
    # skops stores as XGBoost's own binary model format (not pickle).
    f"{__name__}.XGBoostClassifier",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.core.Booster",
)
# Families that train on a GPU when one is visible: the Azure ML pipeline runs their train step
# on the GPU cluster.
GPU_FAMILIES = frozenset({"xgboost"})


def gpu_visible() -> bool:
    """True when this xgboost build has CUDA and `nvidia-smi` lists a GPU."""
    import xgboost

    if not xgboost.build_info().get("USE_CUDA"):
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


class XGBoostClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost on any label type (it wants 0..n-1), on the GPU when one is visible.

    `device_` records where it trained; the fitted booster is moved to the CPU afterwards, so
    serving and batch scoring run anywhere.
    """

    def __init__(self, params: dict[str, Any] | None = None, random_state: int = 0) -> None:
        self.params = params
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> XGBoostClassifier:
        from xgboost import XGBClassifier

        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        self.device_ = "cuda" if gpu_visible() else "cpu"
        settings = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1, "n_jobs": 1}
        self.model_ = XGBClassifier(
            **{**settings, **(self.params or {})},
            device=self.device_,
            random_state=self.random_state,
        )
        self.model_.fit(X, encoder.transform(y))
        self.model_.set_params(device="cpu")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


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


def build_model(family: str, params: dict[str, Any], seed: int, X: pd.DataFrame) -> Pipeline:
    """An unfitted Pipeline for a built-in family on X's columns; `params` go to the estimator."""
    if family == "gradient_boosting":
        estimator: Any = HistGradientBoostingClassifier(random_state=seed, **params)
    elif family == "random_forest":
        estimator = RandomForestClassifier(
            **{"n_estimators": 100, "min_samples_leaf": 2, "n_jobs": 1, **params},
            random_state=seed,
        )
    elif family == "logistic_regression":
        estimator = LogisticRegression(**{"max_iter": 2000, **params}, random_state=seed)
    elif family == "xgboost":
        estimator = XGBoostClassifier(params=dict(params), random_state=seed)
    elif family == "dummy":
        estimator = DummyClassifier(**{"strategy": "prior", **params})
    else:
        raise TrainingError(
            f"Unknown model family '{family}': use gradient_boosting, random_forest, "
            "logistic_regression, xgboost or dummy"
        )
    preprocessor = build_preprocessor(X, scale_numeric=family == "logistic_regression")
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])


def train_builtin(
    X: pd.DataFrame, y: pd.Series, *, family: str, params: dict[str, Any], seed: int
) -> Pipeline:
    try:
        model = build_model(family, params, seed, X).fit(X, y)
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
) -> Classifier:
    model = function(X, y, seed=seed, params=params)
    for method in ("predict", "predict_proba"):
        if not callable(getattr(model, method, None)):
            raise TrainingError(
                f"Training function '{spec}' returned {type(model).__name__}, which has no "
                f"{method}(): return a fitted scikit-learn classifier (e.g. a Pipeline)"
            )
    if not hasattr(model, "classes_"):
        raise TrainingError(
            f"Training function '{spec}' returned an unfitted {type(model).__name__} "
            "(no classes_): call fit(X, y) before returning it"
        )
    return model
