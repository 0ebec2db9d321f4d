"""cfn-lint over every synthesized template (stacks and Service Catalog products): zero errors."""

from __future__ import annotations

import functools

import pytest
from cfnlint.api import ManualArgs
from cfnlint.config import ConfigMixIn
from cfnlint.decode.decode import decode_str
from cfnlint.runner.cli import Runner

# W3010 (literal zones): zones are configured on purpose so that synthesis needs no AWS lookup.
# W3005 (redundant DependsOn): aws-cdk-lib makes a state machine depend on its role both ways.
IGNORED = ["W3010", "W3005"]


@functools.cache
def _runner(region: str) -> Runner:
    """One cfn-lint runner per region: its rules load once (~0.3 s), not once per template as ``cfnlint.api.lint`` does."""
    return Runner(ConfigMixIn(**ManualArgs(regions=[region], ignore_checks=IGNORED)))


def lint(text: str, region: str) -> list:
    template, errors = decode_str(text)
    return errors or list(_runner(region).validate_template(template))


def _templates(synthesized):
    return sorted(synthesized.outdir.glob("*.template.json"))


@pytest.fixture(scope="module", params=["dev", "prod"])
def synthesized(request):
    return request.getfixturevalue(request.param)


def test_every_template_is_linted(synthesized):
    names = [p.name for p in _templates(synthesized)]
    assert len(names) == len(synthesized.templates()) + 3  # stacks + three product templates
    assert sum(".product.template.json" in n for n in names) == 3


def test_no_cfn_lint_errors_or_warnings(synthesized):
    findings = []
    for path in _templates(synthesized):
        matches = lint(path.read_text(), synthesized.stage.config.region)
        findings += [f"{path.name}: {m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id[0] in "EW"]
    assert findings == []


def test_lint_is_live():
    broken = '{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketNme": "x"}}}}'
    assert any(m.rule.id.startswith("E") for m in lint(broken, "us-east-1"))
    unbalanced = '{"Resources": {"B": {"Type": "AWS::S3::Bucket"}'
    assert any(m.rule.id.startswith("E") for m in lint(unbalanced, "us-east-1"))  # a template cfn-lint cannot decode
