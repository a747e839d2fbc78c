"""Load an MLflow model folder once and score validated requests against it.

Shared by the online scoring script (`score.py`) and batch scoring (`batch.py`), so both apply
the same model, the same column order and the same missing-value representation.

Serving needs no settings to know the task: a classifier answers with its labels, a regressor
(`sklearn.base.is_regressor` of the loaded pipeline) with floats; neither sends probabilities.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..drift_reference import REFERENCE_FILE
from . import stored
from .fastpath import PARITY_TOLERANCE, FastPath, compile_fast_path, tree_parity, verified
from .schema import InputSchema, PayloadError

logger = logging.getLogger(__name__)


def find_model_dir(root: Path) -> Path:
    """Return the MLflow model folder under `root`.

    On Azure, AZUREML_MODEL_DIR is `.../azureml-models/<name>/<version>` and a model registered
    from a folder sits one level below it (`.../<version>/<folder>/MLmodel`); locally `serve`
    points it straight at the folder. Accept both, and nothing ambiguous.
    """
    if (root / "MLmodel").is_file():
        return root
    candidates = sorted(path.parent for path in root.glob("*/MLmodel"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f"no MLflow model (an MLmodel file) in {root} or one level below")
    raise FileNotFoundError(f"several MLflow models under {root}: {[str(c) for c in candidates]}")


EXPLAIN_UNAVAILABLE = (
    "explain=true needs a tree model (gradient boosting, random forest, extra trees) served on "
    "its verified compiled trees; this model is scored by its own predict, which has no "
    "per-row contributions"
)
# Compiled trees are used only when their probabilities (a regressor's predictions) match the
# model's on the input example and on this many stored training rows, to within
# PARITY_TOLERANCE (absolute for probabilities, relative to the predictions' scale for a
# regressor: see fastpath.py).
PARITY_ROWS = 1000
# The evaluate step checks the served path again on this many holdout rows (serving_parity).
HOLDOUT_PARITY_ROWS = 10_000


@dataclass
class Model:
    """A loaded model plus the input schema its requests are validated against."""

    predict_fn: Any
    schema: InputSchema
    source: Path
    fast_predict: FastPath | None = None
    # Its predictions are numbers (floats), not class labels. Read from the scikit-learn
    # model; a model of another MLflow flavor answers whatever its predict returns.
    regressor: bool = False
    # How it scores: "stored fast path", "fast path verified at load" or "pipeline predict".
    path: str = "pipeline predict"

    @classmethod
    def load(cls, model_dir: Path) -> Model:
        """Load the model in `model_dir` (or one level below, as Azure mounts it).

        The raw scikit-learn model when there is one: pyfunc's own schema enforcement would
        repeat our validation on every call, at several times the cost."""
        model_dir = find_model_dir(model_dir)
        meta = yaml.safe_load((model_dir / "MLmodel").read_text())
        schema = _schema(model_dir, meta)
        fast_predict = None
        regressor = False
        path = "pipeline predict"
        sklearn_flavor = meta.get("flavors", {}).get("sklearn")
        if sklearn_flavor:
            pipeline = _Pipeline(model_dir, sklearn_flavor)
            predict_fn = pipeline.predict
            fast_predict = stored.read(
                model_dir, sklearn_flavor["pickled_model"], pipeline.estimator
            )
            if fast_predict is not None:
                regressor, path = fast_predict.regressor, "stored fast path"
            else:  # compiled and verified now, with the pipeline loaded
                from sklearn.base import is_regressor

                regressor = is_regressor(pipeline.loaded)
                example = _input_example(model_dir, meta)
                found = _verified_fast_path(pipeline.loaded, schema, example, model_dir)
                if found is not None:
                    fast_predict, path = found[0], "fast path verified at load"
        else:
            import mlflow.pyfunc

            predict_fn = mlflow.pyfunc.load_model(str(model_dir)).predict
        logger.info(
            "Loaded %s from %s (%d input columns, %s)",
            "regressor" if regressor else "model",
            model_dir,
            len(schema.columns),
            path,
        )
        return cls(predict_fn, schema, model_dir, fast_predict, regressor, path)

    def predict(self, frame: pd.DataFrame) -> list[Any]:
        """Predict on a frame already in schema order; values the model itself rejects
        (e.g. an unknown category for a strict encoder) are the client's error, not ours."""
        try:
            predictions = self.predict_fn(frame)
        except ValueError as error:
            raise PayloadError(f"the model could not score this input: {error}") from None
        return self._listed(predictions)

    def predict_columns(self, columns: dict[str, np.ndarray]) -> list[Any]:
        if self.fast_predict is None:
            return self.predict(pd.DataFrame(columns, copy=False))
        try:
            return self._listed(self.fast_predict(columns))
        except ValueError as error:
            raise PayloadError(f"the model could not score this input: {error}") from None

    def predict_batch(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Many rows at once (batch scoring): the verified fast path's matrix into a linear
        model's arrays or the estimator's own predict, else the pipeline's predict. ValueError
        for rows the model rejects."""
        if self.fast_predict is None:
            predictions = np.asarray(self.predict_fn(pd.DataFrame(columns, copy=False)))
        else:
            predictions = np.asarray(self.fast_predict.predict_many(columns))
        return predictions.astype(np.float64, copy=False) if self.regressor else predictions

    def _listed(self, predictions: Any) -> list[Any]:
        """JSON-ready predictions: a regressor's always as floats (float32 or integer output
        of a custom regressor included), a classifier's labels as they are."""
        if self.regressor:
            return np.asarray(predictions, dtype=np.float64).tolist()
        return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)

    def score(
        self,
        raw: str | bytes,
        record: Callable[[dict[str, np.ndarray], list[Any]], None] | None = None,
        *,
        explain: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Score one request body: (200, predictions: class labels, or a regressor's floats)
        or (4xx, a message naming the problem).
        `record` sees the validated inputs and the predictions of every scored request (the
        inference log); rejected requests are not recorded. With `explain`, each row's
        contributions come too (tree models on the verified fast path only)."""
        if explain and not (self.fast_predict is not None and self.fast_predict.explains):
            return 400, {"message": EXPLAIN_UNAVAILABLE}
        try:
            columns = self.schema.parse_columns(raw)
            predictions = self.predict_columns(columns)
        except PayloadError as error:
            return error.status, {"message": error.message}
        if record is not None:
            record(columns, predictions)
        if explain:
            return 200, {
                "predictions": predictions,
                "explanations": self.fast_predict.explain(columns, predictions),
            }
        return 200, {"predictions": predictions}


def read_schema(model_dir: Path) -> InputSchema:
    """The input schema of the model in `model_dir` (or one level below), without loading it."""
    model_dir = find_model_dir(model_dir)
    return _schema(model_dir, yaml.safe_load((model_dir / "MLmodel").read_text()))


def _schema(model_dir: Path, meta: dict[str, Any]) -> InputSchema:
    signature = (meta.get("signature") or {}).get("inputs")
    if not signature:
        raise ValueError(f"{model_dir} has no input signature: save it with one")
    return InputSchema.from_signature(json.loads(signature))


def store_fast_path(pipeline: Any, model_dir: Path) -> bool:
    """At training: compile `pipeline`'s fast path, verify it as loading would, and store it in
    its saved folder `model_dir` (`stored.py`), so serving needs no scikit-learn to use it.
    False when there is none to store (scoring then keeps compiling at load, or the pipeline)."""
    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    flavor = meta["flavors"]["sklearn"]
    schema = _schema(model_dir, meta)
    found = _verified_fast_path(pipeline, schema, _input_example(model_dir, meta), model_dir)
    if found is None:
        return False
    fast, evidence = found
    return stored.write(fast, model_dir, flavor["pickled_model"], evidence)


class _Pipeline:
    """The saved scikit-learn pipeline, loaded on first use: a stored fast path serves without
    it (and without importing scikit-learn at all)."""

    def __init__(self, model_dir: Path, flavor: dict[str, Any]) -> None:
        self.model_dir, self.flavor = model_dir, flavor

    @cached_property
    def loaded(self) -> Any:
        return _load_sklearn(self.model_dir, self.flavor)

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.loaded.predict(frame)

    def estimator(self) -> Any:
        return self.loaded.steps[-1][1]


def _load_sklearn(model_dir: Path, flavor: dict[str, Any]) -> Any:
    """A skops-saved model (the pipeline's format) is loaded with skops directly, honouring the
    trusted types recorded at save time: importing MLflow costs ~80 MB in every server worker
    and batch process. Anything else goes through MLflow's own loader."""
    if flavor.get("serialization_format") == "skops" and not flavor.get("code"):
        import skops.io

        trusted = flavor.get("skops_trusted_types") or []
        return skops.io.load(model_dir / flavor["pickled_model"], trusted=trusted)
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(model_dir))


def _input_example(model_dir: Path, meta: dict[str, Any]) -> pd.DataFrame | None:
    """The input example saved with the model, when it is a split-oriented DataFrame."""
    info = meta.get("saved_input_example_info") or {}
    if info.get("type") != "dataframe" or info.get("pandas_orient", "split") != "split":
        return None
    path = model_dir / info.get("artifact_path", "input_example.json")
    if not path.is_file():
        return None
    example = json.loads(path.read_text())
    return pd.DataFrame(example["data"], columns=example["columns"])


def _verified_fast_path(
    pipeline: Any, schema: InputSchema, example: pd.DataFrame | None, model_dir: Path
) -> tuple[FastPath, dict[str, Any]] | None:
    """The fast path, only if it reproduces the pipeline on the model's own input example,
    varied with a missing value in every optional column and an unseen category in every
    text column, and on up to PARITY_ROWS training rows stored with the model; compiled trees
    only if they also reproduce its probabilities (a regressor's predictions) on those rows
    within PARITY_TOLERANCE. With it, what was checked (rows, the trees' difference)."""
    fast = compile_fast_path(pipeline)
    if fast is None:
        return None
    if example is None or example.empty:
        logger.info("No input example to verify the fast path against; not using it")
        return None
    records = example[schema.names].astype(object).where(example.notna(), None)
    rows = records.to_dict("records")
    for column in schema.columns:
        if column.nullable:
            rows.append({**rows[0], column.name: None})
        if column.type == "string":
            rows.append({**rows[0], column.name: "__category unseen in training__"})
    frame = _frame(schema, rows)
    if frame is None:
        return None
    reference = _reference_rows(model_dir, schema)
    checked = frame if reference is None else pd.concat([frame, reference], ignore_index=True)
    difference = None
    if fast.trees is not None:
        difference = tree_parity(pipeline, fast, checked)
        if difference > PARITY_TOLERANCE:
            logger.warning(
                "Compiled trees differ from the model by %g%s (> %g); using its own predict",
                difference,
                " of the predictions' scale" if fast.regressor else "",
                PARITY_TOLERANCE,
            )
            fast, difference = fast.without_trees(), None
        else:
            logger.info(
                "Compiled trees match the model on %d rows (max |diff| %g)",
                len(checked),
                difference,
            )
    if not verified(pipeline, fast, checked):
        return None
    return fast, {
        "rows": len(checked),
        "tree_difference": difference,
        "tolerance": PARITY_TOLERANCE,
    }


def _frame(schema: InputSchema, rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    try:
        return pd.DataFrame(schema.to_columns(rows), copy=False)
    except PayloadError as error:
        logger.info("Rows do not fit the signature (%s); no fast path", error)
        return None


def _reference_rows(model_dir: Path, schema: InputSchema) -> pd.DataFrame | None:
    """Up to PARITY_ROWS training rows stored with the model (its drift reference)."""
    path = model_dir / REFERENCE_FILE  # the training step writes it into the model folder
    if not path.is_file():
        return None
    return _as_requests(schema, pd.read_parquet(path, columns=schema.names).head(PARITY_ROWS))


def _as_requests(schema: InputSchema, frame: pd.DataFrame) -> pd.DataFrame | None:
    """`frame`'s model columns as validated requests carry them (None where missing, typed by
    the signature); None when they do not fit it."""
    rows = frame[schema.names]
    return _frame(schema, rows.astype(object).where(rows.notna(), None).to_dict("records"))


@dataclass(frozen=True)
class Parity:
    """How the model as served agrees with the evaluated pipeline (`serving_parity`)."""

    rows: int
    path: str  # Model.path: how it is served
    agrees: bool  # same matrix and predictions, as requests and as a batch
    tree_difference: float  # compiled trees' largest difference (0 without them)
    tolerance: float = PARITY_TOLERANCE

    @property
    def holds(self) -> bool:
        return self.agrees and self.tree_difference <= self.tolerance


def serving_parity(model_dir: Path, pipeline: Any, frame: pd.DataFrame) -> Parity | None:
    """Whether `model_dir`, loaded as serving loads it (its stored fast path, else the one
    compiled at load), answers as `pipeline` does on up to HOLDOUT_PARITY_ROWS rows of `frame`
    (the evaluation's holdout, rows neither check has seen). None when it is served by the
    pipeline's own predict, or the rows do not fit its signature."""
    model = Model.load(model_dir)
    if model.fast_predict is None:
        return None
    rows = _as_requests(model.schema, frame.head(HOLDOUT_PARITY_ROWS))
    if rows is None:
        return None
    difference = tree_parity(pipeline, model.fast_predict, rows)
    return Parity(len(rows), model.path, verified(pipeline, model.fast_predict, rows), difference)
