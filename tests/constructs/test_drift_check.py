"""DriftCheck: the scheduled check's state machine, run in moto with its real planner and analyzer over local mode's capture.

moto runs no Lambda without Docker: ``sfn_harness.functions_in_process`` has it call the two functions' own handlers in
this process (the planner's ``logic.handle`` and the image's ``mlops_container.check.handle``) with the payload the state
machine evaluated, against the same moto S3 and CloudWatch. Everything else is the synthesized definition."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aws_cdk as cdk
import boto3
import numpy as np
import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from config.schema import STATE_TRANSITIONS_PER_RUN
from mlops_constructs.data_quality_monitor import DriftAlarm
from mlops_constructs.drift_check import DriftAnalyzerProps, DriftCheck, DriftCheckProps, QualityCheckProps
from mlops_constructs.sagemaker_permissions import VpcPlacement
from tests import sfn_harness

ACCOUNT, REGION = "123456789012", "us-east-1"
CAPTURE, ARTIFACTS, ENDPOINT = "capture-bucket", "artifacts-bucket", "mlops-dev-churn"
BASELINE = f"s3://{ARTIFACTS}/pipeline/0a1b2c3d/baseline"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
NAMESPACE = "/aws/sagemaker/Endpoint/data-metrics"
FEATURES = ["mean_radius", "worst_area"]


QUALITY = QualityCheckProps(
    metric="auc",
    threshold=0.75,
    min_labels=50,
    label_delay_hours=1,
    labels_prefix=f"ground-truth/{ENDPOINT}/",
    alarm_name="mlops-dev-churn-drift-dev-quality:auc",
)


def _build(quality: bool = False, runner: str = "auto") -> tuple[dict, dict]:
    app = cdk.App()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account=ACCOUNT, region=REGION))
    buckets = {name: s3.Bucket.from_bucket_name(stack, name, name) for name in (CAPTURE, ARTIFACTS)}
    bucket = buckets.__getitem__
    check = DriftCheck(
        stack,
        "Check",
        props=DriftCheckProps(
            endpoint_name=ENDPOINT,
            schedule="cron(3 * ? * * *)",
            alert_topic=sns.Topic.from_topic_arn(stack, "Topic", f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"),
            drift_alarms=[DriftAlarm(f, 0.1) for f in FEATURES],
            alarm_name_prefix="mlops-dev-churn-drift-dev-",
            failure_name="mlops-dev-churn-monitor-failed",
            analyzer=DriftAnalyzerProps(
                name=f"{ENDPOINT}-dq",
                repository=ecr.Repository.from_repository_name(stack, "Repo", "mlops-dev-churn"),
                image_tag="src-0123456789abcdef",
                baseline_uri=BASELINE,
                baseline_bucket=bucket(ARTIFACTS),
                baseline_key=kms.Key.from_key_arn(stack, "RegistryKey", KEY),
                reads=[(bucket(CAPTURE), f"{ENDPOINT}/")],
                work_bucket=bucket(CAPTURE),
                work_prefix=f"monitoring/{ENDPOINT}/",
                key=kms.Key.from_key_arn(stack, "Key", KEY),
                metrics_namespace=NAMESPACE,
                endpoint_name=ENDPOINT,
                vpc=VpcPlacement("vpc-0123456789abcdef0", ["subnet-0123456789abcdef0"], "sg-0123456789abcdef0"),
                capture_prefix=f"{ENDPOINT}/{ENDPOINT}/AllTraffic/",
                quality=QUALITY if quality else None,
                runner=runner,
            ),
        ),
    )
    resolved = stack.resolve(check.state_machine.node.default_child.definition_string)
    template = Template.from_stack(stack).to_json()
    return resolved, template


@pytest.fixture(scope="module")
def built_plain() -> tuple[dict, dict]:
    return _build()


@pytest.fixture(scope="module")
def built_with_quality() -> tuple[dict, dict]:
    return _build(quality=True)


@pytest.fixture
def quality() -> bool:
    """Whether the check also scores model quality (a test parametrizes it to True)."""
    return False


@pytest.fixture
def built(quality, request) -> tuple[dict, dict]:
    return request.getfixturevalue("built_with_quality" if quality else "built_plain")


def done_history(described: dict) -> list[dict]:
    return boto3.client("stepfunctions").get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]


def _functions(template: dict) -> dict[str, dict]:
    """Logical id -> environment of the two functions."""
    return {
        lid: r["Properties"]["Environment"]["Variables"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and "Drift check" in r["Properties"].get("Description", "")
    }


def _definition(resolved: dict, names: dict[str, str]) -> str:
    """The definition with the functions' ARNs in place of their tokens (and the pseudo parameters)."""
    parts = []
    for part in resolved["Fn::Join"][1]:
        if isinstance(part, str):
            parts.append(part)
        elif "Fn::GetAtt" in part and part["Fn::GetAtt"][0] in names:
            parts.append(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{names[part['Fn::GetAtt'][0]]}")
        elif "Fn::GetAtt" in part:  # the analysis role, which the processing job's state names
            parts.append(f"arn:aws:iam::{ACCOUNT}:role/{part['Fn::GetAtt'][0]}")
        else:
            parts.append({"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}[part["Ref"]])
    return "".join(parts)


@pytest.fixture
def executing(monkeypatch):
    """moto with Step Functions executing definitions and Lambda without Docker (its simple backend)."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOTO_LAMBDA_STUB_ECR", "TRUE")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def world(executing, built, tmp_path, monkeypatch):
    from mlops_container import capture, check, monitor

    resolved, template = built
    envs = _functions(template)
    (planner_id,) = [lid for lid, env in envs.items() if "MANIFEST_PREFIX" in env]
    (analyzer_id,) = [lid for lid, env in envs.items() if "CHECK_NAME" in env]
    names = {planner_id: "planner", analyzer_id: "analyzer"}
    s3c, sfn, cw = boto3.client("s3"), boto3.client("stepfunctions"), boto3.client("cloudwatch")
    for bucket in (CAPTURE, ARTIFACTS):
        s3c.create_bucket(Bucket=bucket)
    boto3.client("sns").create_topic(Name="alerts")  # the failure notification's topic
    # the baseline, as the pipeline's baseline job writes it (the project analyzer over the training features)
    rng = np.random.default_rng(7)
    data = tmp_path / "train"
    data.mkdir()
    (data / "baseline.csv").write_text("mean_radius,worst_area\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in rng.normal(size=(500, 2))))
    monitor.suggest_baseline(data, tmp_path / "baseline")
    for name in ("statistics.json", "constraints.json"):
        s3c.upload_file(str(tmp_path / "baseline" / name), ARTIFACTS, f"pipeline/0a1b2c3d/baseline/{name}")

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    logic = sfn_harness.load_lambda(monkeypatch, "drift_check_plan")
    settings = {"now": logic.Settings.from_env(envs[planner_id])}

    def use_runner(runner: str) -> None:
        settings["now"] = logic.Settings.from_env({**envs[planner_id], "RUNNER": runner})

    analyzer_env = check.Environment.from_env({**envs[analyzer_id], "KMS_KEY_ARN": KEY})
    clock = {"now": hour + timedelta(hours=1, minutes=5)}
    invoked = {"planner": 0, "analyzer": 0}

    def planner(event: dict) -> dict:
        invoked["planner"] += 1
        return logic.handle(event, s3=s3c, sfn=sfn, settings=settings["now"], log=lambda *a, **k: None, now=clock["now"])

    def analyzer(event: dict) -> dict:
        invoked["analyzer"] += 1
        return check.handle(event, s3=s3c, env=analyzer_env, tmp=tmp_path)

    sfn_harness.functions_in_process(monkeypatch, {"planner": planner, "analyzer": analyzer})
    role = f"arn:aws:iam::{ACCOUNT}:role/sfn"
    definition = _definition(resolved, names)
    machine = sfn.create_state_machine(name=f"{ENDPOINT}-dq", roleArn=role, definition=definition)["stateMachineArn"]
    # moto cannot wait for a job (.sync): the job path runs in a copy that starts it and goes on
    without_sync = sfn.create_state_machine(
        name=f"{ENDPOINT}-dq-nosync", roleArn=role, definition=definition.replace("createProcessingJob.sync", "createProcessingJob")
    )["stateMachineArn"]
    machines = {"now": machine}

    def traffic(rows: np.ndarray) -> Path:
        """Captured as local mode captures it (the serving container's writer), then uploaded as SageMaker writes it."""
        root = tmp_path / f"capture-{time.monotonic_ns()}"
        writer = capture.CaptureWriter(root, endpoint=ENDPOINT, variant="AllTraffic")
        for a, b in rows:
            writer.write(f"{a:.4f},{b:.4f}".encode(), "text/csv", b"0.5\n", "text/csv")
        writer.close()
        for path in root.rglob("*.jsonl"):
            s3c.upload_file(str(path), CAPTURE, f"{ENDPOINT}/{path.relative_to(root).as_posix()}")
        return root

    def start() -> str:
        return sfn.start_execution(stateMachineArn=machines["now"], name=f"run-{time.monotonic_ns()}", input="{}")["executionArn"]

    def jobs_without_waiting() -> None:
        machines["now"] = without_sync

    def run() -> dict:
        return wait(start())

    def wait(arn: str) -> dict:
        for _ in range(400):
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.025)
        raise AssertionError("the execution did not end")

    def state() -> str | None:
        try:
            return json.loads(s3c.get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/state.json")["Body"].read())["checked_until"]
        except s3c.exceptions.NoSuchKey:
            return None

    def drift(feature: str) -> list[float]:
        got = cw.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=f"feature_baseline_drift_{feature}",
            Dimensions=[{"Name": "Endpoint", "Value": ENDPOINT}, {"Name": "MonitoringSchedule", "Value": f"{ENDPOINT}-dq"}],
            StartTime=datetime.now(UTC) - timedelta(hours=2),
            EndTime=datetime.now(UTC) + timedelta(hours=2),
            Period=3600,
            Statistics=["Maximum"],
        )
        return [p["Maximum"] for p in got["Datapoints"]]

    return {
        "hour": hour,
        "cw": cw,
        "traffic": traffic,
        "run": run,
        "start": start,
        "use_runner": use_runner,
        "jobs_without_waiting": jobs_without_waiting,
        "wait": wait,
        "state": state,
        "drift": drift,
        "clock": clock,
        "invoked": invoked,
        "s3": s3c,
        "rng": rng,
        "training": data,
        "tmp": tmp_path,
    }


def test_drift_in_local_modes_capture_lands_in_cloudwatch_under_the_alarms_metric(world, built):
    _, template = built
    world["traffic"](world["rng"].normal(loc=[1.5, 0.0], size=(300, 2)))  # mean_radius shifted, worst_area not
    done = world["run"]()
    assert done["status"] == "SUCCEEDED", done
    period = world["hour"].strftime("%Y%m%dT%H%M%SZ")
    summary = json.loads(world["s3"].get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/{period}/summary.json")["Body"].read())
    assert summary["rows"] == 300 and summary["drifted_features"] == ["mean_radius"]
    assert max(world["drift"]("mean_radius")) > 0.1 and max(world["drift"]("worst_area")) < 0.1
    alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    alarm = alarms["mlops-dev-churn-drift-dev-mean_radius"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, "feature_baseline_drift_mean_radius")
    assert world["state"]() == (world["hour"] + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # recorded after the check
    entered = [e for e in done_history(done) if e["type"].endswith("StateEntered")]
    assert len(entered) == STATE_TRANSITIONS_PER_RUN  # what make bench-check and make cost price a run at


def test_a_period_without_traffic_is_no_data_and_a_checked_period_is_not_checked_again(world):
    done = world["run"]()
    assert done["status"] == "SUCCEEDED", done
    period = world["hour"].strftime("%Y%m%dT%H%M%SZ")
    summary = json.loads(world["s3"].get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/{period}/summary.json")["Body"].read())
    assert summary["status"] == "no data" and summary["violations"] == 0
    assert world["drift"]("mean_radius") == []  # no metric: no data is not drift (the alarm treats missing data as fine)
    calls = dict(world["invoked"])
    assert world["run"]()["status"] == "SUCCEEDED"
    assert world["invoked"]["analyzer"] == calls["analyzer"]  # the period is checked: nothing is due


def test_a_failed_period_is_caught_up_by_the_next_run(world):
    s3c, key = world["s3"], "pipeline/0a1b2c3d/baseline/statistics.json"
    statistics = s3c.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()
    s3c.delete_object(Bucket=ARTIFACTS, Key=key)  # the check cannot run
    world["traffic"](world["rng"].normal(size=(50, 2)))
    assert world["run"]()["status"] == "FAILED"
    assert world["state"]() == world["hour"].strftime("%Y-%m-%dT%H:%M:%SZ")  # not advanced: the period stays due
    s3c.put_object(Bucket=ARTIFACTS, Key=key, Body=statistics)  # restored; an hour later the next run checks both periods
    world["clock"]["now"] += timedelta(hours=1)
    second = world["run"]()
    assert second["status"] == "SUCCEEDED", second
    first = world["hour"].strftime("%Y%m%dT%H%M%SZ")
    summary = json.loads(s3c.get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/{first}/summary.json")["Body"].read())
    assert summary["rows"] == 50  # the failed period, checked once, with its traffic
    assert world["state"]() == (world["hour"] + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_local_modes_drift_step_and_the_scheduled_check_write_the_same_files(world):
    """The same capture and training data through local mode's drift step (``local.drift_check``) and through the
    scheduled check in moto: Model Monitor's three files are the same, byte for byte."""
    from mlops_container import local

    captured = world["traffic"](world["rng"].normal(loc=[0.8, 0.1], size=(200, 2)))
    assert world["run"]()["status"] == "SUCCEEDED"
    period = world["hour"].strftime("%Y%m%dT%H%M%SZ")
    run_dir = world["tmp"] / "local-run"
    local.drift_check(world["training"], captured, run_dir)
    for name in ("statistics.json", "constraints.json", "constraint_violations.json"):
        scheduled = world["s3"].get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/{period}/{name}")["Body"].read()
        assert scheduled == (run_dir / "monitoring" / name).read_bytes(), name


def test_overlapping_runs_make_one_check(world):
    world["traffic"](world["rng"].normal(size=(20, 2)))
    first, second = world["start"](), world["start"]()
    assert {world["wait"](first)["status"], world["wait"](second)["status"]} == {"SUCCEEDED"}
    assert world["invoked"]["analyzer"] == 1  # one run checked the period; the other found it checking, or checked


def test_a_large_period_runs_as_a_processing_job_the_api_accepts(world, monkeypatch):
    """Past lambda_max_mb (here: forced) the period goes to a processing job: the request the state machine makes is valid
    for SageMaker's API model, reads the period's manifest and carries the same request the function would get."""
    from fidelity.api_model import Report, input_shape, validate

    world["use_runner"]("job")
    world["jobs_without_waiting"]()
    world["traffic"](world["rng"].normal(size=(30, 2)))
    recorder = sfn_harness.CallRecorder()
    with recorder.recording(monkeypatch):
        done = world["run"]()
    assert done["status"] == "SUCCEEDED", done
    (request,) = [params for _, operation, params in recorder.calls if operation == "CreateProcessingJob"]
    report = Report()
    validate(input_shape("sagemaker", "CreateProcessingJob"), request, "the check's job", report)
    assert report.errors == []
    data, baseline = request["ProcessingInputs"]
    period = world["hour"].strftime("%Y%m%dT%H%M%SZ")
    assert data["S3Input"] == {
        **data["S3Input"],
        "S3DataType": "ManifestFile",
        "S3Uri": f"s3://{CAPTURE}/monitoring/{ENDPOINT}/manifests/{period}.json",
    }
    assert baseline["S3Input"]["S3Uri"] == BASELINE
    check_request = json.loads(request["Environment"]["CHECK_REQUEST"])
    assert check_request["format"] == "capture" and check_request["output"] == f"s3://{CAPTURE}/monitoring/{ENDPOINT}/{period}"
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["check"] and request["ProcessingJobName"].startswith(f"{ENDPOINT}-dq-")
    assert request["NetworkConfig"]["VpcConfig"]["Subnets"] == ["subnet-0123456789abcdef0"]  # jobs run in the VPC


@pytest.mark.parametrize("quality", [True])
def test_model_quality_is_scored_once_its_labels_had_time_to_arrive_and_its_alarm_reads_the_metric(world, built):
    """Predictions captured in an hour and labels written for them: the check scores the period one label delay later,
    with the project's metric, publishes it and the counts, writes quality.json, and records the period as checked."""
    from mlops_container import capture

    _, template = built
    s3c, hour, rng = world["s3"], world["hour"], world["rng"]
    truth = rng.integers(0, 2, size=200)
    scores = np.clip(truth * 0.6 + rng.uniform(0, 0.4, size=200), 0, 1)  # a good model: auc near 1
    when = hour + timedelta(minutes=10)
    captured = "\n".join(
        json.dumps(capture.capture_record(b"1.0,2.0", "text/csv", f"{s:.4f}\n".encode(), "text/csv", event_id=f"ev-{i}", when=when))
        for i, s in enumerate(scores)
    )
    s3c.put_object(Bucket=CAPTURE, Key=f"{ENDPOINT}/{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}/10-00-000-a.jsonl", Body=captured.encode())
    labelled = range(150)  # 50 never labelled
    labels = "\n".join(
        json.dumps({"groundTruthData": {"data": str(int(truth[i])), "encoding": "CSV"}, "eventMetadata": {"eventId": f"ev-{i}"}, "eventVersion": "0"})
        for i in labelled
    )
    s3c.put_object(Bucket=CAPTURE, Key=f"ground-truth/{ENDPOINT}/{hour:%Y/%m/%d/%H}/labels.jsonl", Body=labels.encode())

    first = world["run"]()  # an hour after: the drift check of the hour; its quality is not due for another hour
    assert first["status"] == "SUCCEEDED", first
    period = hour.strftime("%Y%m%dT%H%M%SZ")
    assert "Contents" not in s3c.list_objects_v2(Bucket=CAPTURE, Prefix=f"monitoring/{ENDPOINT}/quality/{period}/")
    world["clock"]["now"] += timedelta(hours=1)
    second = world["run"]()
    assert second["status"] == "SUCCEEDED", second
    report = json.loads(s3c.get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/quality/{period}/quality.json")["Body"].read())
    assert report["counts"] == {"matched": 150, "unmatched": 50, "late": 0, "elsewhere": 0, "duplicates": 0, "malformed": 0}
    assert report["status"] == "passed" and report["value"] > 0.95 and report["threshold"] == 0.75
    stamp = (hour + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = json.loads(s3c.get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/quality-state.json")["Body"].read())
    assert state == {"checked_until": stamp}

    def metric(name: str, statistic: str = "Minimum") -> list[float]:
        got = world["cw"].get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "Endpoint", "Value": ENDPOINT}, {"Name": "MonitoringSchedule", "Value": f"{ENDPOINT}-dq"}],
            StartTime=datetime.now(UTC) - timedelta(hours=2),
            EndTime=datetime.now(UTC) + timedelta(hours=2),
            Period=3600,
            Statistics=[statistic],
        )
        return [p[statistic] for p in got["Datapoints"]]

    assert metric("model_quality_auc") == [report["value"]]
    assert metric("model_quality_matched", "Sum") == [150.0] and metric("model_quality_unmatched", "Sum") == [50.0]
    # the alarm reads exactly that metric, below the bar, retraining through the drift prefix
    (alarm,) = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm" and "quality" in r["Properties"]["AlarmName"]
    ]
    assert (alarm["AlarmName"], alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        QUALITY.alarm_name,
        NAMESPACE,
        "model_quality_auc",
        "Minimum",
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (0.75, "LessThanThreshold", "notBreaching")
    assert alarm["Dimensions"] == [{"Name": "Endpoint", "Value": ENDPOINT}, {"Name": "MonitoringSchedule", "Value": f"{ENDPOINT}-dq"}]
    # a third run an hour later has a new quality period, without predictions: no metric, nothing alarms
    world["clock"]["now"] += timedelta(hours=1)
    assert world["run"]()["status"] == "SUCCEEDED"
    later = (hour + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    quiet = json.loads(s3c.get_object(Bucket=CAPTURE, Key=f"monitoring/{ENDPOINT}/quality/{later}/quality.json")["Body"].read())
    assert (quiet["status"], quiet["value"]) == ("no labels", None)
    assert metric("model_quality_auc") == [report["value"]]


def test_a_check_that_runs_in_lambda_only_starts_no_job_and_may_not():
    """monitoring.runner lambda: no processing-job state, so nothing of the check runs in the VPC (the stage needs no
    monitoring endpoint for it), and its state machine's role may neither start jobs nor pass the analysis' role."""
    lambda_only, template = _build(runner="lambda")
    text = json.dumps(lambda_only)
    assert "createProcessingJob" not in text and "CheckInLambda" in text and "CheckRunner" not in text
    statements = [
        s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy" for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {"sagemaker:CreateProcessingJob", "iam:PassRole", "events:PutRule"} & actions
    auto, auto_template = _build()  # the default: the planner picks the runner by size, a job above lambda_max_mb
    assert "createProcessingJob" in json.dumps(auto) and "CheckRunner" in json.dumps(auto)
