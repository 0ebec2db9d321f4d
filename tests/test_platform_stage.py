"""PlatformStage: stack layout, dependencies, termination protection, and the retention aspect."""

from __future__ import annotations

import json

import pytest

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from app import new_app
from mlops_constructs.aspects import StatefulResourcesRetained


def test_stateful_stacks_are_termination_protected_in_prod_only(dev, prod):
    stateless = {prod.stage.self_service, *prod.stage.pipelines.values(), *prod.stage.endpoints.values()}
    for stack in prod.stacks:
        assert stack.termination_protection is (stack not in stateless), stack.stack_name
    assert not any(stack.termination_protection for stack in dev.stacks)


def test_stacks_depend_on_what_they_read(dev):
    stage = dev.stage
    assert stage.environment in stage.users["alice"].dependencies
    sandbox = stage.sandboxes[("alice", "churn")]
    assert {stage.users["alice"], stage.projects["churn"]} <= set(sandbox.dependencies)
    assert stage.projects["fraud"] not in sandbox.dependencies


def test_stacks_live_in_the_configured_account_and_region(prod):
    for stack in prod.stacks:
        assert (stack.account, stack.region) == ("123456789012", "us-east-1")


def test_synthesis_needs_no_context_lookup(dev):
    manifest = json.loads((dev.outdir / "manifest.json").read_text())
    assert "missing" not in manifest


def _synth_with_aspect(stack: cdk.Stack) -> None:
    app = stack.node.root
    cdk.Aspects.of(app).add(StatefulResourcesRetained())
    app.synth()


def test_aspect_fails_synthesis_for_a_bucket_that_would_be_deleted():
    stack = cdk.Stack(new_app(), "S")
    s3.Bucket(stack, "Doomed", removal_policy=cdk.RemovalPolicy.DESTROY)
    with pytest.raises(RuntimeError, match="AWS::S3::Bucket must be retained on destroy"):
        _synth_with_aspect(stack)


def test_aspect_fails_synthesis_for_a_log_group_kept_forever():
    stack = cdk.Stack(new_app(), "S")
    logs.LogGroup(stack, "Forever", retention=logs.RetentionDays.INFINITE, removal_policy=cdk.RemovalPolicy.RETAIN)
    with pytest.raises(RuntimeError, match="needs a retention period"):
        _synth_with_aspect(stack)


def test_aspect_accepts_retained_resources():
    stack = cdk.Stack(new_app(), "S")
    s3.Bucket(stack, "Kept", removal_policy=cdk.RemovalPolicy.RETAIN)
    _synth_with_aspect(stack)
