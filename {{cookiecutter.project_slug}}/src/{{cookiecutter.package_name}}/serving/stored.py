"""The verified fast path, stored in the model folder at training time and loaded without
scikit-learn.

Importing scikit-learn and skops costs ~0.9 s of CPU in every scoring process, a third of
scoring a million rows in batch. So the training step compiles the fast path once, verifies it
against the pipeline (`scoring.store_fast_path`: the same checks as at load) and writes it
beside the model: the structure and any text as `fast_path.json`, every number as arrays in
`fast_path.npz` (no pickle). The record names the sha256 of the model file it was compiled
from and of the arrays; loading checks both, and anything that does not match (a model file
replaced, arrays edited, an unknown format) is ignored with a warning: the model is then loaded
and its fast path compiled and verified as before.

Stored: the replayed preprocessing, and a linear model's coefficients or a tree ensemble's
compiled trees. A tree model's batches still use scikit-learn's own predictor (faster for many
rows), loaded on the first batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from ..lineage import file_sha256
from .fastpath import FastPath
from .replay import Group, Impute, Linear, OneHot, Preprocess, Scale, Unsupported
from .trees import CompiledTrees, _Forest

logger = logging.getLogger(__name__)

RECORD_FILE = "fast_path.json"
ARRAYS_FILE = "fast_path.npz"
FORMAT = 1


class NotStorable(Exception):
    """The fast path has a part that is not plain arrays and JSON (e.g. an estimator's own
    predict): it is compiled at load instead."""


def write(fast: FastPath, model_dir: Path, model_file: str, verified: dict[str, Any]) -> bool:
    """Store `fast`, compiled from `model_dir / model_file` and verified as `verified` says;
    False (and nothing written) when it cannot be stored."""
    arrays: dict[str, np.ndarray] = {}

    def array(value: Any) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return key

    try:
        record = {
            "format": FORMAT,
            "model_file": model_file,
            "model_sha256": file_sha256(model_dir / model_file),
            "verified": verified,
            "regressor": fast.regressor,
            "classes": None if fast.classes is None else _values(fast.classes),
            "sources": list(fast.sources),
            "preprocess": _preprocess(fast.transform, array),
            "predictor": _predictor(fast, array),
        }
        json.dumps(record, allow_nan=False)  # only what JSON holds exactly
    except (NotStorable, ValueError) as reason:
        logger.info("Fast path not stored (compiled at load instead): %s", reason)
        return False
    arrays_path = model_dir / ARRAYS_FILE
    np.savez(arrays_path, allow_pickle=False, **arrays)
    record["arrays_sha256"] = file_sha256(arrays_path)
    (model_dir / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return True


def read(model_dir: Path, model_file: str, load_estimator: Callable[[], Any]) -> FastPath | None:
    """The stored fast path when it is there and both digests match; None otherwise (with a
    warning when one was there but does not match). `load_estimator` loads the fitted
    estimator, for a tree model's batches."""
    path = model_dir / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        problem = _mismatch(record, model_dir, model_file)
        if problem is None:
            with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            return _fast_path(record, arrays, load_estimator)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, Unsupported) as error:
        problem = f"it cannot be read ({type(error).__name__}: {error})"
    logger.warning(
        "Ignoring the stored fast path in %s: %s; compiling it at load", model_dir, problem
    )
    return None


def _mismatch(record: dict[str, Any], model_dir: Path, model_file: str) -> str | None:
    if record.get("format") != FORMAT:
        return f"format {record.get('format')!r}, not {FORMAT}"
    if record.get("model_file") != model_file:
        return f"it was compiled from {record.get('model_file')!r}, not {model_file!r}"
    if file_sha256(model_dir / model_file) != record.get("model_sha256"):
        return f"{model_file} is not the file it was compiled from (sha256 differs)"
    if file_sha256(model_dir / ARRAYS_FILE) != record.get("arrays_sha256"):
        return f"{ARRAYS_FILE} is not the file that was verified (sha256 differs)"
    return None


def _values(values: np.ndarray) -> dict[str, Any]:
    """An array of labels or statistics as JSON: its values and its dtype."""
    values = np.asarray(values)
    listed = values.tolist()
    if not all(isinstance(v, str | int | float | bool) or v is None for v in listed):
        raise NotStorable(
            f"values of types JSON does not hold: {sorted({type(v).__name__ for v in listed})}"
        )
    return {"values": listed, "dtype": "object" if values.dtype == object else values.dtype.str}


