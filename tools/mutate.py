"""``make mutate``: mutation testing with mutmut (pinned in requirements-mutate.txt) over the modules of ``MODULES``.

Each module is mutated against the tests that cover it, in a scratch copy of the repository's tracked files (mutmut
writes ``mutants/`` where it runs, and the working tree stays clean). For each it prints the score, (killed + timed
out) / mutants, and writes the surviving mutants with their diffs to ``mutate-report/<module>.txt``: each is a change
to the code that no test noticed. Exit status 1 when a module is under ``--min-score``.

    python tools/mutate.py [module ...] [--min-score 0.9]

mutmut names a mutant after the module's path from the repository's root, so a test must load the module under that
name (``lambda.seal_model.logic``: ``tests.sfn_harness.lambda_logic``); a module the tests import from a folder on their
path (``container/``, ``cli/``) is mutated from a copy of its package at the scratch root (``Module.root``), under the
name they import. A module the tests import under another name gets no mutant tested, and mutmut stops saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / ".mutate-lib"  # mutmut and its dependencies (--no-deps, pinned), over the dev venv
REPORT = ROOT / "mutate-report"


@dataclass(frozen=True)
class Module:
    source: str  # the file mutated
    tests: tuple[str, ...]  # the tests that cover it
    # a folder the tests import packages from (container/, cli/): its package is copied to the scratch copy's top level
    # and mutated there, so that mutmut names its mutants as the tests import it (mlops_container.quality)
    root: str = ""

    @property
    def mutated(self) -> str:
        """The file mutmut mutates, from the scratch copy's root."""
        return self.source.removeprefix(f"{self.root}/") if self.root else self.source

    @property
    def name(self) -> str:
        return self.mutated.removesuffix(".py").replace("/", ".")


MODULES = {
    m.name: m
    for m in (
        Module("lambda/seal_model/logic.py", ("tests/lambda_/test_seal_model.py",)),
        Module("lambda/start_pipeline/logic.py", ("tests/lambda_/test_start_pipeline.py",)),  # the trigger guard
        Module("config/endpoints.py", ("tests/test_endpoints.py", "tests/test_config.py", "tests/test_endpoints_tool.py")),
        Module(
            "config/loader.py", ("tests/test_config.py", "tests/test_config_links.py", "tests/test_config_reports.py", "tests/test_readme_config.py")
        ),  # the config's loader and its cross-stage checks
        Module(
            "config/schema.py",  # the config's schema: fields, ranges and the rules between fields
            (
                "tests/test_config.py",
                "tests/test_config_links.py",
                "tests/test_config_reports.py",
                "tests/test_config_schema_rules.py",
                "tests/test_readme_config.py",
                "tests/test_endpoints.py",
            ),
        ),
        Module("container/mlops_container/quality.py", ("tests/container/test_quality.py",), root="container"),  # model quality
        Module(
            "container/mlops_container/hyperparameters.py",
            (  # in process (not `python -m mlops_container.train`, nor the config, which loads the file by its path)
                "tests/container/test_train_evaluate.py::test_hyperparameters_arrive_as_strings_and_are_typed",
                "tests/container/test_train_evaluate.py::test_bad_hyperparameters_are_named",
                "tests/container/test_train_evaluate.py::test_hyperparameters_at_their_edges_and_defaults",
            ),
            root="container",
        ),
        Module("container/mlops_container/inference.py", ("tests/container/test_inference_capture.py",), root="container"),  # request parsing
        Module("container/mlops_container/capture.py", ("tests/container/test_inference_capture.py",), root="container"),
        Module(
            "container/mlops_container/drift_checks.py",
            ("tests/container/test_drift_checks.py", "tests/container/test_drift.py", "tests/container/test_model_monitor_parity.py"),
            root="container",
        ),
        Module(
            "container/mlops_container/drift_read.py",  # reading captured traffic and baselines
            (
                "tests/container/test_drift_read.py",
                "tests/container/test_drift.py",
                "tests/container/test_drift_checks.py",
                "tests/container/test_model_monitor_parity.py",
                "tests/container/test_quality.py",
            ),
            root="container",
        ),
        Module(
            "container/mlops_container/drift_stats.py",  # Model Monitor's statistics and the KLL sketch
            (
                "tests/container/test_drift_stats.py",
                "tests/container/test_drift.py",
                "tests/container/test_drift_checks.py",
                "tests/container/test_model_monitor_parity.py",
            ),
            root="container",
        ),
        Module("fidelity/limits.py", ("tests/test_fidelity_limits.py",)),  # the documented rules, on small templates
        Module(
            "fidelity/api_model.py",  # requests validated against botocore's service models
            (
                "tests/test_fidelity_api_model.py",
                "tests/fidelity/test_api_model.py::test_the_validator_finds_what_aws_rejects",  # no stage synthesized
                "tests/fidelity/test_api_model.py::test_a_sagemaker_type_without_a_mapping_fails_the_check",
            ),
        ),
        Module("fidelity/cfn.py", ("tests/test_fidelity_cfn.py", "tests/test_fidelity_limits.py")),  # templates resolved as CloudFormation would
        Module("cli/mlops_cli/work.py", ("tests/mlops_cli/test_mlops_label.py", "tests/mlops_cli/test_mlops_command.py"), root="cli"),
        Module("tools/tag_provisioned_stacks.py", ("tests/test_tag_provisioned_stacks.py",)),  # the upgrade's retagging
        Module("tools/teardown.py", ("tests/test_teardown.py",)),  # emptying a used Studio domain before a destroy
    )
}


