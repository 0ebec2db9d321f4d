"""The training entrypoint (SageMaker's contract), the evaluation job and the quality gate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile

import pytest

from config.schema import Metric
from mlops_container import evaluate, metrics, train
from mlops_container.model import FAMILIES, HyperparameterError, TrainedModel, parse_hyperparameters
from tests.container.conftest import make_training_root

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_hyperparameters_arrive_as_strings_and_are_typed():
    hp = parse_hyperparameters({"model_type": "random_forest", "n_estimators": "50", "max_depth": "None", "sagemaker_region": '"x"'})
    assert hp.model_type == "random_forest"
    assert hp.settings == {"n_estimators": 50, "max_depth": None, "min_samples_leaf": 1}
    assert hp.random_state == 42


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"model_type": "xgboost"}, "model_type='xgboost': must be one of logistic_regression, random_forest, gradient_boosting"),
        ({"model_type": "random_forest", "learning_rate": "0.1"}, "unknown hyperparameter(s) learning_rate for model_type=random_forest"),
        ({"model_type": "random_forest", "n_estimators": "many"}, "n_estimators='many': must be an integer"),
        ({"model_type": "random_forest", "n_estimators": "0"}, "n_estimators='0': must be between 1 and 5000"),
        ({"model_type": "logistic_regression", "C": "-1"}, "C='-1': must be in (0.0, 1000000.0]"),
    ],
)
def test_bad_hyperparameters_are_named(raw, expected):
    with pytest.raises(HyperparameterError) as info:
        parse_hyperparameters(raw)
    assert expected in str(info.value)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_trains_and_prints_scrapable_metrics(tmp_path, processed, family, capsys):
    paths = make_training_root(tmp_path, processed, {"model_type": family})
    model = train.run(paths)
    out = capsys.readouterr().out
    scraped = {}
    for definition in train.METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], out)
        assert match, definition
        scraped[definition["Name"]] = float(match.group(1))
    assert scraped["validation:auc"] > 0.9
    assert model.metadata.model_type == family
    loaded = TrainedModel.load(paths.model)
    assert loaded.metadata.features == model.metadata.features and len(loaded.metadata.features) == 30


def _run_train(root) -> subprocess.CompletedProcess:
    env = {"MLOPS_ML_ROOT": str(root), "PYTHONPATH": str(ROOT / "container"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "mlops_container.train"], env=env, capture_output=True, text=True, timeout=120)


def test_train_entrypoint_writes_the_model(tmp_path, processed):
    make_training_root(tmp_path, processed, {"model_type": "logistic_regression"})
    result = _run_train(tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.skops", "model_metadata.json"}
    assert not (tmp_path / "output" / "failure").exists()


def test_train_failure_leaves_a_reason_and_exits_non_zero(tmp_path, processed):
    make_training_root(tmp_path, processed, {"model_type": "gradient_boosting", "learning_rate": "fast"})
    result = _run_train(tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "output" / "failure").read_text() == "hyperparameter learning_rate='fast': must be a number"


def test_train_without_data_fails_with_a_reason(tmp_path):
    result = _run_train(tmp_path)
    assert result.returncode == 1
    assert "no .csv file in this channel" in (tmp_path / "output" / "failure").read_text()


def test_evaluation_reads_model_tar_gz_and_writes_the_gate_input(tmp_path, ml_root, processed):
    archive = tmp_path / "model" / "model.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for f in (ml_root / "model").iterdir():
            tar.add(f, arcname=f.name)
    code = evaluate.main(["--model-dir", str(archive.parent), "--test-dir", str(processed / "test"), "--output-dir", str(tmp_path / "eval")])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert set(report["metrics"]) == {"auc", "accuracy", "f1", "precision", "recall"}
    assert report["metrics"]["auc"] > 0.95
    assert report["binary_classification_metrics"]["auc"] == {"value": report["metrics"]["auc"], "standard_deviation": "NaN"}
    assert report["samples"] == 86


def test_evaluation_scores_the_training_features_for_model_monitor(tmp_path, ml_root, processed):
    """The scored baseline is laid out as Model Monitor reads capture: the endpoint's output first, then its input."""
    from mlops_container import inference
    from mlops_container.data import read_table

    out = tmp_path / "scored"
    code = evaluate.main(
        [
            "--model-dir",
            str(ml_root / "model"),
            "--test-dir",
            str(processed / "test"),
            "--output-dir",
            str(tmp_path / "e"),
            "--baseline-dir",
            str(processed / "baseline"),
            "--scored-baseline-dir",
            str(out),
        ]
    )
    assert code == 0
    features = read_table(processed / "baseline" / "baseline.csv", target=None)
    scored = read_table(out / "baseline.csv", target=None)
    assert scored.features == ["score", *features.features] and len(scored) == len(features)
    assert (scored.X[:, 1:] == features.X).all()
    # the score column holds exactly what the endpoint answers for those rows (text/csv: one score per line)
    model = TrainedModel.load(ml_root / "model")
    served = inference.format_response(model.scores(features.X), "text/csv").decode().split()
    assert [float(v) for v in served] == list(scored.X[:, 0])
    assert json.loads((tmp_path / "e" / "evaluation.json").read_text())["baseline_rows_scored"] == len(features)


def test_a_baseline_that_does_not_fit_the_model_fails_the_evaluation_with_a_reason(tmp_path, ml_root, processed, capsys):
    (tmp_path / "baseline").mkdir()
    lines = (processed / "baseline" / "baseline.csv").read_text().splitlines()
    (tmp_path / "baseline" / "baseline.csv").write_text("\n".join(",".join(line.split(",")[1:]) for line in lines) + "\n")
    code = evaluate.main(
        [
            "--model-dir",
            str(ml_root / "model"),
            "--test-dir",
            str(processed / "test"),
            "--output-dir",
            str(tmp_path / "e"),
            "--baseline-dir",
            str(tmp_path / "baseline"),
            "--scored-baseline-dir",
            str(tmp_path / "scored"),
        ]
    )
    assert code == 1 and "baseline columns differ from the features the model was trained on" in capsys.readouterr().err


