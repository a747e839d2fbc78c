"""Tree ensembles evaluated as arrays: every tree of the model at once, one level per step.

scikit-learn's `predict_proba` (or a regressor's `predict`) on one row walks its trees in
Python-level loops and thread-pool set-up, about 3 ms for the default gradient boosting model,
while the arithmetic is microseconds. Here all nodes of all trees are flattened into a few
numpy arrays once (at training, stored with the model by `stored.py`, or at load); a batch of
rows then descends every tree together (`nodes[rows, trees]`), one vectorized step per tree
level, and the leaves are summed as scikit-learn sums them.

Supported: HistGradientBoosting classifiers and regressors (numeric splits, missing values by
each node's `missing_go_to_left`; a regressor's identity or log link) and RandomForest/ExtraTrees
classifiers and single-output regressors. Anything else (categorical splits, other estimators)
compiles to None and scoring keeps the estimator's own predict_proba / predict. It is an
optimisation, never a second model: `serving/fastpath.py` uses it only after it reproduced the
estimator's probabilities (a regressor's predictions) on the model's own rows (see
`tree_parity`).

The same walk gives per-row explanations (`CompiledTrees.contributions`): along a row's path,
each split moves the expected output from the parent's mean to the child's, and that change is
credited to the split's feature (Saabas's method, as the `treeinterpreter` package computes
it). The contributions plus the bias (the roots' means) add up exactly to the model's output:
the raw score for gradient boosting (for a squared-error regressor, the prediction itself), the
probability for forest classifiers, the prediction for forest regressors. Cheaper than TreeSHAP
(one pass over the path), but not order-fair between features that interact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# rows -> class probabilities (rows, classes), or a regressor's predictions (rows,)
Output = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Forest:
    """All trees' nodes, concatenated, each node n at slots 2n (left) and 2n + 1 (right).

    On one row most of the cost is numpy's per-call overhead, so each level is as few calls as
    possible: a node is addressed by its slot 2n, `children[2n + go_right]` is the slot of the
    child, and the per-node arrays are stored at both slots. A leaf's children are itself, so
    every row takes the same number of steps (`depth`, the longest root-to-leaf path) with no
    check of who has arrived.
    """

    roots: np.ndarray  # slots of each tree's first node
    feature: np.ndarray  # per slot
    threshold: np.ndarray  # per slot
    missing_right: np.ndarray  # per slot
    children: np.ndarray  # per slot: the child's slot
    depth: int
    leaf_value: np.ndarray  # per node: (nodes,) or (nodes, classes)
    node_mean: np.ndarray  # per node, (nodes, outputs): the mean output of the rows it saw

    def leaves(
        self,
        X: np.ndarray,
        on_step: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """The leaf each row reaches in each tree: (rows, trees) node indices. `on_step` sees
        each level's parent and child slots, and where the parent's split column sits in the
        flattened rows (row * width + column)."""
        values = np.ascontiguousarray(X).ravel()
        has_missing = bool(np.isnan(values).any())
        # Row r's columns start at r * width in `values`; one row needs no offset at all.
        offset = (np.arange(X.shape[0]) * X.shape[1])[:, None] if X.shape[0] > 1 else None
        slot = np.broadcast_to(self.roots, (X.shape[0], self.roots.size))
        for _ in range(self.depth):
            column = self.feature[slot] if offset is None else self.feature[slot] + offset
            value = values[column]
            go_right = value > self.threshold[slot]  # False for NaN: settled next line
            if has_missing:
                go_right = np.where(np.isnan(value), self.missing_right[slot], go_right)
            child = self.children[slot + go_right]
            if on_step is not None:
                on_step(slot, child, column)
            slot = child
        return slot >> 1

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Summed over trees: the roots' means, and each feature's share of every row's path
        (rows, features, outputs). A leaf's step to itself changes nothing."""
        rows, width = X.shape
        outputs = self.node_mean.shape[1]
        total = np.zeros((rows * width, outputs))

        def credit(parent: np.ndarray, child: np.ndarray, column: np.ndarray) -> None:
            change = self.node_mean[child >> 1] - self.node_mean[parent >> 1]
            for output in range(outputs):
                total[:, output] += np.bincount(
                    column.ravel(), weights=change[..., output].ravel(), minlength=rows * width
                )

        self.leaves(X, on_step=credit)
        bias = self.node_mean[self.roots >> 1].sum(axis=0)
        return bias, total.reshape(rows, width, outputs)


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
    return np.column_stack([1.0 - positive, positive])


