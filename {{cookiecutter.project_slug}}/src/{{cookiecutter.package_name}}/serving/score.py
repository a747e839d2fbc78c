"""Scoring script for Azure ML managed online endpoints: `init()` once per worker, `run(raw)`
per request. Azure's deployment and the local `serve` command both run this very file under
azureml-inference-server-http, with AZUREML_MODEL_DIR pointing at the model.

The server loads this file by path (as a module named `entry_module`), outside its package, so
relative imports are not available here: the package is imported by name, found from where this
file sits (`<src>/<package>/serving/score.py`).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from azureml_inference_server_http.api.aml_response import AMLResponse

_HERE = Path(__file__).resolve()
_model: Any = None


def _scoring_module() -> Any:
    if __package__:
        return importlib.import_module(f"{__package__}.scoring")
    src_root = str(_HERE.parents[2])
    if src_root not in sys.path:
        sys.path.insert(0, src_root)
    return importlib.import_module(f"{_HERE.parents[1].name}.serving.scoring")


def init() -> None:
    """Load the model once; a worker that cannot load it must fail to start, loudly."""
    global _model
    root = os.environ.get("AZUREML_MODEL_DIR")
    if not root:
        raise RuntimeError("AZUREML_MODEL_DIR is not set: it must point at the model folder")
    scoring = _scoring_module()
    _model = scoring.Model.load(scoring.find_model_dir(Path(root)))


def run(raw_data: str) -> Any:
    """Score one request body (JSON text); bad input gets a 4xx naming the problem."""
    status, body = _model.score(raw_data)
    if status == 200:
        return body
    return AMLResponse(body, status, json_str=True)
