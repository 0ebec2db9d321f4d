"""Models cross trust boundaries (a sandbox's publish is loaded by the pipeline's jobs and endpoints) as skops files with an
allow-list of types, never as pickles: a pickle is refused before anything in it runs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from mlops_container import evaluate, model


def _fitted(family: str):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    settings = {"n_estimators": "5"} if family == "random_forest" else {"max_iter": "20"}
    hp = model.parse_hyperparameters({"model_type": family, **settings})
    return model.build_estimator(hp).fit(X, y), X


def _metadata() -> model.ModelMetadata:
    return model.ModelMetadata(["a", "b", "c", "d"], "target", "x", {}, {}, "1")


@pytest.mark.parametrize("family", sorted(model.FAMILIES))
def test_each_family_is_saved_as_skops_and_loads_with_the_same_scores(tmp_path, family):
    estimator, X = _fitted(family)
    model.TrainedModel(estimator, _metadata()).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model.METADATA_FILE, model.MODEL_FILE])
    loaded = model.TrainedModel.load(tmp_path)
    np.testing.assert_allclose(loaded.scores(X), model.positive_scores(estimator, X), rtol=1e-12)


def test_the_allow_list_is_exactly_what_the_families_need():
    needed = set()
    for family in model.FAMILIES:
        needed |= set(sio.get_untrusted_types(data=sio.dumps(_fitted(family)[0])))
    assert needed == set(model.TRUSTED_TYPES)


class _Payload:
    """What a crafted pickle does: run code as it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_a_pickle_carrying_a_payload_is_refused_and_never_run(tmp_path, capsys):
    folder, marker = tmp_path / "model", tmp_path / "ran"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    (folder / model.METADATA_FILE).write_text(json.dumps(_metadata().__dict__))
    with pytest.raises(model.UnsafeModelError, match=r"model.joblib, a pickle: loading it would run any code inside; save the fitted"):
        model.TrainedModel.load(folder)
    assert not marker.exists()
    # the evaluation job (what a published model meets first) fails with the reason and loads nothing
    code = evaluate.main(["--model-dir", str(folder), "--test-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")])
    assert code == 1 and "a pickle" in capsys.readouterr().err and not marker.exists()


def test_a_pickle_renamed_model_skops_is_refused_and_never_run(tmp_path):
    folder, marker = tmp_path / "model", tmp_path / "ran"
    folder.mkdir()
    (folder / model.MODEL_FILE).write_bytes(pickle.dumps(_Payload(marker)))
    (folder / model.METADATA_FILE).write_text(json.dumps(_metadata().__dict__))
    with pytest.raises(model.UnsafeModelError, match="is not a skops model file"):
        model.TrainedModel.load(folder)
    assert not marker.exists()


def test_a_skops_file_with_a_type_outside_the_allow_list_is_refused(tmp_path):
    from fractions import Fraction

    estimator, _ = _fitted("random_forest")
    estimator.smuggled = Fraction(1, 3)  # any type skops does not trust by default
    path = tmp_path / model.MODEL_FILE
    sio.dump(estimator, path)
    with pytest.raises(model.UnsafeModelError, match=r"types outside the allow-list, which are not loaded: fractions.Fraction"):
        model.load_estimator(path)


def test_an_estimator_the_platform_does_not_serve_is_refused(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(1)
    estimator = DecisionTreeClassifier().fit(rng.normal(size=(20, 2)), np.arange(20) % 2)
    path = tmp_path / model.MODEL_FILE
    sio.dump(estimator, path)
    with pytest.raises(model.UnsafeModelError, match="the platform serves HistGradientBoostingClassifier"):
        model.load_estimator(path)
