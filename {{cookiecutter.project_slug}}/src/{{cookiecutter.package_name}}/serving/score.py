"""Scoring script for Azure ML managed online endpoints: `init()` once per worker, `run(raw)`
per request (the raw HTTP request, via `@rawhttp`). Azure's deployment and the local `serve`
command both run this very file under azureml-inference-server-http, with AZUREML_MODEL_DIR
pointing at the model.

The server loads this file by path (as a module named `entry_module`), outside its package, so
relative imports are not available here: the package is imported by name, found from where this
file sits (`<src>/<package>/serving/score.py`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse
from flask import g

_HERE = Path(__file__).resolve()
_model: Any = None
_recorder: Any = None  # the inference log or Azure's data collector; None when off


def _package_module(name: str) -> Any:
    """`<package>.<name>`, imported by name (this file runs outside its package)."""
    if __package__:
        return importlib.import_module(f"{__package__.rsplit('.', 1)[0]}.{name}")
    src_root = str(_HERE.parents[2])
    if src_root not in sys.path:
        sys.path.insert(0, src_root)
    return importlib.import_module(f"{_HERE.parents[1].name}.{name}")


def _scoring_module() -> Any:
    return _package_module("serving.scoring")


def init() -> None:
    """Load the model once; a worker that cannot load it must fail to start, loudly."""
    global _model, _recorder
    root = os.environ.get("AZUREML_MODEL_DIR")
    if not root:
        raise RuntimeError("AZUREML_MODEL_DIR is not set: it must point at the model folder")
    scoring = _scoring_module()
    _model = scoring.Model.load(Path(root))
    _recorder = _package_module("monitoring.collect").recorder_from_environment(Path(root))
    # Loggers under "azmlinfsrv" are the ones the server prints (and ships to App Insights).
    logging.getLogger("azmlinfsrv.score").info(
        "Model %s ready: %s%d input columns, %s",
        _model.source,
        "regressor, " if _model.regressor else "",
        len(_model.schema.columns),
        _model.path,
    )


@rawhttp
def run(request: AMLRequest) -> dict[str, Any] | AMLResponse:
    """Score one request. The raw request (not the server's decoded string) is taken so that
    the body is read as sent, whatever its Content-Type, and non-POST methods get a clear 405.
    Predictions (class labels, or a regressor's floats) are returned as a dict (the server
    answers 200 with it as JSON, and logs one line less per request than for a response
    object); rejections as a 4xx response."""
    if request.method != "POST":
        return AMLResponse({"message": "use POST with a JSON body to score"}, 405, json_str=True)
    explain = request.args.get("explain", "false").lower()
    if explain not in ("true", "false"):
        return AMLResponse({"message": "explain must be true or false"}, 400, json_str=True)
    record = None
    if _recorder is not None:
        # The server's request id (x-request-id, or one it generated) joins a row to its request.
        correlation_id = getattr(g, "request_id", "") or str(uuid.uuid4())

        def record(columns: Any, predictions: list[Any]) -> None:
            _recorder(correlation_id, columns, predictions)

    status, body = _model.score(request.get_data(cache=False), record, explain=explain == "true")
    return body if status == 200 else AMLResponse(body, status, json_str=True)
