"""The two learning tasks and their metrics, declared once with each metric's direction.

Every comparison of two scores (the champion gate, `min_improvement`, the paired bootstrap,
AutoML and sweeps, live quality) goes through `gain`, so "better" means the same everywhere:
higher for accuracy or R², lower for an error such as RMSE.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

METRICS: dict[Task, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
ALL_METRICS: tuple[str, ...] = (*METRICS["classification"], *METRICS["regression"])
# Errors: a smaller value is a better model.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape"})
DEFAULT_METRIC: dict[Task, str] = {"classification": "roc_auc", "regression": "rmse"}


def task_of(metric: str) -> Task:
    for task, names in METRICS.items():
        if metric in names:
            return task
    raise ValueError(f"unknown metric '{metric}': use one of {', '.join(ALL_METRICS)}")


def higher_is_better(metric: str) -> bool:
    task_of(metric)  # an unknown name fails here rather than counting as "higher"
    return metric not in LOWER_IS_BETTER


def gain(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is than the champion, in the metric's units (> 0:
    better), whichever way the metric points."""
    difference = challenger - champion
    return difference if higher_is_better(metric) else -difference


def goal(metric: str) -> Literal["maximize", "minimize"]:
    """The optimization direction (optuna, Azure ML sweeps)."""
    return "maximize" if higher_is_better(metric) else "minimize"


def check_metric(task: Task, metric: str) -> str:
    """The metric if it belongs to the task, else a clear error naming the task's metrics."""
    if metric not in METRICS[task]:
        raise ValueError(
            f"'{metric}' is not a {task} metric: use one of {', '.join(METRICS[task])}"
        )
    return metric
