"""The xgboost family's estimators: any label type, on the GPU when one is visible."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder


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
        self.device_, self.model_ = _fit(XGBClassifier, self, X, encoder.transform(y))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class XGBoostRegressor(RegressorMixin, BaseEstimator):
    """XGBoost for a numeric target, on the GPU when one is visible (see XGBoostClassifier)."""

    def __init__(self, params: dict[str, Any] | None = None, random_state: int = 0) -> None:
        self.params = params
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> XGBoostRegressor:
        from xgboost import XGBRegressor

        self.device_, self.model_ = _fit(XGBRegressor, self, X, np.asarray(y, dtype=float))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(X), dtype=float)


def _fit(estimator: Any, owner: Any, X: Any, y: Any) -> tuple[str, Any]:
    """Fit on the GPU when visible, then move the booster to the CPU for serving anywhere."""
    device = "cuda" if gpu_visible() else "cpu"
    settings = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1, "n_jobs": 1}
    model = estimator(
        **{**settings, **(owner.params or {})}, device=device, random_state=owner.random_state
    )
    model.fit(X, y)
    model.set_params(device="cpu")
    return device, model
