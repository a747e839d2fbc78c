"""The fitted preprocessing, and linear models, replayed as plain numpy arrays.

`SimpleImputer`, `StandardScaler`, `OneHotEncoder` (in a ColumnTransformer, by column name) and
`LogisticRegression`, `LinearRegression`, `Ridge` hold nothing but arrays once fitted: here
they are frozen dataclasses of those arrays, built from the fitted objects at compile time
(scikit-learn imported) or from the arrays stored with the model (`stored.py`, no scikit-learn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]
# Blocks of fewer rows (requests) are one-hot encoded value by value; larger ones (batches) by
# pandas' hash index. Verification covers both (`verified` and `tree_parity`).
SMALL_BLOCK = 256


class Unsupported(Exception):
    """The fitted pipeline has a part the fast path does not replay exactly."""


def compile_preprocess(model: Any) -> Preprocess:
    """The fitted Pipeline's ColumnTransformer replayed; Unsupported when it is not one this
    module replays exactly."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        raise Unsupported("not a two-step Pipeline (ColumnTransformer, estimator)")
    preprocess, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(preprocess, ColumnTransformer):
        raise Unsupported("the first step is not a ColumnTransformer")
    if hasattr(estimator, "feature_names_in_"):
        raise Unsupported("the estimator was fitted on named features (set_output pandas)")
    groups = []
    for _, transformer, columns in preprocess.transformers_:
        if (isinstance(transformer, str) and transformer == "drop") or len(columns) == 0:
            continue  # ColumnTransformer skips these too (a selector may match no column)
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise Unsupported("columns are not selected by name")
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        groups.append(Group(tuple(columns), tuple(_compile_step(step) for _, step in steps)))
    return Preprocess(tuple(groups))


def _compile_step(step: Any) -> Impute | Scale | OneHot:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if isinstance(step, SimpleImputer):
        missing = step.missing_values
        if not (isinstance(missing, float) and math.isnan(missing)) or step.add_indicator:
            raise Unsupported("SimpleImputer with a non-NaN marker or an indicator")
        statistics = step.statistics_
        if statistics.dtype.kind == "f" and np.isnan(statistics).any():
            raise Unsupported("SimpleImputer saw an all-missing column")
        return Impute(statistics)
    if isinstance(step, StandardScaler):
        return Scale(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)
    if isinstance(step, OneHotEncoder):
        if step.drop is not None or getattr(step, "drop_idx_", None) is not None:
            raise Unsupported("OneHotEncoder with drop")
        infrequent = getattr(step, "infrequent_categories_", None) or []
        if any(group is not None for group in infrequent):
            raise Unsupported("OneHotEncoder with infrequent categories")
        categories = tuple(tuple(np.asarray(c, dtype=object).tolist()) for c in step.categories_)
        return OneHot(categories, step.handle_unknown == "error", np.dtype(step.dtype).name)
    raise Unsupported(f"{type(step).__name__} is not replayed")


@dataclass(frozen=True)
class Impute:
    """SimpleImputer: each column's missing values (NaN, or NaN/None in text) by its statistic."""

    statistics: np.ndarray  # float64, or object (text) per column

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if block.dtype.kind == "O":
            mask = block != block  # scikit-learn's own NaN test for object arrays
            block = block.copy()
        else:
            block = block.astype(np.float64)  # copies, so the caller's arrays stay untouched
            mask = np.isnan(block)
        if mask.any():
            block[mask] = np.broadcast_to(self.statistics, block.shape)[mask]
        return block


@dataclass(frozen=True)
class Scale:
    """StandardScaler: None for a part it was told not to apply."""

    mean: np.ndarray | None
    scale: np.ndarray | None

    def __call__(self, block: np.ndarray) -> np.ndarray:
        block = block.astype(np.float64)
        if self.mean is not None:
            block -= self.mean
        if self.scale is not None:
            block /= self.scale
        return block