def _softmax(raw: np.ndarray) -> np.ndarray:
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# Raw scores (rows, trees per iteration) -> a boosting model's output, as its `predict_proba`
# or `predict` applies it; and what the raw score is to the reader of an explanation.
_LINKS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "logistic": (_sigmoid, "raw score (log-odds of the positive class)"),
    "softmax": (_softmax, "raw score"),
    "identity": (lambda raw: raw[:, 0], "prediction"),
    "log": (lambda raw: np.exp(raw[:, 0]), "raw score (log of the prediction)"),
}
FOREST = "forest"  # the mean over trees of the leaves' values (class shares for a classifier)


@dataclass(frozen=True)
class CompiledTrees:
    """A tree ensemble's output (a classifier's probabilities, a regressor's predictions), and
    the per-row contributions behind it; only arrays, so it can be stored and loaded without
    scikit-learn (`serving/stored.py`)."""

    forests: tuple[_Forest, ...]  # boosting: one per class (trees per iteration); forests: one
    link: str  # a key of _LINKS (boosting), or FOREST
    baseline: np.ndarray  # boosting: the per-class starting raw score; forests: unused
    regressor: bool

    def __post_init__(self) -> None:
        if self.link != FOREST and self.link not in _LINKS:
            raise ValueError(f"unknown link {self.link!r}")

    @property
    def output(self) -> str:
        """What the contributions add up to, for the reader of an explanation."""
        if self.link == FOREST:
            return "prediction" if self.regressor else "probability"
        return _LINKS[self.link][1]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.link == FOREST:
            (forest,) = self.forests
            mean = forest.leaf_value[forest.leaves(_as_float32(X))].mean(axis=1)
            return mean[:, 0] if self.regressor else mean
        X = np.asarray(X, dtype=np.float64)
        raw = np.column_stack([f.leaf_value[f.leaves(X)].sum(axis=1) for f in self.forests])
        return _LINKS[self.link][0](raw + self.baseline)

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bias (outputs,), contributions (rows, features, outputs)): they add up to the
        model's output (boosting: its raw score)."""
        if self.link == FOREST:
            (forest,) = self.forests
            bias, total = forest.contributions(_as_float32(X))
            return bias / forest.roots.size, total / forest.roots.size
        parts = [f.contributions(np.asarray(X, dtype=np.float64)) for f in self.forests]
        bias = np.concatenate([part[0] for part in parts]) + self.baseline
        return bias, np.concatenate([part[1] for part in parts], axis=2)


def _as_float32(X: np.ndarray) -> np.ndarray:
    """scikit-learn's trees compare float32 inputs with their thresholds: so do forests here."""
    return np.asarray(X, dtype=np.float32).astype(np.float64)


def compile_trees(estimator: Any) -> CompiledTrees | None:
    """predict_proba of a classifier, predict of a regressor, as array code; None when
    `estimator` is not a supported ensemble."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    if isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return _boosting(estimator)
    if isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier):
        return _forest(estimator)
    if isinstance(estimator, RandomForestRegressor | ExtraTreesRegressor):
        return _forest(estimator) if estimator.n_outputs_ == 1 else None
    return None


def _flatten(trees: list[dict[str, np.ndarray]]) -> _Forest:
    offsets = np.cumsum([0] + [len(tree["feature"]) for tree in trees[:-1]])

    def joined(key: str, shift: bool = False) -> np.ndarray:
        parts = [
            tree[key] + (offset if shift else 0)
            for tree, offset in zip(trees, offsets, strict=True)
        ]
        return np.concatenate(parts)

    is_leaf = joined("is_leaf").astype(bool)
    own = np.arange(is_leaf.size)
    left = np.where(is_leaf, own, joined("left", shift=True))
    right = np.where(is_leaf, own, joined("right", shift=True))
    roots = offsets.astype(np.intp)

    def per_slot(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, 2)

    return _Forest(
        roots=2 * roots,
        feature=per_slot(joined("feature").astype(np.intp)),
        threshold=per_slot(joined("threshold").astype(np.float64)),
        missing_right=per_slot(~joined("missing_left").astype(bool)),
        children=(2 * np.column_stack([left, right]).ravel()).astype(np.intp),
        depth=_depth(roots, left, right, is_leaf),
        leaf_value=joined("value"),
        node_mean=joined("mean").reshape(is_leaf.size, -1),
    )


def _node_means(tree: dict[str, np.ndarray], count: np.ndarray) -> np.ndarray:
    """Each node's mean output: its leaves' values weighted by how many training rows reached
    them. Children come after their parent in scikit-learn's node order, so one backward pass."""
    mean = tree["value"].astype(np.float64).copy()
    for node in range(len(mean) - 1, -1, -1):
        if not tree["is_leaf"][node]:
            left, right = tree["left"][node], tree["right"][node]
            mean[node] = (count[left] * mean[left] + count[right] * mean[right]) / (
                count[left] + count[right]
            )
    return mean


