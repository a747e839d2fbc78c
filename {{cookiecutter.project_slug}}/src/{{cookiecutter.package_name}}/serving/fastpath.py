"""Request-sized fast path for the pipeline shape this project trains.

On one row, scikit-learn spends ~4 ms in ColumnTransformer/Pipeline bookkeeping (input checks,
feature-name checks, pandas indexing) around ~50 us of arithmetic; the server around it costs
~1 ms. For online scoring that bookkeeping is the bill. The fast path replays the *fitted*
preprocessing with plain numpy for the steps it knows (`replay.py`: SimpleImputer,
StandardScaler, OneHotEncoder, drop) and hands the matrix to the estimator: a linear model's own
arrays, a tree ensemble's trees evaluated as arrays (`trees.py`, replacing scikit-learn's
per-tree Python), or else the fitted estimator itself. Classifiers and regressors alike: which
one it is, is read from the estimator.

It is an optimisation, never a second model: `compile_fast_path` returns None for anything it
does not fully understand, and `verified` checks it against the real pipeline (same matrix, same
predictions, including missing values and unseen categories) before it is used, at training
(then stored with the model, `stored.py`) or at load. Otherwise scoring stays on the pipeline's
own `predict`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .replay import SMALL_BLOCK, Columns, Linear, Unsupported, compile_preprocess
from .trees import CompiledTrees, Output, compile_trees

logger = logging.getLogger(__name__)


# A fast path is used only when it agrees with the pipeline to within this: for a classifier,
# the largest absolute difference between compiled trees' probabilities (its classes must be
# equal); for a regressor, the largest difference between predictions *relative to their
# scale* (the largest |prediction| checked), because its numbers are float sums taken in
# another order than scikit-learn's, and an absolute bound would mean something else for a
# fare in dollars than for a price in millions. 1e-9: nine significant digits either way.
PARITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FastPath:
    """Validated columns -> predictions: the replayed preprocessing, then the estimator, or the
    estimator's trees evaluated as arrays (`serving/trees.py`) when it is a tree ensemble."""

    transform: Callable[[Columns], np.ndarray]
    # Anything with `predict(matrix)`: the fitted estimator, or its `Linear` arrays.
    estimator: Any
    # The compiled trees: a classifier's probabilities, or a regressor's predictions.
    trees: Output | None = None
    sources: tuple[str, ...] = ()  # the input column behind each column of the matrix
    regressor: bool = False  # read from the estimator once, at compile time
    classes: np.ndarray | None = None  # a classifier's labels, in its output order

    def __call__(self, columns: Columns) -> np.ndarray:
        matrix = self.transform(columns)
        if self.trees is None:
            return self.estimator.predict(matrix)
        if self.regressor:
            return self.trees(matrix)
        return np.asarray(self.classes)[self.trees(matrix).argmax(axis=1)]

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
            classes = np.asarray(self.classes).tolist()
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
        transform = compile_preprocess(model)
        estimator = model.steps[-1][1]
        regressor = is_regressor(estimator)
        return FastPath(
            transform,
            Linear.of(estimator) or estimator,
            compile_trees(estimator),
            transform.sources,
            regressor,
            None if regressor else np.asarray(estimator.classes_),
        )
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
