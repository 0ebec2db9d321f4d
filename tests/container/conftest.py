"""Fixtures for the container: a trained model under a temporary /opt/ml, shared by the session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_container import data, preprocess, train
from mlops_container.paths import ML_ROOT_ENV, TrainingPaths


@pytest.fixture(scope="session")
def processed(tmp_path_factory) -> Path:
    """Preprocessing output of the built-in data set."""
    root = tmp_path_factory.mktemp("processing")
    data.write_table(root / "input" / "data.csv", data.builtin_dataset())
    preprocess.run(root / "input", root / "output", target="target", validation_fraction=0.15, test_fraction=0.15, seed=42)
    return root / "output"


def make_training_root(root: Path, processed: Path, hyperparameters: dict) -> TrainingPaths:
    paths = TrainingPaths(root)
    for channel in ("train", "validation"):
        paths.channel(channel).mkdir(parents=True, exist_ok=True)
        (paths.channel(channel) / f"{channel}.csv").write_text((processed / channel / f"{channel}.csv").read_text())
    paths.hyperparameters.parent.mkdir(parents=True, exist_ok=True)
    paths.hyperparameters.write_text(json.dumps(hyperparameters))
    return paths


@pytest.fixture(scope="session")
def ml_root(tmp_path_factory, processed) -> Path:
    """An /opt/ml with a trained default model in ``model/``."""
    root = tmp_path_factory.mktemp("opt_ml")
    paths = make_training_root(root, processed, {"model_type": "logistic_regression"})
    train.run(paths)
    return root


@pytest.fixture
def at_root(monkeypatch):
    def use(root: Path) -> None:
        monkeypatch.setenv(ML_ROOT_ENV, str(root))

    return use
