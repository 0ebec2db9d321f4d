"""cdk-nag AwsSolutionsChecks over the whole app: zero unacknowledged findings, each acknowledgment precise.

cdk-nag 3 runs as a CDK validation plugin: a finding makes ``app.synth()`` raise, and the validation
report lists it. Acknowledgments are construct metadata (``Validations.of(x).acknowledge``).
"""

from __future__ import annotations

import functools
import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from app import new_app

ACK = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY


@pytest.fixture(scope="module", params=["dev", "prod"])
def synthesized(request):
    return request.getfixturevalue(request.param)


@functools.cache
def _nag_acknowledgments(stage) -> tuple[tuple[str, str, str], ...]:
    """(construct path, rule id, reason) of every AwsSolutions acknowledgment in the stage (read once per stage: a walk
    is ~3 jsii calls for each of ~940 constructs)."""
    out = []
    for construct in stage.node.find_all():
        node = construct.node
        for entry in node.metadata:
            if entry.type == ACK:
                out += [
                    (node.path, rule.removeprefix("AwsSolutions::"), reason)
                    for rule, reason in entry.data.items()
                    if rule.startswith("AwsSolutions::")
                ]
    return out


def test_whole_stage_synthesizes_with_no_unacknowledged_finding(synthesized):
    # The fixture's app.synth() raised if cdk-nag found anything; the report confirms it.
    report = json.loads((synthesized.outdir.parent / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        errors = [v for v in plugin["violations"] if v.get("severity") == "error" or plugin["pluginName"] != "CloudFormation Validate"]
        assert errors == [], (plugin["pluginName"], errors)


def test_nag_is_live_and_fails_synthesis_on_a_finding(tmp_path):
    app = new_app(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    s3.Bucket(stack, "PlainBucket")  # no logging, no SSL enforcement
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_every_acknowledgment_sits_on_a_resource_with_a_specific_reason(synthesized):
    acks = _nag_acknowledgments(synthesized.stage)
    assert acks, "expected the documented acknowledgments (access-log buckets, scoped IAM wildcards)"
    stack_paths = {s.node.path for s in synthesized.stacks} | {synthesized.stage.node.path}
    for path, rule, reason in acks:
        assert path not in stack_paths, f"blanket acknowledgment of {rule} on {path}"
        assert len(reason) >= 40, (path, rule, reason)


def test_only_expected_rules_are_acknowledged(synthesized):
    rules = {rule.split("[")[0] for _, rule, _ in _nag_acknowledgments(synthesized.stage)}
    assert rules == {
        "AwsSolutions-S1",
        "AwsSolutions-IAM5",
        "AwsSolutions-SQS3",  # log buckets, scoped wildcards, the triggers' DLQ
        "AwsSolutions-IAM4",
        "AwsSolutions-APIG3",
        "AwsSolutions-APIG4",
        "AwsSolutions-COG4",  # API Gateway (see InferenceApi)
    } - ({"AwsSolutions-APIG4", "AwsSolutions-SQS3"} if synthesized.stage.config.stage == "prod" else set())  # prod: IAM auth, no pipelines


def test_iam5_acknowledgments_are_per_finding(synthesized):
    for _, rule, _ in _nag_acknowledgments(synthesized.stage):
        if rule.startswith("AwsSolutions-IAM5"):
            assert rule.startswith(("AwsSolutions-IAM5[Action::", "AwsSolutions-IAM5[Resource::")), rule
