"""`make bench-serve`'s arguments reach wrk in a form wrk takes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import bench_serve  # noqa: E402


def test_the_documented_arguments_give_wrk_whole_seconds():
    args = bench_serve.parse_args(["--runs", "5", "--seconds", "15"])  # the module doc's example
    command = bench_serve.wrk_command(8080, Path("post.lua"), connections=2, seconds=args.seconds)
    assert "-d15s" in command  # wrk refuses "-d15.0s" and prints only its usage


@pytest.mark.parametrize(("argv", "message"), [(["--seconds", "2.5"], "not a whole number"), (["--runs", "0"], "not 1 or more")])
def test_bad_arguments_are_refused_with_the_reason(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        bench_serve.parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
