"""``mlops publish | run | label | status``: argument parsing, output and exit status (the work is in ``work``).

Exit status: 0 done; 1 a run failed or AWS failed; 2 bad input or set-up (the message says which); 3 the
caller's role lacks a permission (the message names the action and the resource).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mlops_cli import work

STUDIO_METADATA = Path("/opt/ml/metadata/resource-metadata.json")  # in a Studio app: its domain, user profile and space
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "UnrecognizedClientException"}


def studio_user(metadata: Path = STUDIO_METADATA) -> str | None:
    """The Studio user profile this app runs for, when it runs in Studio."""
    try:
        return json.loads(metadata.read_text()).get("UserProfileName") or None
    except (OSError, ValueError, AttributeError):
        return None


def parser() -> argparse.ArgumentParser:
    env = os.environ
    top = argparse.ArgumentParser(
        prog="mlops",
        description="A data scientist's command for one project of the MLOps platform, from a sandbox: publish a model, "
        "start the training pipeline, see the packages and where they run.",
        epilog="Exit status: 0 done; 1 a run failed or AWS failed; 2 bad input or set-up; 3 your role lacks a permission.",
    )
    top.add_argument("--namespace", default=env.get("MLOPS_NAMESPACE"), help="the stage's SSM namespace, e.g. /mlops/dev (MLOPS_NAMESPACE)")
    top.add_argument("--project", default=env.get("MLOPS_PROJECT"), help="the project (MLOPS_PROJECT)")
    top.add_argument("--user", default=env.get("MLOPS_USER"), help="your Studio user (MLOPS_USER; in Studio, the app's user profile)")
    top.add_argument("--region", default=None, help="AWS region (default: the environment's)")
    commands = top.add_subparsers(dest="command", required=True)

    pub = commands.add_parser("publish", help="register a trained model in the project, pending approval, through the pipeline")
    pub.add_argument("model", type=Path, help="the model's folder (as saved) or its model.tar.gz, e.g. .local/run-*/artifacts/model.tar.gz")
    pub.add_argument("--commit", help="the code's git commit (default: the checked-out commit of the current folder's repository)")
    pub.add_argument("--wait", action="store_true", help="follow the run to its end and print the registered package")
    pub.add_argument("--timeout-minutes", type=float, default=120, help="with --wait: give up after this long (default 120)")

    run = commands.add_parser("run", help="start the project's training pipeline (queued behind a running one)")
    run.add_argument("--wait", action="store_true", help="follow the run to its end")
    run.add_argument("--timeout-minutes", type=float, default=240, help="with --wait: give up after this long (default 240)")

    lab = commands.add_parser("label", help="upload labels (ground truth) of the endpoint's predictions, for its model-quality check")
    lab.add_argument("file", type=Path, help="a CSV with the header event_id,label: the capture's event id and 0 or 1")
    lab.add_argument("--hours", type=int, default=48, help="how far back the ids must have been captured (1-2160, default 48)")

    st = commands.add_parser("status", help="the latest model packages, their approval and where they are deployed; the latest runs")
    st.add_argument("--stages", default=None, help="comma-separated stages whose endpoints to look at (default: this stage), e.g. dev,prod")
    st.add_argument("--limit", type=int, default=5, help="how many packages, newest first (1-100, default 5)")
    return top


def _clients(region: str | None) -> dict:
    import boto3

    session = boto3.session.Session(region_name=region)
    return {name: session.client(name) for name in ("ssm", "s3", "sagemaker")}


def execute(
    argv: list[str],
    *,
    clients: dict | None = None,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    git: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    poll_seconds: float = 15,
) -> int:
    args = parser().parse_args(argv)
    project = work.Project(args.namespace or "", args.project or "", args.user or studio_user() or "")
    clients = clients if clients is not None else _clients(args.region)

    def follow(result: dict, timeout_minutes: float) -> dict:
        return work.wait(clients, result["bucket"], result["name"], timeout_s=timeout_minutes * 60, poll_s=poll_seconds, sleep=sleep, say=out)

    if args.command == "publish":
        commit = args.commit
        if commit is None:
            commit, dirty = work.git_commit(Path.cwd(), git)
            if dirty:
                out(f"warning: the repository has uncommitted changes; the package records commit {commit}, which lacks them")
        elif not work.COMMIT.match(commit):
            raise work.UsageError(f"--commit {commit!r} is not a git commit (7 to 40 lowercase hex digits)")
        with tempfile.TemporaryDirectory() as tmp:
            archive = work.checked_archive(args.model, Path(tmp))
            result = work.publish(clients, project, archive, commit=commit, now=now(), say=out, sleep=sleep)
        out(f"publish run started: {result['executionArn']}")
        out("the pipeline evaluates the model on the project's data, applies the quality gate and registers it pending approval")
        if args.wait:
            output = follow(result, args.timeout_minutes)
            out(f"registered: {output.get('registered', {}).get('arn', '?')} (pending approval)")
        return 0

    if args.command == "run":
        result = work.start_run(clients, project, now=now(), sleep=sleep)
        if not result.get("started"):
            out(f"queued: {result.get('runningExecution')} is running; one follow-up run starts when it ends")
            return 0
        out(f"training run started: {result['executionArn']}")
        if args.wait:
            output = follow(result, args.timeout_minutes)
            out(f"registered: {output['registered']['arn']}" if "registered" in output else "run ended")
        return 0

    if args.command == "label":
        result = work.label(clients, project, args.file, now=now(), hours=args.hours, say=out)
        out(f"{result['labels']} labels uploaded to {result['uri']}")
        out(f"the model-quality check of {result['endpoint']} scores them with its predictions once their period is checked")
        return 0

    if not 1 <= args.limit <= 100:
        raise work.UsageError(f"--limit {args.limit} is not between 1 and 100")
    stages = [s.strip() for s in (args.stages or project.stage).split(",") if s.strip()]
    bad = [s for s in stages if not work.NAME.match(s)]
    if bad:
        raise work.UsageError(f"--stages: {', '.join(bad)} is not a stage name")
    rows, runs = work.status(clients, project, stages=stages, limit=args.limit)
    out(f"project {project.project} in {project.namespace}: model packages, newest first")
    for line in work.table(rows).splitlines() if rows else ["  none yet"]:
        out(line)
    if runs:
        out("latest runs:")
        for r in runs:
            started = datetime.fromisoformat(r["startDate"]).astimezone(UTC) if r.get("startDate") else None
            out(f"  {r.get('name', '?')}  {r.get('status', '?')}  {f'{started:%Y-%m-%d %H:%M}' if started else '?'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return execute(sys.argv[1:] if argv is None else argv)
    except work.UsageError as exc:
        print(f"mlops: {exc}", file=sys.stderr)
        return 2
    except work.RunFailed as exc:
        print(f"mlops: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("mlops: no AWS credentials: run it in a Studio space of your user, or with your sandbox role's credentials", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in DENIED:
            print(
                f"mlops: your role may not do this: {error.get('Message', exc)}\n"
                "  (a sandbox in the project grants what mlops needs; ask the platform team for one if you lack it)",
                file=sys.stderr,
            )
            return 3
        print(f"mlops: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"mlops: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
