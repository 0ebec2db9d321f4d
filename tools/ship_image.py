"""Build, test, push and scan the platform's image; after a deploy, retrain on a new one. Run by the delivery pipeline
(``make ship-image`` runs ``ship`` by hand: Docker and the registry stage's credentials).

``ship``: the image's tag is derived from its source (``config.image``). If every project repository of the registry
stage (the first delivery stage, whose pipelines train) holds it already, nothing is built. Otherwise: ``docker build``
of ``container/``; the image's own end-to-end loop run inside it (local mode: preprocess, train, evaluate, quality gate,
serve, traffic, capture, drift check); pushed under the tag to each repository missing it. Then, for every repository,
ECR's scan on push is awaited and the build fails on a finding of a severity in ``FAIL_ON`` (an image that failed once
fails every run, until its source changes: the tag is immutable). Prints ``NEW_IMAGE=1`` when it pushed, else ``0``.

``train``: with ``NEW_IMAGE=1`` in the environment (the ship step's exported variable), a ``new-image`` trigger to each
project's pipeline guard (``Names.pipeline_guard``): one training run per project on the new image, queued behind a
running one. Run after the registry stage is deployed, so the pipelines already use the tag.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import load_delivery_config  # noqa: E402
from config.image import CONTAINER_DIR, content_tag  # noqa: E402

COMMIT_TAG_PREFIX = "commit-"  # the guard reads the commit back from this tag (lambda/start_pipeline/logic.py)
FAIL_ON = ("CRITICAL",)  # ECR basic scanning's severities that stop a release
SCAN_WAIT_S = 900
LOCAL_IMAGE = "mlops-platform:candidate"
SMOKE = ["python", "-m", "mlops_container.local", "--requests", "50"]  # the image's own loop, inside it


class ShipError(RuntimeError):
    """A step failed: the message names it and why."""


Runner = Callable[..., subprocess.CompletedProcess]


def _run(runner: Runner, argv: Sequence[str], *, step: str, stdin: str | None = None) -> None:
    print(f"$ {' '.join(argv)}", flush=True)
    done = runner(list(argv), input=stdin, text=True)
    if done.returncode != 0:
        raise ShipError(f"{step} failed (exit {done.returncode}): {' '.join(argv)}")


def _has_tag(ecr, repository: str, tag: str) -> bool:
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        return True
    except ecr.exceptions.ImageNotFoundException:
        return False


def _scan_findings(ecr, repository: str, tag: str, sleep: Callable[[float], None], wait_s: float) -> dict[str, int]:
    waited = 0.0
    while True:
        try:
            found = ecr.describe_image_scan_findings(repositoryName=repository, imageId={"imageTag": tag})
        except ecr.exceptions.ScanNotFoundException:
            found = {"imageScanStatus": {"status": "IN_PROGRESS"}}
        status = found["imageScanStatus"]["status"]
        if status == "COMPLETE":
            return found.get("imageScanFindings", {}).get("findingSeverityCounts", {})
        if status in ("FAILED", "UNSUPPORTED_IMAGE"):
            raise ShipError(f"the scan of {repository}:{tag} ended {status}: {found['imageScanStatus'].get('description', '')}")
        if waited >= wait_s:
            raise ShipError(f"the scan of {repository}:{tag} did not complete in {wait_s / 60:.0f} minutes")
        sleep(10)
        waited += 10


def commit_tag(commit: str | None) -> str | None:
    """The second tag of a pushed image, naming the commit it was built from (``commit-<sha>``), when that is a commit id:
    the trigger guard records it as the code commit of the models the image trains."""
    return f"{COMMIT_TAG_PREFIX}{commit}" if commit and re.fullmatch(r"[0-9a-f]{7,40}", commit) else None


def ship(
    ecr,
    registry: str,
    repositories: list[str],
    tag: str,
    *,
    runner: Runner,
    commit: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    wait_s: float = SCAN_WAIT_S,
) -> bool:
    """Make ``tag`` exist, scanned clean, in every one of ``repositories`` (on ``registry``); True when it pushed. A pushed
    image is also tagged with the ``commit`` it was built from (``commit_tag``)."""
    missing = [r for r in repositories if not _has_tag(ecr, r, tag)]
    if missing:
        _run(runner, ["docker", "build", "--pull", "-t", LOCAL_IMAGE, str(CONTAINER_DIR)], step="docker build")
        _run(runner, ["docker", "run", "--rm", "--entrypoint", SMOKE[0], LOCAL_IMAGE, *SMOKE[1:]], step="the image's own loop (local mode)")
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        password = base64.b64decode(token).decode().split(":", 1)[1]
        _run(runner, ["docker", "login", "--username", "AWS", "--password-stdin", registry], step="docker login", stdin=password)
        source = commit_tag(commit)
        if source is None:
            print(f"no commit id in the build's environment ({commit!r}): the image carries only its content tag")
        for repository in missing:
            for each in (tag, *([source] if source else [])):  # the content tag first: a retry finds the image by it
                target = f"{registry}/{repository}:{each}"
                _run(runner, ["docker", "tag", LOCAL_IMAGE, target], step="docker tag")
                _run(runner, ["docker", "push", target], step=f"docker push to {repository}")
    else:
        print(f"{tag} is in every repository already ({', '.join(repositories)}): nothing to build")
    failing = {}
    for repository in repositories:
        counts = _scan_findings(ecr, repository, tag, sleep, wait_s)
        print(f"scan of {repository}:{tag}: {json.dumps(counts, sort_keys=True) if counts else 'no findings'}")
        bad = {severity: n for severity, n in counts.items() if severity in FAIL_ON and n}
        if bad:
            failing[repository] = bad
    if failing:
        raise ShipError(f"{tag} has findings of severity {', '.join(FAIL_ON)}: {json.dumps(failing, sort_keys=True)} (fix the image's source)")
    return bool(missing)


def train_on_new_image(lambda_client, guards: list[str], tag: str) -> list[dict]:
    """A ``new-image`` trigger to each guard; their answers (started, or queued behind a running run)."""
    answers = []
    for guard in guards:
        response = lambda_client.invoke(FunctionName=guard, Payload=json.dumps({"trigger": "new-image", "detail": {"imageTag": tag}}).encode())
        answer = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response or not isinstance(answer, dict) or answer.get("statusCode") != 200:
            raise ShipError(f"{guard} refused the new-image trigger: {answer}")
        print(f"{guard}: {'started ' + answer['executionArn'] if answer.get('started') else 'queued behind ' + str(answer.get('runningExecution'))}")
        answers.append(answer)
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["ship", "train"])
    parser.add_argument("--result", type=Path, help="ship: also write 1 (pushed) or 0 to this file (the pipeline exports it as NEW_IMAGE)")
    args = parser.parse_args(argv)
    import boto3

    _, stages = load_delivery_config()
    registry = stages[0]
    projects = [p.name for p in registry.training_projects]
    if not projects:
        print(f"stage {registry.stage} trains no models: no image to ship")
        return 0
    tag = content_tag()
    try:
        if args.command == "ship":
            ecr = boto3.client("ecr", region_name=registry.region)
            host = f"{registry.account}.dkr.ecr.{registry.region}.amazonaws.com"
            # CodeBuild's commit id of the pipeline's source: https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-env-vars.html
            commit = os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION")
            pushed = ship(ecr, host, [registry.names.repository(p) for p in projects], tag, runner=subprocess.run, commit=commit)
            print(f"NEW_IMAGE={int(pushed)}")
            if args.result is not None:
                args.result.write_text(str(int(pushed)))
            return 0
        if os.environ.get("NEW_IMAGE") != "1":
            print(f"no new image in this release ({tag} was shipped before): no training run")
            return 0
        client = boto3.client("lambda", region_name=registry.region)  # the guards by name, in the registry stage's account
        train_on_new_image(client, [registry.names.pipeline_guard(p) for p in projects], tag)
        return 0
    except ShipError as exc:
        print(f"ship_image: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
