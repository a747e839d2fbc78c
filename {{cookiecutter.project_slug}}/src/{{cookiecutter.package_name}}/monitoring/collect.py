"""Which inference recorder the scoring script uses, decided once per server worker.

- On an Azure ML online deployment with data collection on (the collector's configuration
  variables, AZUREML_MDC_CONFIG_PATH or AZUREML_MDC_ENABLED, are set),
  the `azureml-ai-monitoring` Collector sends inputs and outputs to the `model_inputs` and
  `model_outputs` collections, joined by the request's correlation id; the Azure ML model
  monitor reads them from there.
- Locally, `serve` sets INFERENCE_LOG_ENV to the log folder and the `InferenceLog` writes
  Parquet segments there (`monitor drift --since 24h` reads them).
- Otherwise nothing is recorded and scoring costs nothing extra.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..serving.local import (
    COMPACT_MINUTES_ENV,
    FLUSH_SECONDS_ENV,
    INFERENCE_LOG_ENV,
    RETENTION_DAYS_ENV,
)

# The variables azureml-ai-monitoring itself reads to know that collection is configured.
AZURE_COLLECTOR_CONFIG_ENV = "AZUREML_MDC_CONFIG_PATH"
AZURE_COLLECTOR_ENV = "AZUREML_MDC_ENABLED"

# record(correlation_id, validated input columns, predictions)
Recorder = Callable[[str, dict[str, np.ndarray], list[Any]], None]
logger = logging.getLogger("azmlinfsrv.inference_log")


def recorder_from_environment(model_root: Path) -> Recorder | None:
    """The recorder for this worker. `model_root` is AZUREML_MODEL_DIR: `.../<name>/<version>`
    on Azure, `.../<name>/<version>-<digest>` for `serve`; either way the version leads."""
    version = model_root.name.split("-", 1)[0]
    if os.environ.get(AZURE_COLLECTOR_CONFIG_ENV) or (
        os.environ.get(AZURE_COLLECTOR_ENV, "").lower() == "true"
    ):
        return _azure_collector(version)
    folder = os.environ.get(INFERENCE_LOG_ENV)
    if not folder:
        return None
    from .inference_log import InferenceLog

    flush_seconds = float(os.environ.get(FLUSH_SECONDS_ENV, "10"))
    log = InferenceLog(
        Path(folder),
        version,
        flush_seconds,
        compact_minutes=float(os.environ.get(COMPACT_MINUTES_ENV, "10")),
        retention_days=int(os.environ.get(RETENTION_DAYS_ENV, "30")),
    )
    logger.info("Logging requests to %s (flushed every %g s)", folder, flush_seconds)
    return log.record


def _azure_collector(version: str) -> Recorder:
    """Azure's data collector: it queues in memory and ships from its own worker thread."""
    import pandas as pd
    from azureml.ai.monitoring import Collector
    from azureml.ai.monitoring.context import BasicCorrelationContext

    def on_error(error: Exception) -> None:
        logger.warning("Data collector dropped a record: %s", error)

    inputs = Collector(name="model_inputs", on_error=on_error)
    outputs = Collector(name="model_outputs", on_error=on_error)

    def record(correlation_id: str, columns: dict[str, np.ndarray], predictions: list[Any]) -> None:
        context = BasicCorrelationContext(id=correlation_id)
        inputs.collect(pd.DataFrame(columns, copy=False), context)
        outputs.collect(
            pd.DataFrame({"prediction": predictions, "model_version": version}), context
        )

    logger.info("Collecting model_inputs and model_outputs with azureml-ai-monitoring")
    return record
