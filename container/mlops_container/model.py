"""The default model: a scikit-learn pipeline whose family and settings come from hyperparameters.

SageMaker passes every hyperparameter as a string; ``parse_hyperparameters`` turns them into typed
values and names any that is unknown or out of range.

Models are stored with skops (``model.skops``), never as pickles: unpickling runs whatever code the file carries, and a
model crosses trust boundaries here (a sandbox user's ``mlops publish`` is loaded by the pipeline's evaluation job and by
every endpoint that serves it). skops rebuilds only the types it is told to trust: its own defaults (scikit-learn's
estimators, NumPy arrays, builtins) and ``TRUSTED_TYPES``. A file holding any other type, or a pickle, is refused before
anything in it is loaded (https://skops.readthedocs.io/en/stable/persistence.html).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mlops_container import hyperparameters
from mlops_container.hyperparameters import DEFAULT_FAMILY, FAMILIES, HyperparameterError  # noqa: F401 (the training job's names)

MODEL_FILE = "model.skops"
METADATA_FILE = "model_metadata.json"
# Files that are pickles (joblib's and pickle's usual names): refused with how to export the model instead.
PICKLE_FILES = ("model.joblib", "model.pkl", "model.pickle", "model.pck")
# The types the three model families hold that skops does not trust by default (skops.io.get_untrusted_types of each
# family's fitted estimator; tests/container/test_model_format.py keeps this list exact).
TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]
EXPORT_HINT = (
    "save the fitted estimator with skops instead: skops.io.dump(estimator, 'model.skops') beside model_metadata.json "
    "(mlops_container.model.TrainedModel(estimator, metadata).save(folder) writes both)"
)


class UnsafeModelError(ValueError):
    """A model file that loading could run code from (a pickle), or that holds types outside the allow-list."""


@dataclass(frozen=True)
class Hyperparameters:
    model_type: str
    settings: dict[str, Any]
    random_state: int


def parse_hyperparameters(raw: dict[str, Any]) -> Hyperparameters:
    """Typed hyperparameters from SageMaker's string map, by ``mlops_container.hyperparameters`` (their one home, which
    the config schema also checks a project's with at synth)."""
    family, settings, random_state = hyperparameters.parse(raw)
    return Hyperparameters(model_type=family, settings=settings, random_state=random_state)


def build_estimator(hp: Hyperparameters):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if hp.model_type == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(random_state=hp.random_state, **hp.settings))
    if hp.model_type == "random_forest":
        return RandomForestClassifier(random_state=hp.random_state, n_jobs=1, **hp.settings)
    return HistGradientBoostingClassifier(random_state=hp.random_state, **hp.settings)


def positive_scores(estimator, X: np.ndarray) -> np.ndarray:
    """Probability of the positive class (label 1) per row."""
    return estimator.predict_proba(X)[:, 1]


@dataclass(frozen=True)
class ModelMetadata:
    features: list[str]
    target: str
    model_type: str
    hyperparameters: dict[str, Any]
    validation_metrics: dict[str, float]
    sklearn_version: str


class TrainedModel:
    """A fitted estimator and what serving needs to know about it."""

    def __init__(self, estimator, metadata: ModelMetadata) -> None:
        self.estimator = estimator
        self.metadata = metadata

    @property
    def n_features(self) -> int:
        return len(self.metadata.features)

    @cached_property
    def _scorer(self):
        """scikit-learn's ``predict_proba``, or the equal and faster ``tree_scorer`` where it covers the model."""
        from mlops_container.tree_scorer import compile_scorer

        return compile_scorer(self.estimator) or (lambda X: positive_scores(self.estimator, X))

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Probability of the positive class (label 1) per row."""
        return self._scorer(X)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        dump_estimator(self.estimator, directory / MODEL_FILE)
        (directory / METADATA_FILE).write_text(json.dumps(asdict(self.metadata), indent=2))

    @classmethod
    def load(cls, directory: Path) -> TrainedModel:
        """The model saved in ``directory``; ``UnsafeModelError`` for a pickle or a file with types outside the allow-list
        (nothing of such a file is loaded)."""
        pickles = sorted(name for name in PICKLE_FILES if (directory / name).exists())
        if not (directory / MODEL_FILE).exists():
            if pickles:
                raise UnsafeModelError(f"{directory} holds {', '.join(pickles)}, a pickle: loading it would run any code inside; {EXPORT_HINT}")
            raise UnsafeModelError(f"{directory} holds no {MODEL_FILE}; {EXPORT_HINT}")
        metadata = ModelMetadata(**json.loads((directory / METADATA_FILE).read_text()))
        model = cls(load_estimator(directory / MODEL_FILE), metadata)
        model._scorer  # noqa: B018  (compiled once here: a preloading server's workers share it)
        return model


def dump_estimator(estimator, path: Path) -> None:
    import skops.io as sio

    sio.dump(estimator, path)


def load_estimator(path: Path):
    """A fitted estimator of one of ``FAMILIES`` from a skops file, checked before anything in it is built: types outside
    skops' defaults and ``TRUSTED_TYPES`` are refused, and so is an object that is not one of the families' estimators."""
    import skops.io as sio

    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several kinds on a file that is not its format (zip, schema, JSON)
        raise UnsafeModelError(f"{path} is not a skops model file ({type(exc).__name__}: {exc}); {EXPORT_HINT}") from None
    if untrusted:
        raise UnsafeModelError(f"{path} holds types outside the allow-list, which are not loaded: {', '.join(untrusted)}")
    estimator = sio.load(path, trusted=TRUSTED_TYPES)
    if not _is_family(estimator):
        raise UnsafeModelError(
            f"{path} holds a {type(estimator).__module__}.{type(estimator).__qualname__}: the platform serves "
            "HistGradientBoostingClassifier, RandomForestClassifier, or a Pipeline of StandardScaler and LogisticRegression"
        )
    return estimator


def _is_family(estimator) -> bool:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if isinstance(estimator, (HistGradientBoostingClassifier, RandomForestClassifier)):
        return True
    return isinstance(estimator, Pipeline) and [type(step) for _, step in estimator.steps] == [StandardScaler, LogisticRegression]
