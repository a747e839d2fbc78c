"""Request-sized fast path for the pipeline shape this project trains.

On one row, scikit-learn spends ~4 ms in ColumnTransformer/Pipeline bookkeeping (input checks,
feature-name checks, pandas indexing) around ~50 us of arithmetic; the server around it costs
~1 ms. For online scoring that bookkeeping is the bill. This module replays the *fitted*
preprocessing with plain numpy for the steps it knows (SimpleImputer, StandardScaler,
OneHotEncoder, drop) and hands the matrix to the fitted estimator, or, for a tree ensemble, to
its trees evaluated as arrays (`trees.py`), which replaces scikit-learn's per-tree Python.
Classifiers and regressors alike: which one it is, is read from the estimator.

It is an optimisation, never a second model: `compile_fast_path` returns None for anything it
does not fully understand, and `verified` checks it against the real pipeline (same matrix, same
predictions, including missing values and unseen categories) before it is used. Otherwise
scoring stays on the pipeline's own `predict`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .trees import CompiledTrees, Output, compile_trees

logger = logging.getLogger(__name__)

Columns = dict[str, np.ndarray]
Step = Callable[[np.ndarray], np.ndarray]

# A fast path is used only when it agrees with the pipeline to within this: for a classifier,
# the largest absolute difference between compiled trees' probabilities (its classes must be
# equal); for a regressor, the largest difference between predictions *relative to their
# scale* (the largest |prediction| checked), because its numbers are float sums taken in
# another order than scikit-learn's, and an absolute bound would mean something else for a
# fare in dollars than for a price in millions. 1e-9: nine significant digits either way.
PARITY_TOLERANCE = 1e-9
# Blocks of fewer rows (requests) are one-hot encoded value by value; larger ones (batches) by
# pandas' hash index. Verification covers both (`verified` and `tree_parity`).
SMALL_BLOCK = 256


class Unsupported(Exception):
    """The fitted pipeline has a part the fast path does not replay exactly."""


@dataclass(frozen=True)
class FastPath:
    """Validated columns -> predictions: the replayed preprocessing, then the estimator, or the
    estimator's trees evaluated as arrays (`serving/trees.py`) when it is a tree ensemble."""

    transform: Callable[[Columns], np.ndarray]
    estimator: Any
    # The compiled trees: a classifier's probabilities, or a regressor's predictions.
    trees: Output | None = None
    sources: tuple[str, ...] = ()  # the input column behind each column of the matrix
    regressor: bool = False  # read from the estimator once, at compile time

    def __call__(self, columns: Columns) -> np.ndarray:
        matrix = self.transform(columns)
        if self.trees is None:
            return self.estimator.predict(matrix)
        if self.regressor:
            return self.trees(matrix)
        return np.asarray(self.estimator.classes_)[self.trees(matrix).argmax(axis=1)]

    def predict_many(self, columns: Columns) -> np.ndarray:
        """A batch: the estimator's own predict on the replayed matrix. For many rows scikit-
        learn's compiled tree predictor beats the array trees, and the replayed preprocessing
        still saves its per-column pandas bookkeeping and object-array one-hot encoding."""
        return self.estimator.predict(self.transform(columns))

    def without_trees(self) -> FastPath:
        return replace(self, trees=None)

    @property
    def explains(self) -> bool:
        return isinstance(self.trees, CompiledTrees)

    def explain(self, columns: Columns, predictions: list[Any]) -> list[dict[str, Any]]:
        """Per row: the bias and each input column's contribution to the model's output (a
        classifier's: for the explained class; one-hot columns summed back into the column they
        encode, 0 for a column the model drops). `predictions` are this path's own for
        `columns`. A regressor's explanation has no class: its output is the prediction."""
        if not isinstance(self.trees, CompiledTrees):
            raise ValueError("only verified compiled trees explain their predictions")
        bias, parts = self.trees.contributions(self.transform(columns))
        inputs = list(columns)  # the request's columns, in the schema's order; unused ones get 0
        owner = np.array([inputs.index(source) for source in self.sources])
        per_input = np.zeros((parts.shape[0], len(inputs), parts.shape[2]))
        np.add.at(per_input, (slice(None), owner), parts)
        if self.regressor:  # one output: the prediction (its log for a log-link boosting)
            labels, outputs = [None] * len(predictions), [0] * len(predictions)
        else:
            classes = np.asarray(self.estimator.classes_).tolist()
            if parts.shape[2] == 1:  # binary gradient boosting: one raw score, positive class
                labels, outputs = [classes[1]] * len(predictions), [0] * len(predictions)
            else:  # one output per class: explain the predicted one
                labels, outputs = predictions, [classes.index(label) for label in predictions]
        explanations = []
        for row, (label, output) in enumerate(zip(labels, outputs, strict=True)):
            explanation = {
                "output": self.trees.output,
                "bias": float(bias[output]),
                "contributions": {
                    name: float(per_input[row, index, output]) for index, name in enumerate(inputs)
                },
            }
            explanations.append(explanation if self.regressor else {"class": label, **explanation})
        return explanations


