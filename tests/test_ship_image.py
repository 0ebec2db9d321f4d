"""The image's tag and the delivery pipeline's image steps (tools/ship_image.py) against moto's ECR and the real guard.

Docker is not here: the runner records each command, and ``docker push`` puts the image's manifest into moto's ECR
under the pushed repository and tag, as a registry receiving the push would, and starts its scan (moto does not scan
on push, as ECR does for repositories with scan on push).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
import requests

from config.image import CONTAINER_DIR, IMAGE_SOURCES, content_tag
from tests import guard_harness

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT, REGION = "123456789012", "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
REPOSITORIES = ["mlops-dev-churn", "mlops-dev-fraud"]
TAG = "src-0123456789abcdef"


def _tool():
    spec = importlib.util.spec_from_file_location("ship_image", ROOT / "tools" / "ship_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ship_image = _tool()


class Docker:
    """Records the commands; a push lands in moto's ECR. ``fail``: the command (first word after docker) that fails."""

    def __init__(self, fail: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail = fail

    def __call__(self, argv, input=None, text=True):  # noqa: A002 - subprocess.run's keyword
        self.commands.append(argv)
        if argv[1] == self.fail:
            return subprocess.CompletedProcess(argv, 1)
        if argv[1] == "login":
            assert input and argv[-1] == REGISTRY
        if argv[1] == "push":
            repository, tag = argv[2].removeprefix(f"{REGISTRY}/").split(":")
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + "0" * 64},
            }
            ecr = boto3.client("ecr")
            ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
            if not tag.startswith("commit-"):  # scan on push scans an image once (its second tag adds no image)
                ecr.start_image_scan(repositoryName=repository, imageId={"imageTag": tag})
        return subprocess.CompletedProcess(argv, 0)


@pytest.fixture
def ecr(aws):
    client = boto3.client("ecr")
    for name in REPOSITORIES:
        client.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True})
    return client


def _ship(ecr, docker: Docker) -> bool:
    return ship_image.ship(ecr, REGISTRY, REPOSITORIES, TAG, runner=docker, sleep=lambda s: None, wait_s=30)


def test_a_new_image_is_built_tested_inside_and_pushed_to_every_repository(ecr):
    docker = Docker()
    assert _ship(ecr, docker) is True
    verbs = [c[1] for c in docker.commands]
    assert verbs == ["build", "run", "login", "tag", "push", "tag", "push"]
    assert docker.commands[0][-1] == str(CONTAINER_DIR)
    assert "mlops_container.local" in docker.commands[1]  # the image's own loop, inside it
    for name in REPOSITORIES:
        assert ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": TAG}])["imageDetails"]


def test_a_pushed_image_also_carries_the_commit_it_was_built_from(ecr, capsys):
    docker = Docker()
    assert ship_image.ship(ecr, REGISTRY, REPOSITORIES, TAG, runner=docker, commit="0a1b2c3d", sleep=lambda s: None, wait_s=30)
    pushed = [c[2].removeprefix(f"{REGISTRY}/") for c in docker.commands if c[1] == "push"]
    assert pushed == [f"{r}:{t}" for r in REPOSITORIES for t in (TAG, "commit-0a1b2c3d")]  # the content tag first
    assert ship_image.commit_tag("not a commit") is None and ship_image.commit_tag(None) is None
    ecr.create_repository(repositoryName="mlops-dev-other", imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True})
    ship_image.ship(ecr, REGISTRY, ["mlops-dev-other"], TAG, runner=Docker(), commit="", sleep=lambda s: None, wait_s=30)
    assert "no commit id in the build's environment" in capsys.readouterr().out


def test_the_guard_reads_back_the_commit_and_digest_of_the_shipped_image(ecr, monkeypatch):
    """The two ends of the commit tag, packaged apart (this tool, the guard Lambda): what one pushes the other reads."""
    logic = guard_harness.guard_logic(monkeypatch)
    ship_image.ship(ecr, REGISTRY, REPOSITORIES, TAG, runner=Docker(), commit="0a1b2c3d4e5f", sleep=lambda s: None, wait_s=30)
    settings = logic.Settings("machine", "topic", "churn", "/queue", "sandbox/", "mlops-dev-churn", TAG)
    image = logic.image_identity(ecr, settings, lambda *a, **k: None)
    (detail,) = ecr.describe_images(repositoryName="mlops-dev-churn", imageIds=[{"imageTag": TAG}])["imageDetails"]
    assert image == {"imageDigest": detail["imageDigest"], "imageCommit": "0a1b2c3d4e5f"}
    assert ship_image.COMMIT_TAG_PREFIX == logic.COMMIT_TAG_PREFIX


def test_an_image_every_repository_has_is_not_built_again_and_trains_nothing(ecr):
    _ship(ecr, Docker())
    again = Docker()
    assert _ship(ecr, again) is False
    assert again.commands == []


def test_only_the_repositories_missing_the_tag_get_a_push(ecr):
    Docker()(["docker", "push", f"{REGISTRY}/mlops-dev-churn:{TAG}"])
    docker = Docker()
    assert _ship(ecr, docker) is True
    assert [c for c in docker.commands if c[1] == "push"] == [["docker", "push", f"{REGISTRY}/mlops-dev-fraud:{TAG}"]]


