"""`make bench-serve`'s arguments reach wrk in a form wrk takes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
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


def test_the_parallel_floor_adds_up_what_each_process_scored(monkeypatch):
    seen = []
    monkeypatch.setattr(bench_serve, "_rows_per_s", lambda score, X, seconds: seen.append(X.shape) or 100.0)  # forked: each process has it
    assert bench_serve.floor_in_parallel(print, np.zeros((10, 3)), processes=3, max_seconds=1) == 300.0
    assert seen == []  # the scoring ran in the 3 processes, not in this one


def test_the_floor_counts_rows_not_calls():
    calls = []
    rate = bench_serve._rows_per_s(calls.append, np.zeros((10, 3)), 0.01)
    assert calls and len(calls) * 10 / 5 <= rate <= len(calls) * 10 / 0.01  # 10 rows a call, over 0.01 s (at most 5)
