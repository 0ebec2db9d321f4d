"""Shared fixtures: each stage is synthesized once per test session (with cdk-nag), and reused."""

from __future__ import annotations

import atexit
import functools
import gc
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "container"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "fail")  # a deprecated CDK API fails the tests
# aws-cdk-lib's built-in CloudFormation validation (cloudformation-validate, run inside every synth: ~4 s to start per
# process, ~0.35 s per synth) runs once over every template of every shipped and longest-names deployment instead, in
# tests/fidelity/test_builtin_validation.py; `make synth` keeps it on.
os.environ.setdefault("CDK_VALIDATION", "false")
# Under `pytest -n N`, N workers share the cores: each worker's OpenMP and BLAS thread pools (scikit-learn's gradient
# boosting, numpy), and those of the processes it starts, get an equal share. A pool sized to every core, beside another
# busy worker, spins waiting for cores it does not get: the model tests took 11-12 s of CPU for 7 s of work.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_threads, str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# Each test process freezes the garbage collector as it exits, as app.py does (exit handlers all run before Python's
# final collections). Those collections over all a worker has built (synthesized apps and their jsii proxies, moto's
# state, botocore's models) took ~4 s after its last test, and xdist waits for each worker to exit.
atexit.register(gc.freeze)

import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402

if TYPE_CHECKING:  # imported where used: xdist's controller process loads this file too, and runs no test
    import aws_cdk as cdk

    from stacks.platform_stage import PlatformStage

HASH_RE = re.compile(r"[0-9a-f]{64}")


@functools.cache
def _shared_loader(search_path_string=None) -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(search_path_string)


# moto gives every `mock_aws()` a new default boto3 session, and every botocore session its own data loader, which
# reads and parses each service's model from disk again (SageMaker's alone is megabytes of JSON): most of a moto test's
# time. One loader per search path for the whole session reads each model once; the models are botocore's own files,
# unchanged, and the loader already returns the same object for each within a session.
botocore.session.create_loader = _shared_loader


def normalize_hashes(value):
    """Replace 64-hex asset hashes so snapshots do not change with asset contents' incidental bytes."""
    return json.loads(HASH_RE.sub("<HASH>", json.dumps(value)))


@dataclass
class SynthesizedStage:
    stage: PlatformStage
    assembly: cdk.cx_api.CloudAssembly
    outdir: Path

    def templates(self) -> dict[str, dict]:
        """CloudFormation stack name -> template, for every stack of the stage."""
        return {s.stack_name: s.template for s in self.assembly.stacks}

    def template(self, stack: cdk.Stack) -> dict:
        return self.assembly.get_stack_by_name(stack.stack_name).template

    @property
    def stacks(self) -> list[cdk.Stack]:
        """Every stack of the stage, in deployment order (derived from the stage: nothing to keep by hand)."""
        return self.stage.stacks


def synth_stage(stage_name: str, outdir: Path, **context) -> SynthesizedStage:
    from app import build_app, new_app

    app = new_app(context={"stage": stage_name, **context}, outdir=str(outdir))
    stage = build_app(app)
    app.synth()  # runs cdk-nag: an unacknowledged finding raises here
    return SynthesizedStage(stage=stage, assembly=stage.synth(), outdir=outdir / f"assembly-{stage.stage_name}")


@functools.cache
def synthesized(stage_name: str) -> SynthesizedStage:
    """A shipped stage, synthesized once per session (also at collection, where tests are parametrized by its stacks)."""
    outdir = tempfile.mkdtemp(prefix=f"cdk-{stage_name}-")
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)  # made before any fixture: removed as the process ends
    return synth_stage(stage_name, Path(outdir))


@pytest.fixture(scope="session")
def dev() -> SynthesizedStage:
    return synthesized("dev")


@pytest.fixture(scope="session")
def prod() -> SynthesizedStage:
    return synthesized("prod")


@pytest.fixture(scope="session")
def trial() -> SynthesizedStage:
    """The frugal network profile's stage (config/trial.yaml)."""
    return synthesized("trial")


# What tools/resolve_model_packages.py would pin for the delivery pipeline (see tests/test_delivery.py).
DELIVERY_PINS = {
    "churn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-dev-churn/7",
    "fraud": "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-dev-fraud/2",
}
DELIVERY_BASELINES = {
    "churn": "s3://mlops-dev-churn-artifacts/pipeline/0a1b2c3d/baseline",
    "fraud": "s3://mlops-dev-fraud-artifacts/pipeline/4e5f6a7b/baseline",
}