def compile_fast_path(model: Any) -> FastPath | None:
    """The fast path of a fitted pipeline, or None if it is not replayable."""
    from sklearn.base import is_regressor

    try:
        transform, sources = _compile_pipeline(model)
        estimator = model.steps[-1][1]
        trees = compile_trees(estimator)
        return FastPath(transform, estimator, trees, sources, is_regressor(estimator))
    except Unsupported as reason:
        logger.info("Scoring with the pipeline's own predict (no fast path: %s)", reason)
        return None
    except Exception:  # an attribute layout we did not expect: never fail the model load
        logger.exception("Could not compile the fast path; scoring with the pipeline's predict")
        return None


def tree_parity(model: Any, fast: FastPath, frame: pd.DataFrame) -> float:
    """How far the compiled trees are from the pipeline on `frame`, to compare with
    PARITY_TOLERANCE: a classifier's largest absolute difference in probabilities (inf when a
    predicted class differs), a regressor's `relative_difference` in predictions."""
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    if fast.trees is None:
        return 0.0
    if fast.regressor:
        return relative_difference(fast(columns), model.predict(frame))
    ours = fast.trees(fast.transform(columns))
    if not np.array_equal(fast(columns), model.predict(frame)):
        return math.inf
    return float(np.abs(ours - model.predict_proba(frame)).max())


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """The largest |ours - theirs|, as a share of the predictions' scale (their largest
    absolute value; all-zero predictions must then be matched exactly)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return math.inf
    difference = float(np.abs(ours - theirs).max())
    if difference == 0.0:
        return 0.0
    scale = float(np.abs(theirs).max())
    relative = difference / scale if scale > 0 else math.inf
    return relative if math.isfinite(relative) else math.inf  # NaN must not pass as a match


def verified(model: Any, fast: FastPath, frame: pd.DataFrame) -> bool:
    """True when the fast path reproduces the pipeline's matrix and predictions on `frame`
    (a regressor's predictions to within PARITY_TOLERANCE of their scale, a classifier's
    exactly), both as requests (blocks under SMALL_BLOCK rows, `fast(...)`) and as a batch
    (`predict_many`, on `frame` repeated to at least SMALL_BLOCK rows)."""
    batch = pd.concat([frame] * -(-SMALL_BLOCK // len(frame)), ignore_index=True)
    try:
        same = _reproduces(model, fast, frame.iloc[: SMALL_BLOCK - 1], fast) and _reproduces(
            model, fast, batch, fast.predict_many
        )
    except Exception:  # any disagreement in behaviour means: do not use it
        logger.exception("Fast path failed verification; using the pipeline's own predict")
        return False
    if not same:
        logger.warning("Fast path disagrees with the pipeline; using the pipeline's own predict")
    return same


def _reproduces(
    model: Any, fast: FastPath, frame: pd.DataFrame, predict: Callable[[Columns], np.ndarray]
) -> bool:
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    expected_matrix = model[:-1].transform(frame)
    expected_matrix = (
        expected_matrix.toarray() if hasattr(expected_matrix, "toarray") else expected_matrix
    )
    if not np.allclose(fast.transform(columns), expected_matrix, rtol=1e-9, atol=1e-12):
        return False
    ours, theirs = predict(columns), model.predict(frame)
    if fast.regressor:
        return relative_difference(ours, theirs) <= PARITY_TOLERANCE
    return bool(np.array_equal(ours, theirs))


def _compile_pipeline(model: Any) -> tuple[Callable[[Columns], np.ndarray], tuple[str, ...]]:
    """The replayed preprocessing, and the input column behind each column it outputs."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        raise Unsupported("not a two-step Pipeline (ColumnTransformer, estimator)")
    preprocess, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(preprocess, ColumnTransformer):
        raise Unsupported("the first step is not a ColumnTransformer")
    if hasattr(estimator, "feature_names_in_"):
        raise Unsupported("the estimator was fitted on named features (set_output pandas)")
    parts: list[tuple[list[str], list[Step]]] = []
    sources: list[str] = []
    for _, transformer, columns in preprocess.transformers_:
        if (isinstance(transformer, str) and transformer == "drop") or len(columns) == 0:
            continue  # ColumnTransformer skips these too (a selector may match no column)
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise Unsupported("columns are not selected by name")
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        parts.append((list(columns), [_compile_step(step) for _, step in steps]))
        encoders = [step for _, step in steps if isinstance(step, OneHotEncoder)]
        widths = (
            [len(categories) for categories in encoders[0].categories_]
            if encoders
            else [1] * len(columns)
        )
        sources += [name for name, width in zip(columns, widths, strict=True) for _ in range(width)]

    def transform(columns: Columns) -> np.ndarray:
        blocks = []
        for names, steps in parts:
            block = np.column_stack([columns[name] for name in names])
            for step in steps:
                block = step(block)
            blocks.append(block.astype(np.float64, copy=False))
        return np.hstack(blocks)

    return transform, tuple(sources)