def _setup_cfg(module: Module, top_level: list[str]) -> str:
    """mutmut runs the tests in ``mutants/``, ahead of everything on sys.path: the module's whole package (so that its
    siblings import), only the module itself mutated, and every other top-level entry of the repository as it is (the
    tests read files by their path from the root)."""
    tests = "\n".join(f"    {t}" for t in module.tests)
    package = str(Path(module.mutated).parent)
    copied = "\n".join(f"    {entry}" for entry in top_level if entry != package.split("/")[0])
    return (
        f"[mutmut]\nsource_paths = {package}\nonly_mutate = {module.mutated}\nalso_copy =\n{copied}\npytest_add_cli_args_test_selection =\n{tests}\n"
    )


def _mutmut(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LIB), str(cwd), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def run(module: Module) -> dict:
    """Mutate ``module`` in a scratch copy; return mutmut's counts with the survivors' diffs."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    with tempfile.TemporaryDirectory(prefix="mutate-") as scratch:
        work = Path(scratch)
        for path in filter(None, tracked):
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, target)
        if module.root:  # the package, where the tests' import finds it first (mutmut puts mutants/ ahead on sys.path)
            package = Path(module.mutated).parts[0]
            shutil.move(work / module.root / package, work / package)  # moved: the tests' path to root/ must not find it
        top_level = sorted({path.split("/")[0] for path in tracked if path})
        (work / "setup.cfg").write_text(_setup_cfg(module, top_level))
        done = _mutmut(["run"], work)
        if _mutmut(["export-cicd-stats"], work).returncode != 0 or not (work / "mutants" / "mutmut-cicd-stats.json").exists():
            raise RuntimeError(f"mutmut run failed for {module.source}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        if stats["total"] and not any(stats[k] for k in ("killed", "survived", "timeout", "no_tests", "suspicious")):
            raise RuntimeError(f"mutmut tested no mutant of {module.source}:\n{done.stdout[-3000:]}")
        # what no test killed: the survivors, and the mutants no test reached (listed too: they count against the score)
        unkilled = [
            line.split(":")[0].strip() for line in _mutmut(["results"], work).stdout.splitlines() if line.endswith((": survived", ": no tests"))
        ]
        stats["diffs"] = [_mutmut(["show", name], work).stdout for name in unkilled]
    return stats


def score(stats: dict) -> float:
    return (stats["killed"] + stats["timeout"]) / stats["total"] if stats["total"] else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--min-score", type=float, default=0.9)
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        print(f"mutate: unknown module(s) {unknown}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    if not (LIB / "mutmut").is_dir():
        print(f"mutate: mutmut is not installed in {LIB}: run `make mutate`", file=sys.stderr)
        return 2
    REPORT.mkdir(exist_ok=True)
    below = []
    for name in args.modules or list(MODULES):
        stats = run(MODULES[name])
        (REPORT / f"{name}.txt").write_text("\n".join(stats.pop("diffs")))
        s = score(stats)
        print(
            f"{name}: {s:.1%} ({stats['killed']} killed + {stats['timeout']} timed out of {stats['total']}; "
            f"{stats['survived']} survived, {stats['no_tests']} untested: {REPORT.name}/{name}.txt)"
        )
        if s < args.min_score:
            below.append(name)
    if below:
        print(f"under {args.min_score:.0%}: {', '.join(below)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
