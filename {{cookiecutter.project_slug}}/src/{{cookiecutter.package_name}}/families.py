"""Every model family, declared once: its classifier and its regressor (a family may offer one
task only), its AutoML search space, Azure AutoML's names for it, and whether it trains on a GPU.

Config validation, training, the local AutoML search, the Azure AutoML job and the pipeline's
compute placement all read `FAMILIES`, so a new family is one `register(ModelFamily(...))`
here (or in a module of yours that the project imports) plus its dependency. Estimators are
imported inside the builders: reading this table must not cost a scikit-learn import, because
`config.py` reads it on every command, `--help` included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import PipelineError
from .tasks import TASKS, Task

Params = dict[str, Any]
# (params from model.params or the search, seed) -> an unfitted scikit-learn estimator that
# takes the preprocessed columns.
Builder = Callable[[Params, int], Any]


def _nothing_to_tune(trial: Any) -> Params:
    return {}


@dataclass(frozen=True)
class ModelFamily:
    name: str
    # The classifier; None: the family offers regression only.
    build: Builder | None
    # An optuna trial -> the parameters one AutoML trial tries: the few that matter most.
    search_space: Callable[[Any], Params] = _nothing_to_tune
    # Azure AutoML's algorithm name (allowed_training_algorithms); None: not searched there.
    automl_name: str | None = None
    # Trains on the GPU cluster in the Azure ML pipeline (and on a GPU when one is visible).
    gpu: bool = False
    # Linear models need scaled numeric inputs; trees do not.
    scale_numeric: bool = False
    # Types skops must trust to load the saved model (reviewed: created by this process).
    trusted_types: tuple[str, ...] = ()
    # A baseline (dummy) is accepted everywhere but not offered as a real choice.
    baseline: bool = False
    # What the model card says this family cannot do (one sentence).
    limitations: str = ""
    # The regressor counterpart (same parameters, same search space); None: classification only.
    regressor: Builder | None = None
    # Azure AutoML's regression algorithm name; None: not searched there.
    automl_regressor_name: str | None = None

    def tasks(self) -> tuple[Task, ...]:
        return tuple(t for t in TASKS if self._builder(t) is not None)

    def builder(self, task: Task) -> Builder:
        """The estimator builder for the task, or a clear error naming the families that
        offer it."""
        found = self._builder(task)
        if found is None:
            offered = ", ".join(choices(task))
            raise PipelineError(
                f"Model family '{self.name}' has no {task} model: use one of {offered}"
            )
        return found

    def automl(self, task: Task) -> str | None:
        return self.automl_name if task == "classification" else self.automl_regressor_name

    def _builder(self, task: Task) -> Builder | None:
        return self.build if task == "classification" else self.regressor


FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    """Add (or replace) a family; every part of the pipeline sees it from then on."""
    FAMILIES[family.name] = family
    return family


def get(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise PipelineError(f"Unknown model family '{name}': use {', '.join(FAMILIES)}") from None


def choices(task: Task | None = None) -> tuple[str, ...]:
    """The real families (baselines left out) offering the task (any task: None), for help
    texts and the AutoML default."""
    return tuple(
        name
        for name, family in FAMILIES.items()
        if not family.baseline and (task is None or task in family.tasks())
    )


def default_search(task: Task) -> tuple[str, ...]:
    """What AutoML searches unless told otherwise: two tree ensembles and the linear model."""
    linear = "logistic_regression" if task == "classification" else "linear_regression"
    return ("gradient_boosting", "random_forest", linear)


# --- the built-in families -----------------------------------------------------------------


def _gradient_boosting(params: Params, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, **params)


def _gradient_boosting_space(trial: Any) -> Params:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-4, 10.0, log=True),
        "max_iter": trial.suggest_int("max_iter", 50, 300, step=50),
    }


def _gradient_boosting_regressor(params: Params, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed, **params)


def _random_forest(params: Params, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        **{"n_estimators": 100, "min_samples_leaf": 2, "n_jobs": 1, **params},
        random_state=seed,
    )


def _random_forest_regressor(params: Params, seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(
        **{"n_estimators": 100, "min_samples_leaf": 2, "n_jobs": 1, **params},
        random_state=seed,
    )


def _random_forest_space(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=50),
        "max_depth": trial.suggest_int("max_depth", 3, 20),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
    }


def _logistic_regression(params: Params, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"max_iter": 2000, **params}, random_state=seed)


def _logistic_regression_space(trial: Any) -> Params:
    return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True)}


def _linear_regression(params: Params, seed: int) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(**{"alpha": 1.0, **params}, random_state=seed)


def _linear_regression_space(trial: Any) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 100.0, log=True)}


def _xgboost(params: Params, seed: int) -> Any:
    from .xgboost_model import XGBoostClassifier

    return XGBoostClassifier(params=dict(params), random_state=seed)


def _xgboost_regressor(params: Params, seed: int) -> Any:
    from .xgboost_model import XGBoostRegressor

    return XGBoostRegressor(params=dict(params), random_state=seed)


def _xgboost_space(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, step=50),
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
    }


def _dummy(params: Params, seed: int) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(**{"strategy": "prior", **params})


def _dummy_regressor(params: Params, seed: int) -> Any:
    from sklearn.dummy import DummyRegressor

    return DummyRegressor(**{"strategy": "mean", **params})


TREE_TYPES = ("sklearn.tree._tree.Tree",)
register(
    ModelFamily(
        "gradient_boosting",
        _gradient_boosting,
        _gradient_boosting_space,
        automl_name="GradientBoosting",
        regressor=_gradient_boosting_regressor,
        automl_regressor_name="GradientBoosting",
        trusted_types=("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",),
        limitations="Boosted trees on binned values: predictions are flat outside the value "
        "range seen in training (no extrapolation).",
    )
)
register(
    ModelFamily(
        "random_forest",
        _random_forest,
        _random_forest_space,
        automl_name="RandomForest",
        regressor=_random_forest_regressor,
        automl_regressor_name="RandomForest",
        trusted_types=TREE_TYPES,
        limitations="Averaged trees: predictions are flat outside the value range seen in "
        "training, and predicted probabilities rarely come close to 0 or 1 (regression: "
        "predictions stay inside the range of the training targets).",
    )
)
register(
    ModelFamily(
        "logistic_regression",
        _logistic_regression,
        _logistic_regression_space,
        automl_name="LogisticRegression",
        scale_numeric=True,
        limitations="Linear in the encoded columns: interactions and non-linear effects are "
        "missed unless engineered into the data.",
    )
)
# Logistic regression's counterpart for a numeric target: ridge (L2-penalized) least squares.
register(
    ModelFamily(
        "linear_regression",
        None,
        _linear_regression_space,
        scale_numeric=True,
        regressor=_linear_regression,
        automl_regressor_name="ElasticNet",
        limitations="Linear in the encoded columns: interactions and non-linear effects are "
        "missed, and a skewed target gives skewed errors.",
    )
)
register(
    ModelFamily(
        "xgboost",
        _xgboost,
        _xgboost_space,
        automl_name="XGBoostClassifier",
        gpu=True,
        regressor=_xgboost_regressor,
        automl_regressor_name="XGBoostRegressor",
        # This package's label-encoding wrapper, the estimator, and its booster, which skops
        # stores as XGBoost's own binary model format (not pickle).
        trusted_types=(
            f"{__name__.rsplit('.', 1)[0]}.xgboost_model.XGBoostClassifier",
            f"{__name__.rsplit('.', 1)[0]}.xgboost_model.XGBoostRegressor",
            "xgboost.sklearn.XGBClassifier",
            "xgboost.sklearn.XGBRegressor",
            "xgboost.core.Booster",
        ),
        limitations="Boosted trees: predictions are flat outside the value range seen in "
        "training (no extrapolation).",
    )
)
# Predicts the class priors (regression: the training mean): a baseline every real model must
# beat, and a deliberately worse challenger for trying the champion gate.
register(
    ModelFamily(
        "dummy",
        _dummy,
        baseline=True,
        regressor=_dummy_regressor,
        limitations="A baseline that ignores every column and predicts the class priors "
        "(regression: the mean target).",
    )
)