def _depth(roots: np.ndarray, left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray) -> int:
    """Steps from the roots to the deepest leaf of any tree."""
    level, steps = roots, 0
    while True:
        inner = level[~is_leaf[level]]
        if inner.size == 0:
            return steps
        level = np.concatenate([left[inner], right[inner]])
        steps += 1


def _boosting(model: Any) -> CompiledTrees | None:
    """Raw score = baseline + the leaf values of every iteration's tree, per class; then the
    model's own link (`_link`)."""
    from sklearn.base import is_regressor

    link = _link(model)
    if link is None:
        return None
    per_class: list[list[dict[str, np.ndarray]]] = [[] for _ in range(model.n_trees_per_iteration_)]
    for iteration in model._predictors:
        for klass, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                return None
            leaf = nodes["is_leaf"].astype(bool)
            per_class[klass].append(
                {
                    "feature": np.where(leaf, 0, nodes["feature_idx"]),
                    "threshold": nodes["num_threshold"],
                    "left": nodes["left"],
                    "right": nodes["right"],
                    "missing_left": nodes["missing_go_to_left"],
                    "is_leaf": leaf,
                    "value": nodes["value"].astype(np.float64),
                }
            )
            tree = per_class[klass][-1]
            tree["mean"] = _node_means(tree, nodes["count"].astype(np.float64))
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    forests = tuple(_flatten(trees) for trees in per_class)
    return CompiledTrees(forests, link, baseline, is_regressor(model))


def _link(model: Any) -> str | None:
    """The key in _LINKS of the model's link; None for a regressor's link other than identity
    (squared or absolute error, quantile) or log (poisson, gamma)."""
    from sklearn.base import is_regressor

    if not is_regressor(model):
        return "logistic" if model.n_trees_per_iteration_ == 1 else "softmax"
    from sklearn._loss.link import IdentityLink, LogLink

    link = model._loss.link
    if isinstance(link, IdentityLink):
        return "identity"
    if isinstance(link, LogLink):
        return "log"
    return None


def _forest(model: Any) -> CompiledTrees:
    """The mean over trees of each leaf's class shares (scikit-learn's soft vote), or of each
    leaf's value for a regressor (the mean target of the training rows that reached it)."""
    from sklearn.base import is_regressor

    regressor = is_regressor(model)
    trees = []
    for member in model.estimators_:
        tree = member.tree_
        leaf = tree.children_left == -1
        values = tree.value[:, 0, :].astype(np.float64)  # (nodes, classes), or (nodes, 1)
        if not regressor:
            values = values / values.sum(axis=1, keepdims=True)
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
        trees.append(
            {
                "feature": np.where(leaf, 0, tree.feature),
                "threshold": tree.threshold,
                "left": np.where(leaf, 0, tree.children_left),
                "right": np.where(leaf, 0, tree.children_right),
                "missing_left": missing,
                "is_leaf": leaf,
                "value": values,
                "mean": values,  # a node's value is already the mean over its training rows
            }
        )
    return CompiledTrees((_flatten(trees),), FOREST, np.zeros(0), regressor)