@dataclass
class SynthesizedDelivery:
    stack: cdk.Stack
    assembly: cdk.cx_api.CloudAssembly
    outdir: Path
    pins_file: Path

    def templates(self) -> dict[str, dict]:
        """CloudFormation stack name -> template: the pipeline stack and every stack of every stage it deploys."""
        templates = {self.stack.stack_name: self.assembly.get_stack_by_name(self.stack.stack_name).template}
        for stage in self.stack.stages:
            templates.update({s.stack_name: s.template for s in stage.synth().stacks})
        return templates


@pytest.fixture(scope="session")
def delivery_app(tmp_path_factory) -> SynthesizedDelivery:
    """The delivery app (pipeline and both stages, packages pinned), synthesized once with cdk-nag."""
    pins_file = tmp_path_factory.mktemp("pins") / "model-packages.json"
    pins_file.write_text(json.dumps({p: {"model_package_arn": arn, "baseline_uri": DELIVERY_BASELINES[p]} for p, arn in DELIVERY_PINS.items()}))
    from app import build_app, new_app

    outdir = tmp_path_factory.mktemp("cdk-delivery")
    app = new_app(context={"target": "delivery", "model_packages_file": str(pins_file)}, outdir=str(outdir))
    stack = build_app(app)
    assembly = app.synth()  # cdk-nag over the pipeline and both stages
    return SynthesizedDelivery(stack=stack, assembly=assembly, outdir=outdir, pins_file=pins_file)


@pytest.fixture
def run_main(monkeypatch, capsys, tmp_path):
    """``app.py``'s ``main()`` in this process, given ``context`` as `cdk synth -c` gives it: (exit status, stderr). A
    traceback would fail the test. tests/test_config.py runs ``python app.py`` itself once, for the entry point."""
    import app as app_module

    def run(context: dict) -> tuple[int, str]:
        new_app = app_module.new_app
        monkeypatch.setattr(app_module, "new_app", lambda: new_app(context=context, outdir=str(tmp_path / "cdk.out")))
        code = app_module.main()
        return code, capsys.readouterr().err

    return run


@pytest.fixture
def stack() -> cdk.Stack:
    """A bare stack for fine-grained construct tests, in a synth-only account and region."""
    import aws_cdk as cdk

    from app import new_app

    app = new_app()
    return cdk.Stack(app, "TestStack", env=cdk.Environment(account="123456789012", region="us-east-1"))


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A copy of config/ that a test may edit."""
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS service, with dummy credentials in us-east-1."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


# The fixtures that synthesize an app only some tests need, with what is built from them (the resolved deployments and
# the pipeline runs in moto): ~20 s per process that asks for them.
ONE_WORKER_FIXTURES = frozenset({"delivery_app", "longest"})
ONE_WORKER_GROUP = "delivery-and-longest"
_GROUPS_DIR_ENV = "MLOPS_TEST_GROUPS_DIR"


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config):
    if _is_controller(config):  # where each worker says which of its tests are in the group (read by the scheduler)
        os.environ[_GROUPS_DIR_ENV] = tempfile.mkdtemp(prefix="mlops-test-groups-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(_GROUPS_DIR_ENV), ignore_errors=True))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput") and _GROUPS_DIR_ENV in os.environ:  # before the worker reports its collection
        grouped = [item.nodeid for item in items if ONE_WORKER_FIXTURES.intersection(item.fixturenames) or item.get_closest_marker("one_worker")]
        Path(os.environ[_GROUPS_DIR_ENV], f"{config.workerinput['workerid']}.json").write_text(json.dumps(grouped))


def pytest_xdist_make_scheduler(config, log):
    """`pytest -n N` (`make test`): the tests that need the delivery app or the longest-names stage, and those marked
    ``one_worker``, go to one worker, as one unit and first, so that only it synthesizes them; every other test is dealt
    out one at a time to whichever worker is free (tests/test_scheduling.py). xdist's own ``--dist loadgroup`` marks a
    group by rewriting node ids, which pytest 9.2 no longer reads: it silently stops grouping
    (https://github.com/pytest-dev/pytest-xdist/issues/1386, open; fix proposed in #1388)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if not hasattr(self, "_grouped"):  # every worker has reported its collection (and written its file) by now
                files = Path(os.environ[_GROUPS_DIR_ENV]).glob("*.json")
                self._grouped = {nodeid for f in files for nodeid in json.loads(f.read_text())}
            return ONE_WORKER_GROUP if nodeid in self._grouped else nodeid

    return OneWorkerGroup(config, log)
