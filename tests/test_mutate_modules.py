"""`make mutate`'s module list (tools/mutate.py) holds what issue 34 asked of it: every module it names and every test it
runs exists; behaviour tests only (a snapshot, a cdk-nag acknowledgment or a lint kills a mutant by the template's text,
which does not count); and the modules users rely on are all in it. mutmut itself is not needed here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import mutate  # noqa: E402

# Tests that judge a template's text, not a behaviour: a mutant they kill is not a kill.
TEXT_ONLY = ("tests/test_snapshots.py", "tests/test_nag.py", "tests/test_cfn_lint.py", "tests/test_checkov.py")


@pytest.mark.parametrize("name", sorted(mutate.MODULES))
def test_each_module_and_its_tests_exist_and_judge_behaviour(name):
    module = mutate.MODULES[name]
    assert (ROOT / module.source).is_file()
    assert module.name == name and name.replace(".", "/") + ".py" == module.mutated
    for test in module.tests:
        path, _, function = test.partition("::")
        assert (ROOT / path).is_file(), test
        assert not function or re.search(rf"^def {re.escape(function)}\(", (ROOT / path).read_text(), re.M), test
        assert path not in TEXT_ONLY, f"{name} is judged by {path}, which reads templates as text"


def test_the_modules_users_rely_on_are_all_mutated():
    """Issue 34's list: the config schema and loader, the drift analyzer, request parsing and capture, the CLI's work, the
    trigger guard, and fidelity/ (its rules, resolver and validator: the IAM and reachability bridges run only over
    synthesized stages)."""
    assert {
        "config.schema",
        "config.loader",
        "mlops_container.drift_read",
        "mlops_container.drift_stats",
        "mlops_container.drift_checks",
        "mlops_container.inference",
        "mlops_container.capture",
        "mlops_cli.work",
        "lambda.start_pipeline.logic",
        "fidelity.limits",
        "fidelity.cfn",
        "fidelity.api_model",
    } <= set(mutate.MODULES)


def test_the_score_counts_killed_and_timed_out_mutants_of_all():
    assert mutate.score({"killed": 8, "timeout": 1, "total": 10}) == 0.9
    assert mutate.score({"killed": 0, "timeout": 0, "total": 0}) == 1.0  # nothing to mutate
    assert mutate.main(["no.such.module"]) == 2
