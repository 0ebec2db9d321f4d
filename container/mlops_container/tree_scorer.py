"""A faster scorer for binary ``HistGradientBoostingClassifier`` models, equal to scikit-learn's ``predict_proba``.

scikit-learn walks each tree with a Cython call per tree (200 calls for the default model, ~1.3 ms per
request before the first row is scored). This scorer evaluates every tree at once with NumPy, using the
QuickScorer idea (Lucchese et al., SIGIR 2015): number each tree's leaves from left to right and hold the
leaves still reachable as one bit each; a node whose test sends a row right ("false node") rules out the
leaves of its left subtree, and the exit leaf is the leftmost leaf no false node ruled out, whatever the
order the nodes are applied in. Per feature, the nodes testing it are sorted by threshold, so the false
nodes of a row are a prefix (``searchsorted``), and a table holds, per prefix length and tree, the AND of
their masks: scoring a row is one lookup per feature and tree, then a sum of leaf values.

Same decisions as scikit-learn (``x <= threshold`` goes left; thresholds and values are the fitted model's
own float64 numbers); only the order the leaf values are summed in differs (within 1e-15). Rows with a
missing value (NaN) go to scikit-learn, which applies each node's learned direction for missing values.
``compile_scorer`` returns ``None`` for what it does not cover (multiclass, categorical splits, trees
with more than 64 leaves, tables over ``MAX_TABLE_BYTES``); callers then use ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

BLOCK_TREES = 256  # trees per lookup table: memory grows with nodes x trees of a block, not of the model
ROW_CHUNK = 256  # rows scored together: the per-feature lookups of a chunk stay in the CPU's cache
MAX_TABLE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class _Block:
    thresholds: list[np.ndarray]  # per feature: its nodes' thresholds, ascending
    offsets: np.ndarray  # per feature: where its rows start in ``table``
    table: np.ndarray  # (sum over features of nodes + 1, trees): AND of the masks of the first k false nodes
    leaf_base: np.ndarray  # per tree: its first leaf's index in ``leaf_values``
    leaf_values: np.ndarray


def _leaves_left_to_right(nodes: np.ndarray) -> list[int]:
    order: list[int] = []
    stack = [0]
    while stack:
        i = stack.pop()
        if nodes[i]["is_leaf"]:
            order.append(i)
        else:
            stack += [int(nodes[i]["right"]), int(nodes[i]["left"])]
    return order


def _subtree_leaves(nodes: np.ndarray, root: int, ordinal: dict[int, int]) -> list[int]:
    out, stack = [], [root]
    while stack:
        i = stack.pop()
        if nodes[i]["is_leaf"]:
            out.append(ordinal[i])
        else:
            stack += [int(nodes[i]["left"]), int(nodes[i]["right"])]
    return out


def _block(trees: list[np.ndarray], n_features: int, dtype: type) -> _Block:
    full = int(np.iinfo(dtype).max)
    per_feature: list[list[tuple[float, int, int]]] = [[] for _ in range(n_features)]
    leaf_values: list[float] = []
    leaf_base = []
    for t, nodes in enumerate(trees):
        order = _leaves_left_to_right(nodes)
        ordinal = {leaf: k for k, leaf in enumerate(order)}
        for i in np.flatnonzero(~nodes["is_leaf"].astype(bool)):
            mask = full
            for k in _subtree_leaves(nodes, int(nodes[i]["left"]), ordinal):
                mask &= ~(1 << k)
            per_feature[int(nodes[i]["feature_idx"])].append((float(nodes[i]["num_threshold"]), t, mask & full))
        leaf_base.append(len(leaf_values))
        leaf_values += [float(v) for v in nodes[order]["value"]]
    thresholds, tables, offsets, start = [], [], [], 0
    for items in per_feature:
        items.sort(key=lambda item: item[0])
        table = np.full((len(items) + 1, len(trees)), full, dtype=dtype)
        for j, (_, t, mask) in enumerate(items):
            table[j + 1] = table[j]
            table[j + 1, t] &= dtype(mask)
        thresholds.append(np.array([item[0] for item in items], dtype=np.float64))
        tables.append(table)
        offsets.append(start)
        start += len(items) + 1
    return _Block(thresholds, np.array(offsets, dtype=np.intp), np.concatenate(tables), np.array(leaf_base, dtype=np.intp), np.array(leaf_values))


class TreeScorer:
    """Positive-class probabilities of a compiled binary ``HistGradientBoostingClassifier`` (see the module doc)."""

    def __init__(self, estimator, blocks: list[_Block], baseline: float, dtype: type) -> None:
        self._estimator, self._blocks, self._baseline, self._dtype = estimator, blocks, baseline, dtype
        bits = np.iinfo(dtype).bits
        # the index of a lone set bit, from its remainder modulo a prime above the word size (37 for 32 bits, 67 for 64)
        self._modulus = 37 if bits == 32 else 67
        self._bit_index = np.zeros(self._modulus, dtype=np.intp)
        for k in range(bits):
            self._bit_index[(1 << k) % self._modulus] = k

    @property
    def table_bytes(self) -> int:
        return sum(b.table.nbytes for b in self._blocks)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D feature matrix, got {X.ndim} dimensions")
        if np.isnan(X).any():  # missing values follow each node's learned direction: scikit-learn's own walk
            return self._estimator.predict_proba(X)[:, 1]
        if len(X) <= ROW_CHUNK:
            return self._chunk(X)
        return np.concatenate([self._chunk(X[i : i + ROW_CHUNK]) for i in range(0, len(X), ROW_CHUNK)])

    def _chunk(self, X: np.ndarray) -> np.ndarray:
        raw = np.full(len(X), self._baseline)
        for block in self._blocks:
            reachable = None
            for f, thresholds in enumerate(block.thresholds):
                if len(thresholds) == 0:
                    continue
                # in range by construction (a feature's rows: one per prefix of its sorted nodes, 0 to all of them), so
                # ``take`` need not check each index: mode="clip" skips NumPy's bounds check (~10 % of the scoring time)
                rows = block.table.take(np.searchsorted(thresholds, X[:, f], side="left") + block.offsets[f], axis=0, mode="clip")
                if reachable is None:
                    reachable = rows
                else:
                    np.bitwise_and(reachable, rows, out=reachable)
            if reachable is None:  # every tree of the block is a single leaf
                raw += block.leaf_values[block.leaf_base].sum()
                continue
            lowest = reachable & (~reachable + self._dtype(1))  # the leftmost reachable leaf's bit
            leaf = self._bit_index[lowest % self._dtype(self._modulus)]
            raw += block.leaf_values[leaf + block.leaf_base].sum(axis=1)
        return expit(raw)


def compile_scorer(estimator) -> Callable[[np.ndarray], np.ndarray] | None:
    """A :class:`TreeScorer` for ``estimator``, or ``None`` when it is not a binary, numeric-split
    ``HistGradientBoostingClassifier`` with at most 64 leaves per tree (then use ``predict_proba``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not isinstance(estimator, HistGradientBoostingClassifier) or getattr(estimator, "n_trees_per_iteration_", 0) != 1:
        return None
    trees = [predictors[0].nodes for predictors in estimator._predictors]
    if any(nodes["is_categorical"].any() for nodes in trees):
        return None
    most_leaves = max((int(nodes["is_leaf"].sum()) for nodes in trees), default=1)
    if most_leaves > 64:
        return None
    dtype = np.uint32 if most_leaves <= 32 else np.uint64
    n_features = int(estimator.n_features_in_)
    internal = [int((~nodes["is_leaf"].astype(bool)).sum()) for nodes in trees]
    # each block's table: a row per internal node of its trees and one per feature, a column per tree
    blocks_bytes = sum((sum(internal[i : i + BLOCK_TREES]) + n_features) * len(trees[i : i + BLOCK_TREES]) for i in range(0, len(trees), BLOCK_TREES))
    if blocks_bytes * np.dtype(dtype).itemsize > MAX_TABLE_BYTES:
        return None
    blocks = [_block(trees[i : i + BLOCK_TREES], n_features, dtype) for i in range(0, len(trees), BLOCK_TREES)]
    return TreeScorer(estimator, blocks, float(np.ravel(estimator._baseline_prediction)[0]), dtype)