@dataclass(frozen=True)
class OneHot:
    """OneHotEncoder (no drop, no infrequent groups): one column per learnt category."""

    categories: tuple[tuple[Any, ...], ...]  # per input column, as plain Python values
    strict: bool  # handle_unknown="error": an unseen value is refused, not all zeros
    dtype: str

    def __post_init__(self) -> None:
        for categories in self.categories:
            # A NaN category cannot be a dict key reliably (NaN != NaN); None can, and like
            # in scikit-learn it only matches None.
            if any(isinstance(c, float) and math.isnan(c) for c in categories):
                raise Unsupported("OneHotEncoder learnt NaN as a category")
        widths = [len(categories) for categories in self.categories]
        object.__setattr__(self, "_widths", widths)
        object.__setattr__(self, "_offsets", np.cumsum([0, *widths[:-1]]))
        lookups = [{c: index for index, c in enumerate(cs)} for cs in self.categories]
        object.__setattr__(self, "_lookups", lookups)
        # pandas' index would match None and NaN to each other, so a column with a None
        # category is always looked up value by value.
        indexes = [
            None if any(c is None for c in cs) else pd.Index(cs, dtype=object)
            for cs in self.categories
        ]
        object.__setattr__(self, "_indexes", indexes)

    def positions(self, column: int, values: np.ndarray) -> np.ndarray:
        """Each value's category index, -1 when unknown. Both ways match by Python equality,
        as scikit-learn does: a dict per value for a request (an index lookup has ~40 us of
        fixed cost), pandas' hash index for a batch (a million values in ~50 ms, not ~1 s)."""
        index = self._indexes[column]
        if len(values) < SMALL_BLOCK or index is None:
            lookup = self._lookups[column]
            return np.array([lookup.get(value, -1) for value in values], dtype=np.intp)
        return index.get_indexer(values.astype(object, copy=False))

    def __call__(self, block: np.ndarray) -> np.ndarray:
        rows = np.arange(block.shape[0])
        out = np.zeros((block.shape[0], sum(self._widths)), dtype=self.dtype)
        for column, offset in enumerate(self._offsets):
            found = self.positions(column, block[:, column])
            known = found >= 0
            if self.strict and not known.all():
                value = block[np.argmin(known), column]
                raise ValueError(f"Found unknown category {value!r} in column {column}")
            out[rows[known], offset + found[known]] = 1
        return out


@dataclass(frozen=True)
class Group:
    """One ColumnTransformer entry: its input columns and the steps applied to them in turn."""

    columns: tuple[str, ...]
    steps: tuple[Impute | Scale | OneHot, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        """The input column behind each output column (a one-hot column's is the encoded one)."""
        encoders = [step for step in self.steps if isinstance(step, OneHot)]
        widths = [len(c) for c in encoders[0].categories] if encoders else [1] * len(self.columns)
        return tuple(
            name for name, width in zip(self.columns, widths, strict=True) for _ in range(width)
        )


@dataclass(frozen=True)
class Preprocess:
    """The fitted ColumnTransformer replayed: each group's block, side by side."""

    groups: tuple[Group, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(source for group in self.groups for source in group.sources)

    def __call__(self, columns: Columns) -> np.ndarray:
        blocks = []
        for group in self.groups:
            block = np.column_stack([columns[name] for name in group.columns])
            for step in group.steps:
                block = step(block)
            blocks.append(block.astype(np.float64, copy=False))
        return np.hstack(blocks)


@dataclass(frozen=True)
class Linear:
    """A fitted linear model as its arrays, so it predicts without scikit-learn imported."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray | None  # None for a regressor

    @classmethod
    def of(cls, estimator: Any) -> Linear | None:
        """The arrays of an estimator whose predict is exactly `predict` below (scikit-learn
        1.9's LinearClassifierMixin and LinearModel), else None; verification checks it too."""
        from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

        if type(estimator) not in (LogisticRegression, LinearRegression, Ridge):
            return None  # a subclass may predict differently
        classes = getattr(estimator, "classes_", None)
        return cls(
            np.asarray(estimator.coef_, dtype=np.float64),
            np.asarray(estimator.intercept_, dtype=np.float64),
            None if classes is None else np.asarray(classes),
        )

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        coef = self.coef.T if self.coef.ndim == 2 else self.coef
        scores = matrix @ coef + self.intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        if self.classes is None:
            return scores
        chosen = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes.take(chosen, axis=0)
