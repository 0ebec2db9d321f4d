"""Precise cdk-nag acknowledgments: one per finding, each with its reason.

cdk-nag 3 reports a wildcard IAM permission as ``AwsSolutions::AwsSolutions-IAM5[Action::...]`` or
``AwsSolutions-IAM5[Resource::...]``, with CloudFormation references flattened to ``<Logical.Attr>``.
``acknowledge_wildcards`` computes exactly those ids from the tokens the construct used, so an
acknowledgment follows its resource through logical-ID changes and never covers anything else.
Only references local to the stack can be flattened before synthesis: stacks of this platform pass
values to each other through SSM parameters, which are local ``Ref``s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def flatten_cfn_reference(node: Any) -> str:
    """Python port of cdk-nag's ``flattenCfnReference`` (cdk-nag 3.0.2, ``utils/flatten-cfn-reference``)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if node.get("Fn::Join"):
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten_cfn_reference(i) for i in items)
        if node.get("Fn::Sub"):
            return flatten_cfn_reference(node["Fn::Sub"])
        if node.get("Fn::GetAtt"):
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if node.get("Fn::ImportValue"):
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if node.get("Ref"):
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


TOKEN_MARK = "${Token["  # how aws-cdk-lib encodes a token in a string: a string without one resolves to itself


def wildcard_finding_ids(scope: IConstruct, *, actions: Iterable[str] = (), resources: Iterable[str] = ()) -> list[str]:
    """The IAM5 finding ids cdk-nag reports for these actions and resource ARNs (those with a ``*``)."""
    ids = [f"AwsSolutions::AwsSolutions-IAM5[Action::{a}]" for a in actions if "*" in a]
    resources = list(resources)
    if any(TOKEN_MARK in r for r in resources):  # all in one call: a round trip each costs more than the rest
        resources = Stack.of(scope).resolve(resources)
    for resolved in resources:
        flat = flatten_cfn_reference(resolved)
        if "*" in flat:
            ids.append(f"AwsSolutions::AwsSolutions-IAM5[Resource::{flat}]")
    return ids


def acknowledge_wildcards(construct: IConstruct, *, reason: str, actions: Iterable[str] = (), resources: Iterable[str] = ()) -> None:
    """Acknowledge, on ``construct`` and below, exactly the IAM5 findings of these actions and resources."""
    findings = wildcard_finding_ids(construct, actions=actions, resources=resources)
    if findings:  # in one call: a jsii round trip each would cost more than the rest of the work
        Validations.of(construct).acknowledge(*(Acknowledgment(id=finding, reason=reason) for finding in findings))
