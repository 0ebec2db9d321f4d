"""What the operator tools that act on one stage's AWS resources (``teardown``, ``tag_provisioned_stacks``) share:
``--stage`` with the stage's configuration, every item of a paginated List call, and the report they print."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import ConfigError, PlatformConfig, load_config  # noqa: E402


def parse_stage(
    doc: str, argv: list[str] | None, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> tuple[argparse.Namespace, PlatformConfig] | int:
    """The parsed arguments and the stage's config, or the exit status when the stage's config is refused (the
    loader's report on stderr, 2). The description is the first paragraph of ``doc`` (the tool's module docstring)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return args, load_config(args.stage)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2


def paginated(client: Any, operation: str, key: str, **params: Any) -> list[dict]:
    """Every item of a List call, through botocore's paginator for it (AWS leaves an empty list out of a page)."""
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page.get(key, [])]


def render(sections: Iterable[tuple[str, list[str]]]) -> str:
    """A report: each section's title with its count, then its items (or "(none)")."""
    lines = []
    for title, items in sections:
        lines.append(f"{title} ({len(items)}):")
        lines += [f"  - {item}" for item in items] or ["  (none)"]
    return "\n".join(lines)
