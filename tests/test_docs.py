"""The docs' pictures (docs/pictures, tools/docs.py) are what the code synthesizes: the DOT source of each is rebuilt from
the session's dev stage and compared, and each SVG carries the SHA-256 of the source it was drawn from. `make docs`
redraws them; this test needs no Graphviz."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_tool", ROOT / "tools" / "docs.py")
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)


def test_the_pictures_are_drawn_from_what_dev_synthesizes(dev):
    assert docs.stale(docs.OUT, docs.sources(dev.outdir)) == [], "run make docs and commit docs/pictures"


def test_a_picture_out_of_date_is_found(dev, tmp_path):
    fresh = docs.sources(dev.outdir)
    for name, source in fresh.items():
        (tmp_path / f"{name}.dot").write_text(source)
        (tmp_path / f"{name}.svg").write_text(f"<!-- dot source sha256: {docs.digest(source)} -->\n<svg></svg>")
    assert docs.stale(tmp_path, fresh) == []
    changed = {**fresh, "architecture": fresh["architecture"].replace("SSM x7", "SSM x8", 1)}  # a stack reads one more parameter
    problems = docs.stale(tmp_path, changed)
    assert len(problems) == 2 and problems[0].endswith("architecture.dot differs from what the code synthesizes")
    assert problems[1] == "architecture.svg was not drawn from the current architecture.dot"


def test_the_architecture_shows_every_stack_grouped_by_what_it_is_per_and_the_ssm_hand_overs(dev):
    source = docs.sources(dev.outdir)["architecture"]
    stacks = [
        a["properties"]["stackName"]
        for a in json.loads((dev.outdir / "manifest.json").read_text())["artifacts"].values()
        if a["type"] == "aws:cloudformation:stack"
    ]
    assert all(f'"{s}" [label="{s}' in source for s in stacks)
    for cluster in (
        "the stage (mlops-dev): one each",
        "per project: churn",
        "per project: fraud",
        "per user: alice",
        "per sandbox (a user in a project)",
    ):
        assert f'label="{cluster}"' in source
    # the pipeline reads the project's parameters (its buckets, key, topic...), the dashboard the pipeline's state machine
    assert '"mlops-dev-project-churn" -> "mlops-dev-pipeline-churn" [label="SSM x' in source
    assert '"mlops-dev-pipeline-churn" -> "mlops-dev-dashboard-churn" [label="SSM x1"]' in source


def test_the_training_pipeline_has_a_node_per_state_and_its_failure_path(dev):
    source = docs.sources(dev.outdir)["training-pipeline"]
    stacks = docs._stacks(dev.outdir)
    definition = docs._definition(stacks["mlops-dev-pipeline-churn"])
    assert all(f'"{name}" [' in source for name in definition["States"])
    assert '"Train" -> "NotifyFailure" [style=dashed' in source  # a Catch
    assert '"QualityGate" -> "NotifyGateFailed" [label=otherwise]' in source


def test_the_readme_is_short_and_links_every_page_that_exists():
    """The README is the first screen and a table of the docs (issue 33): at most about 200 lines, every docs page linked
    from it, every link it has resolving."""
    import re

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert next(i for i, line in enumerate(readme.splitlines()) if line.startswith("## Quick start")) < 25  # on the first screen
    links = set(re.findall(r"\]\(((?:docs/)[^)#]+)\)", readme))
    assert all((ROOT / link).exists() for link in links), [link for link in links if not (ROOT / link).exists()]
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= links, f"pages the README does not link: {sorted(pages - links)}"
