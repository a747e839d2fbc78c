"""AutoML: search model families and hyperparameters with optuna, within a trial/time budget.

Each candidate is scored by cross-validation on the training split only (the holdout stays
untouched for the champion gate) and logged as a child MLflow run when a run is active. The
metric names the task (tasks.py): its families' regressors are searched for an error such as
RMSE, minimized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from . import tasks
from .families import get as declared_family
from .metrics import score_model
from .train import build_model


@dataclass(frozen=True)
class SearchResult:
    family: str
    params: dict[str, Any]
    cv_score: float
    n_trials: int


def cross_validated_score(
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    folds: int,
    seed: int,
) -> float:
    task = tasks.task_of(metric)
    kind = StratifiedKFold if task == "classification" else KFold
    splitter = kind(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for train_index, valid_index in splitter.split(X, y):
        train_X, train_y = X.iloc[train_index], y.iloc[train_index]
        model = build_model(family, params, seed, train_X, task).fit(train_X, train_y)
        valid_X, valid_y = X.iloc[valid_index], y.iloc[valid_index]
        scores.append(score_model(model, valid_X, valid_y, task)[metric])
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
    """Best family and parameters by mean cross-validated `metric`, in its direction.

    Seeded, so a search limited by `n_trials` (not by the timeout) is reproducible.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parent = mlflow.active_run()

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", families)
        params = declared_family(family).search_space(trial)
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

    study = optuna.create_study(
        direction=tasks.goal(metric), sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout_seconds)
    best = study.best_trial
    params = {key: value for key, value in best.params.items() if key != "family"}
    return SearchResult(best.params["family"], params, float(best.value), len(study.trials))