def test_a_critical_finding_fails_the_release_now_and_on_every_retry(ecr):
    findings = {
        "results": [
            {
                "imageScanFindings": {"findingSeverityCounts": {"CRITICAL": 2, "HIGH": 1}},
                "registryId": ACCOUNT,
                "repositoryName": "mlops-dev-fraud",
                "imageId": {"imageTag": TAG},
                "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            }
        ]
        * 4,
        "region": REGION,
    }
    requests.post("http://motoapi.amazonaws.com/moto-api/static/ecr/scan-finding-results", json=findings, timeout=5)
    with pytest.raises(ship_image.ShipError, match=r'"mlops-dev-fraud": \{"CRITICAL": 2\}'):
        _ship(ecr, Docker())
    with pytest.raises(ship_image.ShipError, match="CRITICAL"):  # the tag is there now: the retry builds nothing, and still fails
        _ship(ecr, Docker())


@pytest.mark.parametrize(("fail", "step"), [("build", "docker build"), ("run", "the image's own loop"), ("push", "docker push to mlops-dev-churn")])
def test_a_failed_step_stops_the_release_naming_the_step(ecr, fail, step):
    with pytest.raises(ship_image.ShipError, match=re.escape(step)):
        _ship(ecr, Docker(fail=fail))


def test_a_new_image_starts_one_training_run_per_project_through_its_guard(aws, monkeypatch):
    logic = guard_harness.guard_logic(monkeypatch)
    sfn, ssm, sns = boto3.client("stepfunctions"), boto3.client("ssm"), boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    settings, guards = {}, []
    for project in ("churn", "fraud"):
        machine = sfn.create_state_machine(
            name=f"mlops-dev-{project}-training",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        )["stateMachineArn"]
        queue = f"/mlops/dev/projects/{project}/pipeline/queued-triggers"
        ssm.put_parameter(Name=queue, Value="{}", Type="String")
        guards.append(guard_harness.create_guard(f"mlops-dev-{project}-start"))
        boto3.client("s3").create_bucket(Bucket=f"{project}-artifacts")  # the runs' records
        settings[f"mlops-dev-{project}-start"] = logic.Settings(
            machine, topic, project, queue, "sandbox/", f"mlops-dev-{project}", TAG, artifacts_bucket=f"{project}-artifacts"
        )
    invoked = guard_harness.adapt_lambda_invoke(monkeypatch, logic, settings)
    answers = ship_image.train_on_new_image(boto3.client("lambda"), guards, TAG)
    assert [a["started"] for a in answers] == [True, True]
    assert invoked == [(f"mlops-dev-{p}-start", {"trigger": "new-image", "detail": {"imageTag": TAG}}) for p in ("churn", "fraud")]
    again = ship_image.train_on_new_image(boto3.client("lambda"), guards, TAG)  # runs going: queued, never two at once
    assert [a.get("queued") for a in again] == [True, True]
    # the delivery step as it runs: the dev stage's training projects, their guards by the names the platform gives them
    monkeypatch.setenv("NEW_IMAGE", "1")
    assert ship_image.main(["train"]) == 0
    assert [function for function, _ in invoked[-2:]] == ["mlops-dev-churn-start", "mlops-dev-fraud-start"]


def test_without_a_new_image_the_train_step_starts_nothing(monkeypatch, capsys):
    monkeypatch.delenv("NEW_IMAGE", raising=False)
    assert ship_image.main(["train"]) == 0
    assert "no training run" in capsys.readouterr().out


def test_the_tag_follows_the_image_sources_and_nothing_else(tmp_path):
    tag = content_tag.__wrapped__  # uncached: the copy changes between reads (a process reads its own tree once)
    copy = tmp_path / "container"
    shutil.copytree(CONTAINER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert tag(copy) == content_tag(CONTAINER_DIR)
    (copy / "README.md").write_text("docs change")  # not in the image
    (copy / "mlops_container" / "__pycache__").mkdir(exist_ok=True)
    (copy / "mlops_container" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"cache")
    assert tag(copy) == content_tag(CONTAINER_DIR)
    (copy / "mlops_container" / "train.py").write_text((copy / "mlops_container" / "train.py").read_text() + "\n# changed\n")
    changed = tag(copy)
    assert changed != content_tag(CONTAINER_DIR) and re.fullmatch(r"src-[0-9a-f]{16}", changed)
    (copy / "requirements.txt").write_text((copy / "requirements.txt").read_text() + "\n")
    assert tag(copy) != changed


def test_the_tag_covers_everything_the_dockerfile_copies():
    dockerfile = (CONTAINER_DIR / "Dockerfile").read_text()
    copied = {part.rstrip("/").split("/")[0] for line in dockerfile.splitlines() if line.startswith("COPY ") for part in line.split()[1:-1]}
    assert copied and copied <= set(IMAGE_SOURCES), copied - set(IMAGE_SOURCES)


def test_the_app_points_the_pipeline_at_the_shipped_tag(dev):
    template = dev.templates()["mlops-dev-pipeline-churn"]
    assert f":{content_tag()}" in json.dumps(template)
