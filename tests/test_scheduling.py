"""The suite's own scheduling under `pytest -n N` (tests/conftest.py): the tests that need a one-worker fixture, or are
marked ``one_worker``, all run on one worker; the rest are shared out. Run as a small suite of its own on 2 workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = """
import pytest
from tests.conftest import pytest_collection_modifyitems, pytest_configure, pytest_xdist_make_scheduler  # noqa: F401


@pytest.fixture(scope="session")
def longest():
    return "synthesized once, on the one worker that asks for it"
"""

TESTS = """
import os
from pathlib import Path

import pytest

OUT = Path(os.environ["WHERE_EACH_RAN"])


def ran(name):
    (OUT / name).write_text(os.environ["PYTEST_XDIST_WORKER"])


@pytest.mark.parametrize("i", range(6))
def test_needs_the_fixture(longest, i):
    ran(f"grouped-{i}")


@pytest.mark.one_worker
def test_marked():
    ran("grouped-marked")


@pytest.mark.parametrize("i", range(12))
def test_plain(i):
    ran(f"plain-{i}")
"""


def test_the_one_worker_group_runs_on_one_worker_and_the_rest_is_shared(tmp_path):
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_grouping.py").write_text(TESTS)
    (suite / "pytest.ini").write_text((ROOT / "pytest.ini").read_text().replace("testpaths = tests\n", ""))  # the marker
    # xdist alone: the other installed plugins (syrupy, anyio's, typeguard's) have nothing to do in this suite
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        env={**os.environ, "PYTHONPATH": str(ROOT), "WHERE_EACH_RAN": str(out), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    where = {p.name: p.read_text() for p in out.iterdir()}
    assert len(where) == 19
    grouped = {w for name, w in where.items() if name.startswith("grouped-")}
    assert len(grouped) == 1, where
    assert set(where.values()) == {"gw0", "gw1"}, where  # the rest shared out
