"""Put this stage's TagOption on the stacks its products provisioned before the TagOption existed, once, after the
upgrade that added it (``make tag-provisioned STAGE=dev``, then again with ``APPLY=1``).

The Service Catalog launch roles update, delete or re-policy only a stack that carries the stage's TagOption
(``Names.stack_tags``, ``platform-stage: <prefix>-<stage>``); Service Catalog puts it on every stack provisioned since.
A project, user or sandbox provisioned earlier has a stack without it, which its launch role can no longer update or
terminate. This tool, with the operator's credentials:

1. finds the stage's provisioned stacks: live ``SC-*`` stacks that own an SSM parameter under the stage's path
   (``/<prefix>/<stage>/``): every product publishes its parameters there, and no other stack of the account does;
2. leaves alone the stacks already tagged, and refuses to retag a stack another stage's tag already names;
3. with ``--apply``, updates each remaining stack with its own template and parameter values (``UsePreviousTemplate``,
   ``UsePreviousValue``), its capabilities, and its tags plus this stage's: CloudFormation changes tags only, in place
   (every resource type the products create takes tag updates without replacement), and waits for each update.

Without ``--apply`` it prints what it would tag and changes nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stage_cli import paginated, parse_stage, render  # noqa: E402

from config.naming import Names  # noqa: E402

# stacks a product may be updated from (CloudFormation refuses an update in any other status)
LIVE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE")
SERVICE_CATALOG_STACK = "SC-"  # Service Catalog names provisioned stacks SC-<account>-pp-<id>
RESERVED_TAG_PREFIX = "aws:"  # AWS's own tags: CloudFormation refuses them in a request, and keeps them


@dataclass
class Plan:
    tag: dict[str, str]
    to_tag: list[str] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)  # tagged for another stage: never retagged

    def render(self, applied: bool) -> str:
        ((key, value),) = self.tag.items()
        return render(
            (
                ("Tagged now" if applied else "Would tag (run again with --apply)", self.to_tag),
                (f"Already tagged {key}: {value}", self.tagged),
                (f"Refused: tagged {key} for another stage", self.foreign),
            )
        )


def provisioned_stacks(cloudformation: Any, names: Names) -> list[str]:
    """The live SC-* stacks that own a parameter under the stage's SSM path: the stage's provisioned products."""
    path = f"{names.parameters}/"
    return [
        s["StackName"]
        for s in paginated(cloudformation, "list_stacks", "StackSummaries", StackStatusFilter=list(LIVE))
        if s["StackName"].startswith(SERVICE_CATALOG_STACK)
        and any(
            r["ResourceType"] == "AWS::SSM::Parameter" and r.get("PhysicalResourceId", "").startswith(path)
            for r in paginated(cloudformation, "list_stack_resources", "StackResourceSummaries", StackName=s["StackName"])
        )
    ]


def plan(cloudformation: Any, names: Names) -> Plan:
    result = Plan(tag=dict(names.stack_tags))
    ((key, value),) = result.tag.items()
    for name in provisioned_stacks(cloudformation, names):
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        current = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        bucket = result.to_tag if key not in current else result.tagged if current[key] == value else result.foreign
        bucket.append(name)
    return result


def tag(cloudformation: Any, plan_: Plan, *, delay: int = 15, wait_seconds: int = 3600) -> None:
    """Update each stack of ``plan_.to_tag`` with its own template, parameter values and capabilities, and its tags plus
    the stage's; waits for each, polling every ``delay`` seconds for at most ``wait_seconds`` (a failed update rolls
    back, and stops the tool with the stack's name)."""
    waiter = cloudformation.get_waiter("stack_update_complete")
    for name in plan_.to_tag:
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", []) if not t["Key"].startswith(RESERVED_TAG_PREFIX)}
        cloudformation.update_stack(
            StackName=name,
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in stack.get("Parameters", [])],
            Capabilities=stack.get("Capabilities", []),
            Tags=[{"Key": k, "Value": v} for k, v in {**tags, **plan_.tag}.items()],
        )
        waiter.wait(StackName=name, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, wait_seconds // delay)})


def main(argv: list[str] | None = None) -> int:
    parsed = parse_stage(
        __doc__, argv, lambda p: p.add_argument("--apply", action="store_true", help="update the stacks (without it, only print what would change)")
    )
    if isinstance(parsed, int):
        return parsed
    args, config = parsed
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    cloudformation = boto3.Session(region_name=config.region).client("cloudformation")
    try:
        found = plan(cloudformation, config.names)
        if args.apply:
            tag(cloudformation, found)
    except (ClientError, BotoCoreError, WaiterError) as exc:
        print(f"tagging the provisioned stacks of stage {config.stage} stopped: {exc}", file=sys.stderr)
        return 1
    print(found.render(applied=args.apply))
    return 1 if found.foreign else 0


if __name__ == "__main__":
    sys.exit(main())