def _compile_step(step: Any) -> Step:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if isinstance(step, SimpleImputer):
        return _imputer(step)
    if isinstance(step, StandardScaler):
        return _scaler(step)
    if isinstance(step, OneHotEncoder):
        return _one_hot(step)
    raise Unsupported(f"{type(step).__name__} is not replayed")


def _imputer(imputer: Any) -> Step:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)) or imputer.add_indicator:
        raise Unsupported("SimpleImputer with a non-NaN marker or an indicator")
    statistics = imputer.statistics_
    if statistics.dtype.kind == "f" and np.isnan(statistics).any():
        raise Unsupported("SimpleImputer saw an all-missing column")

    def impute(block: np.ndarray) -> np.ndarray:
        if block.dtype.kind == "O":
            mask = block != block  # scikit-learn's own NaN test for object arrays
            block = block.copy()
        else:
            block = block.astype(np.float64)  # copies, so the caller's arrays stay untouched
            mask = np.isnan(block)
        if mask.any():
            block[mask] = np.broadcast_to(statistics, block.shape)[mask]
        return block

    return impute


def _scaler(scaler: Any) -> Step:
    mean, scale = scaler.mean_, scaler.scale_

    def standardize(block: np.ndarray) -> np.ndarray:
        block = block.astype(np.float64)
        if mean is not None and scaler.with_mean:
            block -= mean
        if scale is not None and scaler.with_std:
            block /= scale
        return block

    return standardize


def _one_hot(encoder: Any) -> Step:
    if encoder.drop is not None or getattr(encoder, "drop_idx_", None) is not None:
        raise Unsupported("OneHotEncoder with drop")
    infrequent = getattr(encoder, "infrequent_categories_", None) or []
    if any(group is not None for group in infrequent):
        raise Unsupported("OneHotEncoder with infrequent categories")
    lookups: list[dict[Any, int]] = []
    indexes: list[pd.Index | None] = []
    for categories in encoder.categories_:
        # A NaN category cannot be a dict key reliably (NaN != NaN); None can, and like in
        # scikit-learn it only matches None. pandas' index would match None and NaN to each
        # other, so a column with a None category is always looked up value by value.
        if any(isinstance(c, float) and math.isnan(c) for c in categories):
            raise Unsupported("OneHotEncoder learnt NaN as a category")
        lookups.append({category: index for index, category in enumerate(categories)})
        learnt_none = any(c is None for c in categories)
        indexes.append(None if learnt_none else pd.Index(categories, dtype=object))
    widths = [len(lookup) for lookup in lookups]
    offsets = np.cumsum([0, *widths[:-1]])
    strict = encoder.handle_unknown == "error"

    def positions(column: int, values: np.ndarray) -> np.ndarray:
        """Each value's category index, -1 when unknown. Both ways match by Python equality,
        as scikit-learn does: a dict per value for a request (an index lookup has ~40 us of
        fixed cost), pandas' hash index for a batch (a million values in ~50 ms, not ~1 s)."""
        index = indexes[column]
        if len(values) < SMALL_BLOCK or index is None:
            lookup = lookups[column]
            return np.array([lookup.get(value, -1) for value in values], dtype=np.intp)
        return index.get_indexer(values.astype(object, copy=False))

    def encode(block: np.ndarray) -> np.ndarray:
        rows = np.arange(block.shape[0])
        out = np.zeros((block.shape[0], sum(widths)), dtype=encoder.dtype)
        for column, offset in enumerate(offsets):
            found = positions(column, block[:, column])
            known = found >= 0
            if strict and not known.all():
                value = block[np.argmin(known), column]
                raise ValueError(f"Found unknown category {value!r} in column {column}")
            out[rows[known], offset + found[known]] = 1
        return out

    return encode
