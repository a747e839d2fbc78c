"""An Azure ML AutoML classification or regression job (the project's task), for
`automl.enabled` projects that want Azure's search.

The project's metric and families map onto AutoML's names; the budget comes from the same
`automl` settings as the local optuna search. AutoML reads tabular data as MLTable, so the
data file is wrapped in an MLTable folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .. import families
from ..config import PROJECT_SLUG, Settings
from .pipeline_job import experiment_name

if TYPE_CHECKING:
    from azure.ai.ml.entities import Data
    from azure.ai.ml.entities._job.automl.tabular import ClassificationJob, RegressionJob

# AutoML classification has no F1 or plain recall primary metric; the closest one ranks its
# candidates, and the project's own gate still decides on the configured metric.
AUTOML_METRICS = {
    "roc_auc": "AUC_weighted",
    "accuracy": "accuracy",
    "precision": "precision_score_weighted",
    "recall": "norm_macro_recall",
    "f1": "AUC_weighted",
    # Regression offers spearman_correlation, normalized_root_mean_squared_error, r2_score and
    # normalized_mean_absolute_error (azure-ai-ml RegressionPrimaryMetrics; Microsoft Learn,
    # "RegressionPrimaryMetrics Enum", checked 2026-12-05). The normalized errors rank
    # candidates like RMSE and MAE; MAPE has no counterpart, so the relative error's closest,
    # normalized MAE, ranks them.
    "rmse": "normalized_root_mean_squared_error",
    "mae": "normalized_mean_absolute_error",
    "r2": "r2_score",
    "mape": "normalized_mean_absolute_error",
}


def write_mltable(data_path: Path, folder: Path) -> Path:
    """An MLTable folder that reads `data_path` (CSV or Parquet), copied next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / data_path.name
    target.write_bytes(data_path.read_bytes())
    reader = "read_parquet" if data_path.suffix == ".parquet" else "read_delimited_files"
    table = {"paths": [{"file": f"./{data_path.name}"}], "transformations": [reader]}
    (folder / "MLTable").write_text(yaml.safe_dump(table, sort_keys=False))
    return folder


def build_mltable_asset(settings: Settings, folder: Path, version: str) -> Data:
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    return Data(
        name=f"{PROJECT_SLUG}-training-table",
        version=version,
        path=str(write_mltable(settings.data_path, folder)),
        type=AssetTypes.MLTABLE,
        description="The training data as MLTable, for AutoML",
    )


def build_automl_job(
    settings: Settings, table_reference: str, compute: str
) -> ClassificationJob | RegressionJob:
    from azure.ai.ml import Input, automl

    # Families without an Azure AutoML counterpart are searched locally only.
    named = [
        declared.automl(settings.task) for declared in map(families.get, settings.automl_families)
    ]
    algorithms = [name for name in named if name]
    create = automl.regression if settings.task == "regression" else automl.classification
    job = create(
        training_data=Input(type="mltable", path=table_reference),
        target_column_name=settings.data.target,
        primary_metric=AUTOML_METRICS[settings.evaluation.primary_metric],
        n_cross_validations=settings.automl.cv_folds,
        compute=compute,
        experiment_name=experiment_name(settings),
        name=None,
        tags={"model.name": settings.model_name},
    )
    job.set_limits(
        max_trials=settings.automl.n_trials,
        timeout_minutes=max(15, settings.automl.timeout_seconds // 60),
        enable_early_termination=True,
    )
    job.set_training(allowed_training_algorithms=algorithms)
    return job
