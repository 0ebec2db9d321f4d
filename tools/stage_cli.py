"""What every operator tool that acts on one stage's AWS resources starts with: ``--stage``, its own arguments, and the
stage's configuration (a bad stage: the loader's report on stderr and exit status 2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import ConfigError, PlatformConfig, load_config  # noqa: E402


def parse_stage(
    doc: str, argv: list[str] | None, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> tuple[argparse.Namespace, PlatformConfig] | int:
    """The parsed arguments and the stage's config, or the exit status when the stage's config is refused. The
    description is the first paragraph of ``doc`` (the tool's module docstring)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return args, load_config(args.stage)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
