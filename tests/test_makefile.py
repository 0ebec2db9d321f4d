"""`make help` lists every target of the Makefile, one line each, from the `## target: what it does` line above it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target_once_with_what_it_does():
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY: (.+)$", makefile, re.M).group(1).split())
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = [line.split()[0] for line in out.splitlines()]
    assert sorted(listed) == sorted(phony)  # every target, once; nothing that is not a target
    for line in out.splitlines():
        name, text = line.split(None, 1)
        assert len(text) > 15 and len(line) <= 160, line  # one line that says what it does
