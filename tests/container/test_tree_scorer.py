"""The compiled tree scorer gives scikit-learn's probabilities, on every path a row can take."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from mlops_container import data
from mlops_container.tree_scorer import TreeScorer, compile_scorer


@pytest.fixture(scope="module")
def dataset():
    table = data.builtin_dataset()
    return table.X, table.y


def _fit(dataset, **settings) -> HistGradientBoostingClassifier:
    X, y = dataset
    return HistGradientBoostingClassifier(random_state=0, **settings).fit(X, y)


def _probe_rows(model: HistGradientBoostingClassifier, X: np.ndarray, rng) -> np.ndarray:
    """Training rows, random rows far outside the data, and rows sitting exactly on split thresholds
    (``x <= threshold`` goes left: an off-by-one in the comparison shows here)."""
    thresholds = np.concatenate([p[0].nodes["num_threshold"][~p[0].nodes["is_leaf"].astype(bool)] for p in model._predictors])
    on_thresholds = rng.choice(thresholds, size=(300, X.shape[1]))
    wide = rng.normal(scale=10 * X.std(axis=0) + 1, size=(300, X.shape[1]))
    return np.vstack([X[:600], wide, on_thresholds])


@pytest.mark.parametrize(
    ("settings", "word", "blocks"),
    [
        ({}, np.uint32, 1),  # the platform's default family: up to 31 leaves
        ({"max_depth": 2, "max_iter": 30}, np.uint32, 1),
        ({"max_leaf_nodes": 60, "max_iter": 20, "min_samples_leaf": 2}, np.uint64, 1),  # over 32 leaves: 64-bit masks
        ({"max_iter": 300, "learning_rate": 0.3, "early_stopping": False}, np.uint32, 2),  # two lookup blocks of 256 trees
    ],
)
def test_scores_equal_scikit_learns(dataset, settings, word, blocks):
    model = _fit(dataset, **settings)
    scorer = compile_scorer(model)
    assert isinstance(scorer, TreeScorer)
    assert (scorer._dtype, len(scorer._blocks)) == (word, blocks)  # the path this case is for
    rows = _probe_rows(model, dataset[0], np.random.default_rng(1))
    expected = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(scorer(rows), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scorer(rows[:1]), expected[:1], rtol=0, atol=1e-12)  # one row, as a request sends


def test_missing_values_take_scikit_learns_path(dataset):
    X, y = dataset
    X = X.copy()
    X[::7, 0] = np.nan  # learned with missing values: each node has a direction for them
    model = HistGradientBoostingClassifier(random_state=0, max_iter=50).fit(X, y)
    scorer = compile_scorer(model)
    rows = X[:200]
    np.testing.assert_allclose(scorer(rows), model.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)


def test_what_it_does_not_cover_is_left_to_scikit_learn(dataset):
    X, y = dataset
    assert compile_scorer(LogisticRegression(max_iter=5000).fit(X, y)) is None
    assert compile_scorer(RandomForestClassifier(n_estimators=3).fit(X, y)) is None
    three_classes = np.arange(len(y)) % 3
    assert compile_scorer(HistGradientBoostingClassifier(max_iter=5).fit(X, three_classes)) is None
    categorical = np.column_stack([X[:, :3], np.arange(len(y)) % 4])
    assert compile_scorer(HistGradientBoostingClassifier(max_iter=5, categorical_features=[3]).fit(categorical, y)) is None


def test_the_table_size_bound_is_the_tables_own(dataset, monkeypatch):
    from mlops_container import tree_scorer

    scorer = compile_scorer(_fit(dataset, max_iter=300, learning_rate=0.3, early_stopping=False))
    monkeypatch.setattr(tree_scorer, "MAX_TABLE_BYTES", scorer.table_bytes)
    assert compile_scorer(_fit(dataset, max_iter=300, learning_rate=0.3, early_stopping=False)) is not None
    monkeypatch.setattr(tree_scorer, "MAX_TABLE_BYTES", scorer.table_bytes - 1)
    assert compile_scorer(_fit(dataset, max_iter=300, learning_rate=0.3, early_stopping=False)) is None


def test_a_flat_matrix_is_refused(dataset):
    scorer = compile_scorer(_fit(dataset, max_iter=5))
    with pytest.raises(ValueError, match="2-D"):
        scorer(dataset[0][0])
