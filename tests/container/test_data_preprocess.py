"""Data reading and the preprocessing job."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_container import data, preprocess
from mlops_container.data import DataError


def test_builtin_dataset_ships_with_the_package():
    table = data.builtin_dataset()
    assert table.X.shape == (569, 30) and set(np.unique(table.y)) == {0, 1}
    assert table.features[0] == "mean_radius" and all(" " not in f for f in table.features)


def test_round_trip_keeps_values_and_puts_label_first(tmp_path):
    table = data.builtin_dataset()
    data.write_table(tmp_path / "t.csv", table)
    assert (tmp_path / "t.csv").read_text().splitlines()[0].startswith("target,mean_radius,")
    again = data.read_table(tmp_path / "t.csv")
    assert again.features == table.features
    np.testing.assert_array_equal(again.X, table.X)
    np.testing.assert_array_equal(again.y, table.y)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("a,b\n1,2\n", "no label column 'target'; columns are a, b"),
        ("target,a\n1,x\n", "every value must be numeric"),
        ("target,a,b\n1,2\n", "rows have 2 columns, the header has 3"),
        ("target,a,b\n1,2,3\n1,2\n", "every row must have 3 columns"),
        ("target,a,a\n1,2,3\n", "duplicate column names"),
    ],
)
def test_bad_csv_is_named(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=expected):
        data.read_table(path)


def test_preprocess_writes_stratified_splits_and_a_label_free_baseline(processed):
    sizes = {}
    for split in ("train", "validation", "test"):
        table = data.read_table(processed / split / f"{split}.csv")
        sizes[split] = len(table)
        assert abs(table.y.mean() - 0.627) < 0.03  # the data set's positive rate, kept in every split
    assert sizes == {"train": 398, "validation": 85, "test": 86}
    baseline = data.read_table(processed / "baseline" / "baseline.csv", target=None)
    assert "target" not in baseline.features and len(baseline) == 398


def test_preprocess_is_reproducible(processed, tmp_path):
    data.write_table(tmp_path / "in" / "d.csv", data.builtin_dataset())
    preprocess.run(tmp_path / "in", tmp_path / "out", target="target", validation_fraction=0.15, test_fraction=0.15, seed=42)
    assert (tmp_path / "out" / "test" / "test.csv").read_text() == (processed / "test" / "test.csv").read_text()


def test_preprocess_rejects_non_binary_labels_and_tiny_data(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.csv").write_text("target,a\n" + "\n".join(f"{i % 3},{i}" for i in range(60)))
    assert preprocess.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]) == 1
    assert "must be 0 or 1" in capsys.readouterr().err
    (tmp_path / "in" / "d.csv").write_text("target,a\n" + "\n".join(f"{i % 2},{i}" for i in range(10)))
    assert preprocess.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]) == 1
    assert "at least 30 are needed" in capsys.readouterr().err


def test_preprocess_rejects_missing_values(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    rows = [f"{i % 2},{'nan' if i == 5 else i}" for i in range(60)]
    (tmp_path / "in" / "d.csv").write_text("target,a\n" + "\n".join(rows))
    assert preprocess.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]) == 1
    assert "1 rows hold missing or infinite" in capsys.readouterr().err


def test_preprocess_uses_the_processing_paths_by_default(tmp_path, at_root):
    at_root(tmp_path)
    data.write_table(tmp_path / "processing" / "input" / "data" / "d.csv", data.builtin_dataset())
    assert preprocess.main([]) == 0
    assert (tmp_path / "processing" / "output" / "train" / "train.csv").exists()
