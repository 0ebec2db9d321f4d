"""A configuration error that lists every problem at once, each with its field path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is, what it was, and what is allowed instead."""

    path: str
    value: Any
    message: str

    def render(self) -> str:
        if self.value is WHOLE_FILE:  # a rule across settings: its message names them, the file is not repeated
            return f"{self.path or '<root>'}: {self.message}"
        shown = "(missing)" if self.value is _MISSING else repr(self.value)
        return f"{self.path or '<root>'}: {shown}: {self.message}"


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING: Any = _Missing()
MISSING = _MISSING
WHOLE_FILE: Any = object()  # the value of a problem found across the file's settings (its message says which)


class ConfigError(Exception):
    """Raised when a configuration file is unreadable or invalid.

    ``problems`` holds every problem found, so one run reports them all.
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.path)
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [f"Invalid configuration in {self.source}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  - {p.render()}" for p in self.problems]
        return "\n".join(lines)