def _from_values(stored: dict[str, Any]) -> np.ndarray:
    return np.array(stored["values"], dtype=stored["dtype"])


def _preprocess(transform: Any, array: Callable[[Any], str]) -> list[dict[str, Any]]:
    if not isinstance(transform, Preprocess):
        raise NotStorable("the preprocessing is not the replayed ColumnTransformer")
    groups = []
    for group in transform.groups:
        steps = []
        for step in group.steps:
            if isinstance(step, Impute):
                statistics = step.statistics
                if statistics.dtype == object:
                    steps.append({"impute": {"text": _values(statistics)}})
                else:
                    steps.append({"impute": {"numbers": array(statistics)}})
            elif isinstance(step, Scale):
                mean = None if step.mean is None else array(step.mean)
                scale = None if step.scale is None else array(step.scale)
                steps.append({"scale": {"mean": mean, "scale": scale}})
            elif isinstance(step, OneHot):
                categories = [_values(np.array(c, dtype=object))["values"] for c in step.categories]
                steps.append(
                    {
                        "one_hot": {
                            "categories": categories,
                            "strict": step.strict,
                            "dtype": step.dtype,
                        }
                    }
                )
            else:
                raise NotStorable(f"a {type(step).__name__} step")
        groups.append({"columns": list(group.columns), "steps": steps})
    return groups


def _predictor(fast: FastPath, array: Callable[[Any], str]) -> dict[str, Any]:
    if isinstance(fast.trees, CompiledTrees):
        trees = fast.trees
        forests = [
            {
                f.name: array(getattr(forest, f.name)) if f.name != "depth" else forest.depth
                for f in fields(_Forest)
            }
            for forest in trees.forests
        ]
        return {
            "trees": {"link": trees.link, "baseline": array(trees.baseline), "forests": forests}
        }
    if fast.trees is None and isinstance(fast.estimator, Linear):
        linear = fast.estimator
        return {"linear": {"coef": array(linear.coef), "intercept": array(linear.intercept)}}
    raise NotStorable(f"the estimator ({type(fast.estimator).__name__}) predicts with its own code")


def _fast_path(
    record: dict[str, Any], arrays: dict[str, np.ndarray], load_estimator: Callable[[], Any]
) -> FastPath:
    groups = []
    for group in record["preprocess"]:
        steps: list[Impute | Scale | OneHot] = []
        for step in group["steps"]:
            ((kind, spec),) = step.items()
            if kind == "impute":
                text = spec.get("text")
                steps.append(Impute(_from_values(text) if text else arrays[spec["numbers"]]))
            elif kind == "scale":
                steps.append(
                    Scale(
                        *(None if spec[k] is None else arrays[spec[k]] for k in ("mean", "scale"))
                    )
                )
            elif kind == "one_hot":
                categories = tuple(tuple(c) for c in spec["categories"])
                steps.append(OneHot(categories, spec["strict"], spec["dtype"]))
            else:
                raise ValueError(f"unknown step {kind!r}")
        groups.append(Group(tuple(group["columns"]), tuple(steps)))
    classes = None if record["classes"] is None else _from_values(record["classes"])
    regressor = bool(record["regressor"])
    predictor = record["predictor"]
    if "linear" in predictor:
        spec = predictor["linear"]
        estimator: Any = Linear(arrays[spec["coef"]], arrays[spec["intercept"]], classes)
        trees = None
    else:
        spec = predictor["trees"]
        forests = tuple(
            _Forest(**{k: v if k == "depth" else arrays[v] for k, v in forest.items()})
            for forest in spec["forests"]
        )
        trees = CompiledTrees(forests, spec["link"], arrays[spec["baseline"]], regressor)
        estimator = _LoadedOnFirstUse(load_estimator)
    return FastPath(
        Preprocess(tuple(groups)), estimator, trees, tuple(record["sources"]), regressor, classes
    )


class _LoadedOnFirstUse:
    """The fitted estimator behind stored trees, for batches only: requests never load it."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._estimator: Any = None

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        if self._estimator is None:
            self._estimator = self._load()
        return self._estimator.predict(matrix)
