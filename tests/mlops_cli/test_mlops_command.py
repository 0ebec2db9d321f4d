"""The data scientist's ``mlops`` command against moto: the real guard function and the real training pipeline definition.

moto runs Lambda functions in Docker only; here the guard (``lambda/start_pipeline``) is created in moto's Lambda (so a
wrong function ARN fails as in AWS) and its invocation runs the function's own ``handle`` in-process against moto's Step
Functions, SSM and SNS, answering with Lambda's Invoke response. The state machine is the training pipeline's definition
as synthesized, run by moto's interpreter through ``tests.sfn_harness`` (see there what it adapts).
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from mlops_cli import cli, work

from tests import guard_harness, sfn_harness
from tests.constructs.test_training_pipeline import ACCOUNT, GROUP, REGION, build, definition_of

GUARD_DIR = Path(__file__).resolve().parents[2] / "lambda" / "start_pipeline"
NS = "/mlops/dev"
ARTIFACTS = "artifacts-bucket"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


RECORDER = guard_harness.Recorder()  # the command's own calls: each must be in work.PERMISSIONS (the sandbox grants them)


@pytest.fixture
def world(stack, monkeypatch):
    definition = definition_of(_template(stack))
    guard_logic = guard_harness.guard_logic(monkeypatch)
    recorder = RECORDER
    recorder.calls.clear()
    with sfn_harness.moto_world(
        monkeypatch,
        region=REGION,
        account=ACCOUNT,
        buckets=["data-bucket", ARTIFACTS],
        group=GROUP,
        topic_name="churn-alerts",
        artifacts_bucket=ARTIFACTS,
        data=("data-bucket", "incoming/2026-11.csv"),
        model=sfn_harness.model_uri(ARTIFACTS, "churn"),
        key_arn=KEY_ARN,
    ) as moto_world:
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="mlops-dev-churn-training",
            definition=json.dumps(sfn_harness.harnessed(definition, model_artifacts=sfn_harness.model_uri(ARTIFACTS, "churn"))),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        guard = guard_harness.create_guard()
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name="/mlops/dev/projects/churn/pipeline/queued-triggers", Value="{}", Type="String")
        published = {
            f"{NS}/sandboxes/alice/churn/artifacts-bucket-name": ARTIFACTS,
            f"{NS}/sandboxes/alice/churn/artifacts-prefix": "sandbox/alice/",
            f"{NS}/sandboxes/alice/churn/key-arn": KEY_ARN,
            f"{NS}/projects/churn/model-package-group-name": GROUP,
            f"{NS}/projects/churn/pipeline/state-machine-arn": machine,
        }
        for name, value in published.items():
            ssm.put_parameter(Name=name, Value=value, Type="String")
        settings = guard_logic.Settings(
            machine,
            f"arn:aws:sns:{REGION}:{ACCOUNT}:churn-alerts",
            "churn",
            "/mlops/dev/projects/churn/pipeline/queued-triggers",
            "sandbox/",
            "mlops-dev-churn",
            "src-0123456789abcdef",
            artifacts_bucket=ARTIFACTS,
        )
        publisher = dataclasses.replace(settings, accepts="published-models")
        guard_harness.adapt_lambda_invoke(monkeypatch, guard_logic, {"mlops-dev-churn-start": settings}, recorder, publisher=publisher)
        yield {"world": moto_world, "machine": machine, "guard": guard, "recorder": recorder, "ssm": ssm}


def _template(stack):
    from aws_cdk.assertions import Template

    build(stack)
    return Template.from_stack(stack)


def _clients() -> dict:
    return {name: boto3.client(name) for name in ("ssm", "s3", "sagemaker")}  # what cli._clients makes


def mlops(*argv: str, **kwargs) -> tuple[int, list[str]]:
    lines: list[str] = []
    RECORDER.paused = False
    try:
        code = _execute(argv, lines, **kwargs)
    finally:
        RECORDER.paused = True
    return code, lines


def _execute(argv, lines, **kwargs) -> int:
    return cli.execute(
        ["--namespace", NS, "--project", "churn", "--user", "alice", *argv],
        clients=_clients(),
        out=lines.append,
        sleep=lambda s: __import__("time").sleep(0.02),
        now=lambda: datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
        git=lambda *a, **k: (_ for _ in ()).throw(OSError("no git here")),
        **kwargs,
    )


@pytest.fixture
def model_archive(tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.skops").write_bytes(b"estimator")
    (folder / "model_metadata.json").write_text("{}")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in folder.iterdir():
            tar.add(f, arcname=f.name)
    return archive


def _evaluation(auc: float) -> None:
    boto3.client("s3").put_object(
        Bucket=ARTIFACTS, Key=f"pipeline/{sfn_harness.RUN_ID}/evaluation/evaluation.json", Body=json.dumps(sfn_harness.report("auc", auc)).encode()
    )


def test_publish_uploads_the_archive_and_the_pipeline_registers_it_pending_approval_with_its_publisher(world, model_archive):
    _evaluation(0.93)
    code, lines = mlops("publish", str(model_archive), "--commit", "0a1b2c3d", "--wait")
    assert code == 0, lines
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    uploaded = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="sandbox/alice/published/")["Contents"]
    assert len(uploaded) == 1 and uploaded[0]["Key"].startswith("sandbox/alice/published/20261125T030000Z-")
    assert s3.head_object(Bucket=ARTIFACTS, Key=uploaded[0]["Key"])["ServerSideEncryption"] == "aws:kms"
    (summary,) = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    metadata = package["CustomerMetadataProperties"]
    assert (metadata["publishedBy"], metadata["publishedFrom"], metadata["codeCommit"], metadata["trigger"]) == (
        "alice",
        uploaded[0]["Key"],
        "0a1b2c3d",
        "publish",
    )
    assert lines[-1] == f"registered: {summary['ModelPackageArn']} (pending approval)"
    made = {(service, operation) for service, operation, _ in world["recorder"].calls}
    assert made <= set(work.PERMISSIONS), made - set(work.PERMISSIONS)
    read = {params["Name"] for service, operation, params in world["recorder"].calls if operation == "GetParameter"}
    assert read <= set(work.Project(NS, "churn", "alice").parameters_read(["dev"]))
    # the upload is the request (the publisher starts the run for the user who wrote it), the run is followed through its
    # record in S3: the command calls S3, SSM and SageMaker only (no Lambda or Step Functions endpoint in the VPC)
    assert {service for service, _ in made} <= {"s3", "ssm", "sagemaker"} and ("s3", "GetObject") in made


def test_a_model_below_the_gate_fails_the_publish_with_the_gate_s_reason(world, model_archive):
    _evaluation(0.5)
    with pytest.raises(work.RunFailed, match="QualityGateFailed: auc did not meet >= 0.8"):
        mlops("publish", str(model_archive), "--wait")
    assert boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []


def test_a_model_folder_is_packed_with_its_files_at_the_archive_root(world, tmp_path):
    folder = tmp_path / "saved"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.skops").write_bytes(b"x")
    (folder / "sub" / "vocab.txt").write_text("a")
    code, _ = mlops("publish", str(folder))
    assert code == 0
    s3 = boto3.client("s3")
    (obj,) = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="sandbox/alice/published/")["Contents"]
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=ARTIFACTS, Key=obj["Key"])["Body"].read())) as tar:
        assert sorted(tar.getnames()) == ["model.skops", "sub/vocab.txt"]


def test_run_starts_a_training_run_then_queues_the_next_behind_it_as_the_user_who_wrote_the_request(world):
    code, lines = mlops("run")
    assert code == 0 and lines[0].startswith("training run started: ")
    first = lines[0].removeprefix("training run started: ")
    execution = boto3.client("stepfunctions").describe_execution(executionArn=first)
    # the requester is the user whose prefix the request was written under (nobody else can write there), not a payload
    assert json.loads(execution["input"])["detail"]["requestedBy"] == "alice"
    (request,) = [
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS, Prefix="sandbox/alice/requests/")["Contents"]
        if o["Key"].endswith("run.json")
    ]
    assert request.startswith("sandbox/alice/requests/20261125T030000Z-")
    code, lines = mlops("run")
    assert code == 0 and lines[0] == f"queued: {first} is running; one follow-up run starts when it ends"
    with pytest.raises(work.RunFailed):  # no evaluation.json here: let the run end inside moto
        work.wait(_clients(), ARTIFACTS, execution["name"], timeout_s=30, poll_s=0.1, sleep=__import__("time").sleep, say=print)
    made = {(service, operation) for service, operation, _ in world["recorder"].calls}
    assert made <= set(work.PERMISSIONS), made - set(work.PERMISSIONS)


def test_a_run_request_nobody_answers_is_a_clear_failure(world, monkeypatch):
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def lost(client, operation, params):  # the request is stored, but its event never reaches the guard
        if operation == "PutObject" and params["Key"].endswith("/run.json"):
            return original(client, operation, {**params, "Key": params["Key"].replace("/run.json", "/lost.json")})
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", lost)
    with pytest.raises(work.RunFailed, match=r"the pipeline did not answer s3://artifacts-bucket/sandbox/alice/requests/.*/run.json within 120 s"):
        mlops("run")


def test_status_shows_packages_approval_origin_and_the_stages_serving_them(world, model_archive):
    _evaluation(0.93)
    assert mlops("publish", str(model_archive), "--commit", "0a1b2c3d", "--wait")[0] == 0
    sagemaker = boto3.client("sagemaker")
    (summary,) = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    world["ssm"].put_parameter(Name="/mlops/prod/projects/churn/endpoint/model-package-arn", Value=summary["ModelPackageArn"], Type="String")
    world["ssm"].put_parameter(Name="/mlops/qa/projects/churn/batch/model-package-arn", Value=summary["ModelPackageArn"], Type="String")
    code, lines = mlops("status", "--stages", "dev,prod,qa")
    assert code == 0
    header, row = lines[1], lines[2]
    assert header.split()[:2] == ["version", "approval"]
    assert "PendingManualApproval" in row and "published by alice at 0a1b2c3d" in row and row.endswith("prod, qa (batch)")
    assert any(line.strip().startswith("publish-") and "SUCCEEDED" in line for line in lines[3:])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["publish", "missing.tar.gz"], "does not exist"),
        (["publish", "notes.txt"], "is not a model archive"),
        (["publish", "empty-folder"], "holds no file"),
        (["publish", "bad.tar.gz"], "is not a readable .tar.gz"),
        (["publish", "escape.tar.gz"], "would extract outside the model folder"),
        (["publish", "absolute.tar.gz"], "member '/etc/model.skops' would extract outside the model folder"),
        (["publish", "symlink.tar.gz"], "member 'model.skops' is a link"),
        (["publish", "hardlink.tar.gz"], "member 'model.skops' is a link"),
        (["publish", "model.tar.gz", "--commit", "HEAD"], "is not a git commit"),
        (["status", "--limit", "0"], "not between 1 and 100"),
        (["status", "--stages", "Prod"], "Prod is not a stage name"),
    ],
)
def test_bad_input_is_a_clear_error_before_anything_is_uploaded(world, model_archive, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "bad.tar.gz").write_bytes(b"not gzip")
    with tarfile.open(tmp_path / "escape.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../outside")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    for archive, name, kind in (
        ("absolute.tar.gz", "/etc/model.skops", tarfile.REGTYPE),
        ("symlink.tar.gz", "model.skops", tarfile.SYMTYPE),
        ("hardlink.tar.gz", "model.skops", tarfile.LNKTYPE),
    ):
        with tarfile.open(tmp_path / archive, "w:gz") as tar:
            tar.addfile(tarfile.TarInfo("model_metadata.json"), io.BytesIO(b""))
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/root/.aws/credentials" if kind != tarfile.REGTYPE else ""
            tar.addfile(info, io.BytesIO(b""))
    (tmp_path / "model.tar.gz").write_bytes(model_archive.read_bytes())
    with pytest.raises(work.UsageError, match=message):
        mlops(*argv)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS, Prefix="sandbox/")


def test_a_user_without_a_sandbox_is_told_so(world, model_archive):
    with pytest.raises(work.UsageError, match="bob has no sandbox in project churn of /mlops/dev"):
        cli.execute(["--namespace", NS, "--project", "churn", "--user", "bob", "publish", str(model_archive)], clients=_clients(), out=print)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--namespace", "mlops/dev"], "is not a stage's SSM namespace"),
        (["--project", "Churn"], "is not a project name"),
        (["--user", ""], "is not a Studio user name"),
    ],
)
def test_bad_settings_name_the_option_and_the_variable(argv, message, monkeypatch):
    monkeypatch.setattr(cli, "studio_user", lambda: None)
    base = {"--namespace": NS, "--project": "churn", "--user": "alice"}
    base[argv[0]] = argv[1]
    with pytest.raises(work.UsageError, match=message):
        cli.execute([*(x for kv in base.items() for x in kv), "status"], clients={}, out=print)


def test_main_turns_errors_into_messages_and_exit_statuses(world, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_clients", lambda region: _clients())
    assert cli.main(["--namespace", NS, "--project", "churn", "--user", "alice", "status", "--limit", "500"]) == 2
    assert "mlops: --limit 500 is not between 1 and 100" in capsys.readouterr().err


def test_a_denied_call_names_the_permission_and_exits_3(world, capsys, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(*args, **kwargs):
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:PutObject"}},
            "PutObject",
        )

    clients = _clients()
    monkeypatch.setattr(clients["s3"], "put_object", denied)
    monkeypatch.setattr(cli, "_clients", lambda region: clients)
    assert cli.main(["--namespace", NS, "--project", "churn", "--user", "alice", "run"]) == 3
    err = capsys.readouterr().err
    assert "your role may not do this" in err and "s3:PutObject" in err and "ask the platform team" in err


def test_the_studio_user_is_the_apps_user_profile(tmp_path):
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"DomainId": "d-1", "UserProfileName": "alice", "SpaceName": "s"}))
    assert cli.studio_user(metadata) == "alice"
    assert cli.studio_user(tmp_path / "missing.json") is None


def test_every_parameter_the_command_reads_is_one_the_stage_publishes(dev):
    """The command finds everything through published SSM parameters: each name it reads for a configured sandbox
    (alice in churn, bob in fraud, dev) is a parameter some dev stack creates, but for the serving it has not."""
    published = {
        r["Properties"]["Name"]
        for template in dev.templates().values()
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter" and isinstance(r["Properties"].get("Name"), str)
    }
    # churn is scored in batch in dev: the endpoint's parameters (its package, and what mlops label reads) are not published
    churn = work.Project(NS, "churn", "alice")
    endpoint = {churn.serving("dev")["endpoint"], churn.endpoint("dev", "name"), churn.endpoint("dev", "monitoring-reports-uri")}
    assert set(churn.parameters_read(["dev"])) - published == endpoint
    assert churn.serving("dev")["batch"] in published
    # fraud is served by a serverless endpoint, unmonitored: its batch parameter and its drift reports are not published
    fraud = work.Project(NS, "fraud", "bob")
    assert set(fraud.parameters_read(["dev"])) - published == {fraud.serving("dev")["batch"], fraud.endpoint("dev", "monitoring-reports-uri")}
    assert fraud.serving("dev")["endpoint"] in published


@pytest.mark.parametrize("name", ["model.joblib", "nested/model.pkl", "estimator.pickle"])
def test_a_pickle_is_refused_before_the_upload_with_how_to_export(world, tmp_path, name):
    folder = tmp_path / "saved"
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"\x80\x04payload")
    (folder / "model.skops").write_bytes(b"x")
    with pytest.raises(work.UsageError, match=r"a pickle: the platform never loads pickles; save it with skops instead: skops.io.dump"):
        mlops("publish", str(folder))
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS, Prefix="sandbox/alice/published/")  # nothing uploaded


def test_an_archive_without_a_skops_model_is_refused(world, tmp_path):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("model_metadata.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(work.UsageError, match="has no model.skops at its root"):
        mlops("publish", str(archive))


def test_the_cli_refuses_what_the_container_refuses():
    """The CLI says it before the upload; the container (the evaluation job, the server) enforces it."""
    from mlops_container import model

    assert work.MODEL_FILE == model.MODEL_FILE
    assert all(name.endswith(work.PICKLE_SUFFIXES) for name in model.PICKLE_FILES)


def test_a_refused_publish_says_why(world, model_archive, monkeypatch):
    """Past the project's bound of publish runs, the publisher leaves a note beside the archive: the command shows it."""
    import sys

    # two publish runs running (MAX_PUBLISH_RUNS defaults to 2): the bound itself is tested with the publisher's own tests
    monkeypatch.setattr(sys.modules["logic"], "_running_publish_runs", lambda sfn, settings: 2)
    with pytest.raises(work.UsageError, match="the pipeline refused the publish: 2 publish runs are running"):
        mlops("publish", str(model_archive))
