"""Local mode: the whole loop into a run folder, its options, and its failure messages."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from mlops_container import data, local
from mlops_container.capture import read_records


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    code = local.main(["--out", str(out), "--requests", "24", "--batch-size", "5", "--no-nginx", "--label-fraction", "1", "--min-labels", "5"])
    run_dir = next(out.iterdir())
    return code, run_dir, json.loads((run_dir / "summary.json").read_text())


def test_full_loop_succeeds_and_summarizes(clean_run, capsys):
    code, run_dir, summary = clean_run
    assert code == 0
    assert summary["data"]["splits"] == {"train": 398, "validation": 85, "test": 86}
    assert summary["gate"]["passed"] and summary["metrics"]["auc"] > 0.9
    assert summary["traffic"]["requests"] == 24 and summary["traffic"]["errors"] == 0
    assert summary["traffic"]["rows"] == 12 * 1 + 12 * 5
    assert summary["drift"]["drifted_features"] == [] and summary["drift"]["malformed"] == 0
    for path in (
        "artifacts/model.tar.gz",
        "evaluation/evaluation.json",
        "logs/train.log",
        "logs/serve.log",
        "opt_ml/processing/output/baseline/baseline.csv",
        "scored-baseline/baseline.csv",
        "monitoring/report.html",
        "monitoring/constraint_violations.json",
    ):
        assert (run_dir / path).exists(), path


def test_the_quality_check_raises_the_alarm_when_the_world_changes_and_the_inputs_do_not(clean_run, capsys):
    """Every request labelled from the held-out truth; in the second period 60% of the labels flip. The inputs did not
    move (no drift), the model's auc did: the first period passes, the second falls below the gate's 0.75."""
    from mlops_container import quality

    code, run_dir, summary = clean_run
    q = summary["quality"]
    assert code == 0 and summary["drift"]["drifted_features"] == [] and q["alarm"]
    first, second = q["periods"]
    assert (first["status"], second["status"]) == ("passed", "below threshold")
    assert first["value"] > 0.9 and second["value"] < 0.75 and second["threshold"] == 0.75
    assert first["counts"]["matched"] == second["counts"]["matched"] == 12 and first["counts"]["unmatched"] == 0
    assert first["rows"] + second["rows"] == summary["traffic"]["rows"]  # every row labelled, scored in its own period
    (labels,) = (run_dir / "ground-truth").rglob("*.jsonl")
    assert re.fullmatch(r"ground-truth/local-endpoint/\d{4}/\d{2}/\d{2}/\d{2}/labels\.jsonl", labels.relative_to(run_dir).as_posix())
    assert all(quality.parse_label(line)[0].startswith(("p1-", "p2-")) for line in labels.read_text().splitlines())
    assert json.loads((run_dir / "quality" / "quality.json").read_text()) == q["periods"]
    page = (run_dir / "quality" / "quality.html").read_text()
    assert page.count("<tr><td>") == 2 and "<polyline" in page and "below threshold" in page


def test_every_request_is_captured_in_hourly_folders(clean_run):
    _, run_dir, summary = clean_run
    records = read_records(run_dir / "capture")
    assert summary["capture"]["records"] == len(records) == 24
    for folder in summary["capture"]["folders"]:
        assert re.fullmatch(r"capture/local-endpoint/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}", folder), folder
    kinds = {r["captureData"]["endpointInput"]["observedContentType"] for r in records}
    assert kinds == {"text/csv", "application/json"}


def test_drift_shifts_the_named_features_only(processed):
    test = data.read_table(processed / "test" / "test.csv")
    train = data.read_table(processed / "train" / "train.csv")
    shifted, names = local.drift(test, train)
    assert names == train.features[:5]
    for j in range(test.X.shape[1]):
        moved = abs(shifted.X[:, j].mean() - test.X[:, j].mean()) / train.X[:, j].std()
        assert (moved > 1.5) if j < 5 else moved == 0


def test_drifted_run_sends_shifted_traffic(tmp_path):
    code = local.main(["--out", str(tmp_path), "--requests", "8", "--drift", "--no-nginx", "--hp", "model_type=logistic_regression"])
    assert code == 0
    summary = json.loads(next(tmp_path.iterdir()).joinpath("summary.json").read_text())
    assert summary["traffic"]["drifted_features"] == ["mean_radius", "mean_texture", "mean_perimeter", "mean_area", "mean_smoothness"]
    assert summary["model"]["type"] == "logistic_regression"
    assert summary["drift"]["drifted_features"] == summary["traffic"]["drifted_features"]


def test_failed_gate_serves_nothing_and_exits_3(tmp_path):
    code = local.main(["--out", str(tmp_path), "--threshold", "0.9999", "--no-nginx"])
    summary = json.loads(next(tmp_path.iterdir()).joinpath("summary.json").read_text())
    assert code == 3
    assert summary["gate"]["passed"] is False and "required >= 0.9999" in summary["gate"]["verdict"]
    assert "traffic" not in summary


def test_bad_hyperparameter_names_the_step_and_reason(tmp_path, capsys):
    assert local.main(["--out", str(tmp_path), "--hp", "model_type=svm"]) == 1
    err = capsys.readouterr().err
    assert "local mode failed at step 'train': hyperparameter model_type='svm': must be one of" in err


def test_own_csv_is_checked_first(tmp_path, capsys):
    bad = tmp_path / "mine.csv"
    bad.write_text("label,x\n1,2\n")
    assert local.main(["--out", str(tmp_path / "out"), "--csv", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "local mode failed at step 'data'" in err and "no label column 'target'; columns are label, x" in err


def test_own_csv_with_its_label_column(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    rows = "\n".join(f"{a},{b},{c},{d},{label}" for (a, b, c, d), label in zip(X, y))
    (tmp_path / "mine.csv").write_text("f1,f2,f3,f4,churned\n" + rows)
    code = local.main(["--out", str(tmp_path / "out"), "--csv", str(tmp_path / "mine.csv"), "--target", "churned", "--requests", "4", "--no-nginx"])
    assert code == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--requests", "0"], "--requests"),
        (["--hp", "novalue"], "name=value"),
        (["--metric", "logloss"], "invalid choice"),
        (["--label-fraction", "0"], "--label-fraction must be more than 0"),
        (["--world-change", "1.5"], "--world-change must be between 0 and 1"),
        (["--min-labels", "0"], "--min-labels must be between"),
        (["--requests", "1"], "--quality needs at least 2 requests"),
    ],
)
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        local.parse_args(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_local_mode_logs_its_run_to_a_local_store(clean_run, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # to read the local store back here

    _, run_dir, summary = clean_run
    tracked = summary["mlflow"]
    assert tracked["tracking_uri"] == (run_dir / "mlruns").resolve().as_uri() and tracked["run_id"]
    run = mlflow.MlflowClient(tracking_uri=tracked["tracking_uri"]).get_run(tracked["run_id"])
    assert run.info.run_name == f"local-train-{run_dir.name}" and "validation_auc" in run.data.metrics


@pytest.mark.parametrize("forked", [True, False], ids=["forked from the step server", "fresh interpreter"])
def test_a_step_runs_as_python_dash_m_runs_it(forked, processed, tmp_path, monkeypatch):
    """Steps are forked from a process that has made their imports (Linux) or run as fresh interpreters (elsewhere):
    either way a step gets its environment, its arguments and its log, and gives its exit status; a failure's reason
    and an exception's traceback reach the log."""
    monkeypatch.setattr(local, "_forked_steps", lambda: forked)
    input_dir = tmp_path / "in"
    input_dir.mkdir()
    (input_dir / "data.csv").write_text((processed / "train" / "train.csv").read_text())
    env = {**os.environ, "PYTHONPATH": str(local.PACKAGE_ROOT), "MLOPS_TEST_MARK": "seen"}
    args = ["--input-dir", str(input_dir), "--output-dir", str(tmp_path / "out")]
    assert local.run_module("mlops_container.preprocess", args, env=env, log=tmp_path / "ok.log") == 0
    assert '"preprocessing"' in (tmp_path / "ok.log").read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["baseline", "test", "train", "validation"]

    assert local.run_module("mlops_container.preprocess", [*args, "--target", "nope"], env=env, log=tmp_path / "bad.log") == 1
    assert "preprocessing failed: " in (tmp_path / "bad.log").read_text()

    probe = tmp_path / "probe.py"  # an exception, and what the step saw of its environment and arguments
    probe.write_text("import os, sys\nprint(os.environ['MLOPS_TEST_MARK'], sys.argv[1:])\nraise RuntimeError('boom')\n")
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    assert local.run_module("probe", ["a", "b"], env=env, log=tmp_path / "probe.log") == 1
    text = (tmp_path / "probe.log").read_text()
    assert "seen ['a', 'b']" in text and "RuntimeError: boom" in text and "Traceback" in text