def test_evaluation_of_a_single_class_test_set_writes_valid_json(tmp_path, ml_root, processed):
    lines = (processed / "test" / "test.csv").read_text().splitlines()
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "t.csv").write_text("\n".join([lines[0]] + [line for line in lines[1:] if line.startswith("1,")]))
    assert evaluate.main(["--model-dir", str(ml_root / "model"), "--test-dir", str(tmp_path / "test"), "--output-dir", str(tmp_path / "e")]) == 0
    report = json.loads((tmp_path / "e" / "evaluation.json").read_text())  # strict JSON: no NaN literal
    assert report["metrics"]["auc"] is None
    assert metrics.gate(report["metrics"], "auc", 0.5) == (False, "auc is missing from the evaluation: the gate fails")


@pytest.mark.parametrize(
    ("metric", "value", "threshold", "passed"),
    [("auc", 0.80, 0.80, True), ("auc", 0.79, 0.80, False), ("rmse", 0.5, 0.6, True), ("rmse", 0.7, 0.6, False), ("mae", 1.0, 1.0, True)],
)
def test_gate_semantics(metric, value, threshold, passed):
    ok, verdict = metrics.gate({metric: value}, metric, threshold)
    assert ok is passed
    assert f"{metric} = {value:.4f}" in verdict and str(threshold) in verdict


def test_gate_directions_match_the_platform_config():
    assert metrics.HIGHER_IS_BETTER == {m.value: m.higher_is_better for m in Metric}


def test_spot_restart_resumes_from_the_checkpoint_and_only_for_the_same_data(tmp_path, processed, monkeypatch):
    paths = make_training_root(tmp_path, processed, {"model_type": "random_forest", "n_estimators": "20"})
    paths.checkpoints.mkdir()  # SageMaker creates it when the job has a CheckpointConfig
    first = train.run(paths)
    assert (paths.checkpoints / "checkpoint.json").exists()

    def must_not_fit(hp):
        raise AssertionError("fitted again although a checkpoint of the same run exists")

    monkeypatch.setattr(train, "build_estimator", must_not_fit)
    resumed = train.run(paths)
    assert resumed.metadata.validation_metrics == first.metadata.validation_metrics
    assert TrainedModel.load(paths.model).n_features == 30

    monkeypatch.undo()
    lines = (paths.channel("train") / "train.csv").read_text().splitlines()
    (paths.channel("train") / "train.csv").write_text("\n".join(lines[:-20]) + "\n")  # new data: the checkpoint is stale
    fitted = []
    original = train.build_estimator
    monkeypatch.setattr(train, "build_estimator", lambda hp: fitted.append(hp) or original(hp))
    train.run(paths)
    assert len(fitted) == 1


def test_without_a_checkpoint_folder_nothing_is_written(tmp_path, processed):
    paths = make_training_root(tmp_path, processed, {"model_type": "logistic_regression"})
    train.run(paths)
    assert not paths.checkpoints.exists()


def test_hyperparameters_at_their_edges_and_defaults():
    """The one home's parser (mlops_container.hyperparameters), exactly: range ends, none, the default model type, every
    unknown setting named, keys SageMaker adds ignored."""
    from mlops_container import hyperparameters as hp

    family, settings, seed = hp.parse({})
    assert (family, seed) == ("gradient_boosting", 42) and settings == {
        "learning_rate": 0.1,
        "max_iter": 200,
        "max_depth": None,
        "l2_regularization": 0.0,
    }
    assert hp.parse({"model_type": "random_forest", "n_estimators": "1", "min_samples_leaf": "10000", "max_depth": ""})[1] == {
        "n_estimators": 1,
        "max_depth": None,
        "min_samples_leaf": 10000,
    }
    assert hp.parse({"model_type": "logistic_regression", "C": "1000000"})[1]["C"] == 1e6  # the upper end is in
    assert hp.parse({"_tuning_objective": "x", "sagemaker_container_log_level": "20"})[0] == "gradient_boosting"
    for raw, message in (
        ({"model_type": "random_forest", "n_estimators": "5001"}, "hyperparameter n_estimators='5001': must be between 1 and 5000"),
        ({"model_type": "random_forest", "min_samples_leaf": "0"}, "hyperparameter min_samples_leaf='0': must be between 1 and 10000"),
        ({"model_type": "random_forest", "n_estimators": "none"}, "hyperparameter n_estimators='none': must be an integer"),
        ({"model_type": "random_forest", "max_depth": "deep"}, "hyperparameter max_depth='deep': must be an integer"),
        ({"model_type": "logistic_regression", "C": "0"}, "hyperparameter C='0': must be in (0.0, 1000000.0]"),  # the lower end is out
        ({"model_type": "logistic_regression", "C": "x"}, "hyperparameter C='x': must be a number"),
        ({"model_type": "logistic_regression", "C": "1000000.5"}, "hyperparameter C='1000000.5': must be in (0.0, 1000000.0]"),
        (
            {"model_type": "gradient_boosting", "a": "1", "b": "2"},
            "unknown hyperparameter(s) a, b for model_type=gradient_boosting; allowed: l2_regularization, learning_rate, max_depth, max_iter, random_state",
        ),
    ):
        with pytest.raises(hp.HyperparameterError) as info:
            hp.parse(raw)
        assert str(info.value) == message
