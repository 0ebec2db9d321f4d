"""aws-cdk-lib's built-in CloudFormation validation (the cloudformation-validate engine that ``make synth`` runs inside
every synth) over every template this app synthesizes: the dev and prod stages with their Service Catalog products, the
delivery app with both stages, and the longest-names stage. The engine starts once here; the tests' other synths run
without it (tests/conftest.py)."""

from __future__ import annotations

import functools
from pathlib import Path

import aws_cdk as cdk
import jsii
import pytest

# The one warning the shipped templates raise, as in tests/test_cfn_lint.py: zones are configured on purpose, so that
# synthesis needs no AWS lookup.
ACCEPTED = {"W3010"}


@jsii.implements(cdk.IPolicyValidationContext)
class _Templates:
    """What a synth hands the plugin, for templates already on disk: each template as a stack of its own."""

    def __init__(self, paths: list[Path], account: str, region: str):
        self._paths, self._account, self._region = [str(p) for p in paths], account, region
        self._app = cdk.App()

    @property
    def app_construct(self):
        return self._app

    @property
    def template_paths(self) -> list[str]:
        return self._paths

    @property
    def stack_templates(self) -> list[cdk.PolicyValidationStack]:
        return [
            cdk.PolicyValidationStack(stack_construct_path=p, template_path=p, account_id=self._account, region=self._region) for p in self._paths
        ]

    @property
    def account_id(self):
        return self._account

    @property
    def region(self):
        return self._region


@functools.cache
def _plugin() -> cdk.CloudFormationValidatePlugin:
    return cdk.CloudFormationValidatePlugin()


def validate(paths: list[Path], account: str = "123456789012", region: str = "us-east-1") -> tuple[bool, list[str]]:
    report = _plugin().validate(_Templates(paths, account, region))
    findings = [f"{r.template_path} {r.resource_logical_id}: {v.rule_name} {v.description}" for v in report.violations for r in v.violating_resources]
    return report.success, findings


def test_every_template_passes_the_builtin_validation(dev, prod, delivery_app, longest):
    findings, count = [], 0
    for synthesized in (dev, prod, longest):
        config = synthesized.stage.config
        paths = sorted(synthesized.outdir.glob("*.template.json"))
        assert len(paths) == len(synthesized.templates()) + 3  # the stage's stacks and its three product templates
        success, found = validate(paths, config.account, config.region)
        assert success, found
        findings += found
        count += len(paths)
    paths = sorted(delivery_app.outdir.rglob("*.template.json"))
    assert len(paths) == len(delivery_app.templates()) + 6  # the pipeline, both stages' stacks and their products
    success, found = validate(paths)
    assert success, found
    findings += found
    count += len(paths)
    assert [f for f in findings if f.split(": ", 1)[1].split()[0] not in ACCEPTED] == []
    print(f"\nbuilt-in validation: {count} templates, {len(findings)} accepted warnings")


@pytest.mark.one_worker  # where the other test has started the engine (~3 s a process)
def test_the_builtin_validation_is_live(tmp_path):
    broken = tmp_path / "Broken.template.json"
    broken.write_text('{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketNme": "x"}}}}')
    success, findings = validate([broken])
    assert not success and any("BucketNme" in f for f in findings)
