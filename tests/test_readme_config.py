"""docs/configuration.md's table lists exactly the schema's keys, each with the schema's default (one home: the schema)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("config_reference", ROOT / "tools" / "config_reference.py")
config_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(config_reference)


def _readme_rows() -> dict[str, str]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = text[text.index("<!-- config-table") :].split("\n\n", 1)[0].splitlines()[3:]
    out = {}
    for line in table:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        out[cells[0].strip("`")] = cells[-1]
    return out


def test_the_readme_table_has_every_key_with_the_schemas_default():
    readme, schema = _readme_rows(), config_reference.rows()
    assert sorted(readme) == sorted(schema), "keys differ: run tools/config_reference.py and update docs/configuration.md's table"
    assert {k: readme[k] for k in schema} == schema


def test_a_changed_default_would_be_caught(monkeypatch):
    from config.schema import ApiConfig

    monkeypatch.setattr(ApiConfig.model_fields["rate_limit"], "default", 75)
    assert config_reference.rows()["projects[].deployment.api.rate_limit"] == "75" != _readme_rows()["projects[].deployment.api.rate_limit"]
