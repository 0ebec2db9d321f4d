"""checkov's command line, run by the checkov venv's Python (tests/test_checkov.py), with one change that leaves every
check and result as they are: each thread builds each JSONPath grammar's parser once.

checkov resolves a template's references with bc_jsonpath_ng, whose ``parse`` builds a new PLY LALR parser for every
path it parses ("we regenerate the parse table every time; it doesn't actually take that long!"): 126 paths for dev's
templates, 45% of checkov's time there under a profiler (10.6 s -> 6.6 s without one, the same findings). The tables depend on the grammar only (the parser class
and start symbol), so the first one built is kept, per thread (checkov renders references on a thread pool, and a PLY
parser keeps its stacks on itself while it parses).
"""

from __future__ import annotations

import sys
import threading

import ply.yacc

_built = threading.local()
_yacc = ply.yacc.yacc


def yacc(*, module=None, start=None, **kwargs):
    parsers = _built.__dict__.setdefault("parsers", {})
    key = (type(module), start)
    if key not in parsers:
        parsers[key] = _yacc(module=module, start=start, **kwargs)
    return parsers[key]


if __name__ == "__main__":
    ply.yacc.yacc = yacc
    from checkov.main import Checkov

    sys.exit(Checkov().run())
