"""The configuration's keys and their defaults, read from the schema (config/schema.py), the one place defaults live.

``python tools/config_reference.py`` prints them as docs/configuration.md's table rows (key and default;
the meaning column is the page's own). tests/test_readme_config.py checks that the table lists
exactly these keys with exactly these defaults.
"""

from __future__ import annotations

import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import PlatformConfig  # noqa: E402


def render(value: Any) -> str:
    """A default as docs/configuration.md writes it."""
    if value is PydanticUndefined:
        return "required"
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, (list, tuple)):
        return ", ".join(f"`{v}`" for v in value)
    if isinstance(value, str):
        return f"`{value}`"
    return str(value)


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The schema models an annotation holds (directly, in a list, optional, or in a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return []


def _default(field) -> Any:
    if field.default_factory is not None:
        return field.default_factory()
    return field.default


def rows(model: type[BaseModel] = PlatformConfig, prefix: str = "") -> dict[str, str]:
    """Key path -> rendered default, for every field (a union's members' fields merged, each default named by member)."""
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        members = _models(field.annotation)
        is_list = typing.get_origin(field.annotation) is list
        if not members:
            out[key] = render(_default(field))
            continue
        if type(None) in typing.get_args(field.annotation) or is_list:
            out[key] = render(_default(field))  # an optional block (off when absent) or a list of blocks (none by default)
        below = f"{key}[]." if is_list else f"{key}."
        if len(members) == 1:
            out.update(rows(members[0], below))
            continue
        merged: dict[str, list[str]] = {}
        for member in members:  # a discriminated union (network.mode: new | existing)
            tag = typing.get_args(member.model_fields["mode"].annotation)[0]
            for sub, default in rows(member, below).items():
                merged.setdefault(sub, []).append(f"{tag}: {default}" if not sub.endswith(".mode") else f"`{tag}`")
        for sub, values in merged.items():
            plain = {v.split(": ", 1)[-1] for v in values}
            if sub.endswith(".mode"):
                out[sub] = " or ".join(values)
            elif len(values) == len(members) and len(plain) == 1:
                out[sub] = plain.pop()  # the same in every member
            else:
                out[sub] = "; ".join(values)
    return out


if __name__ == "__main__":
    for key, default in rows().items():
        print(f"| `{key}` |  | {default} |")
