"""AutoML: search model families and hyperparameters with optuna, within a trial/time budget.

Each candidate is scored by cross-validation on the training split only (the holdout stays
untouched for the champion gate) and logged as a child MLflow run when a run is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from .evaluate import score_model
from .train import build_model


@dataclass(frozen=True)
class SearchResult:
    family: str
    params: dict[str, Any]
    cv_score: float
    n_trials: int


def suggest_params(trial: optuna.Trial, family: str) -> dict[str, Any]:
    """The search space of each built-in family: a few parameters that matter most."""
    if family == "gradient_boosting":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-4, 10.0, log=True),
            "max_iter": trial.suggest_int("max_iter", 50, 300, step=50),
        }
    if family == "random_forest":
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=50),
            "max_depth": trial.suggest_int("max_depth", 3, 20),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
        }
    if family == "xgboost":
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 400, step=50),
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        }
    if family == "logistic_regression":
        return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True)}
    return {}  # dummy: nothing to tune


def cross_validated_score(
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    folds: int,
    seed: int,
) -> float:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for train_index, valid_index in splitter.split(X, y):
        train_X, train_y = X.iloc[train_index], y.iloc[train_index]
        model = build_model(family, params, seed, train_X).fit(train_X, train_y)
        scores.append(score_model(model, X.iloc[valid_index], y.iloc[valid_index])[metric])
    return float(np.mean(scores))


def search(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    families: list[str],
    metric: str,
    n_trials: int,
    timeout_seconds: int,
    folds: int,
    seed: int,
) -> SearchResult:
    """Best family and parameters by mean cross-validated `metric` (higher is better).

    Seeded, so a search limited by `n_trials` (not by the timeout) is reproducible.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parent = mlflow.active_run()

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", families)
        params = suggest_params(trial, family)
        score = cross_validated_score(family, params, X, y, metric, folds, seed)
        if parent is not None:  # children go to the parent's experiment, not the default one
            with mlflow.start_run(
                experiment_id=parent.info.experiment_id,
                run_name=f"automl-trial-{trial.number}",
                nested=True,
            ):
                mlflow.log_params({"family": family, **params})
                mlflow.log_metric(f"cv_{metric}", score)
        return score

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout_seconds)
    best = study.best_trial
    params = {key: value for key, value in best.params.items() if key != "family"}
    return SearchResult(best.params["family"], params, float(best.value), len(study.trials))
