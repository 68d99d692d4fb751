"""bashlex's parse tables read from the cache are the tables bashlex builds, and a bad cache is rebuilt.

``sshwall.analysis.parsetables`` replaces only the LALR build inside bashlex's ``yacc.yacc()``;
these tests prove the loaded tables equal the rebuilt ones (entry for entry, in the same order),
that a fresh interpreter reaches the same parser from a cold cache, a warm cache and no cache,
and that a cache file that is corrupt, stale or out of range is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bashlex.parser
import bashlex.yacc
import pytest

from sshwall.analysis import parsetables

PLY_SOURCE = Path(bashlex.yacc.__file__).read_bytes()


def _build(folder: Path | None, real: Any = bashlex.yacc.LRTable) -> tuple[Any, list[str]]:
    """bashlex's parser built again by ``yacc.yacc()``, its LRTable from ``loading_table``."""
    came_from: list[str] = []
    bashlex.yacc.LRTable = parsetables.loading_table(real, PLY_SOURCE, folder, came_from)
    try:
        parser = bashlex.yacc.yacc(module=bashlex.parser, debug=False, errorlog=bashlex.yacc.NullLogger())
    finally:
        bashlex.yacc.LRTable = real
    return parser, came_from


def _rows(table: Any) -> list[tuple[int, list[tuple[str, int]]]]:
    return [(state, list(row.items())) for state, row in table.items()]


@pytest.fixture(scope="module")
def rebuilt() -> Any:
    """The parser with its tables built by PLY (no cache at all)."""
    parser, came_from = _build(None)
    assert came_from == ["built"]
    return parser


def test_loaded_tables_equal_the_rebuilt_ones(tmp_path: Path, rebuilt: Any) -> None:
    cold, first = _build(tmp_path)
    warm, second = _build(tmp_path)
    assert (first, second) == (["built"], ["cache"])
    assert len(list(tmp_path.iterdir())) == 1
    for parser in (cold, warm):
        assert _rows(parser.action) == _rows(rebuilt.action)
        assert _rows(parser.goto) == _rows(rebuilt.goto)
        assert parser.defaulted_states == rebuilt.defaulted_states
        assert [(p.name, p.len, p.func, p.callable) for p in parser.productions] == [
            (p.name, p.len, p.func, p.callable) for p in rebuilt.productions
        ]


def _cache_file(folder: Path) -> Path:
    (path,) = folder.iterdir()
    return path


def _tamper(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _first_row(data: dict[str, Any]) -> list[Any]:
    row: list[Any] = data["action"][0][1]
    return row


BAD_CACHES = {
    "not json": lambda path: path.write_text("{"),
    "empty": lambda path: path.write_bytes(b""),
    "one byte more": lambda path: path.write_bytes(path.read_bytes() + b" "),
    "other key": lambda path: _tamper(path, lambda d: d.update(key="0" * 64)),
    "other format": lambda path: _tamper(path, lambda d: d.update(format=-1)),
    "another shift": lambda path: _tamper(path, lambda d: _first_row(d)[0].__setitem__(1, 1)),
    "missing state": lambda path: _tamper(path, lambda d: d["action"].pop()),
}


@pytest.mark.parametrize("spoil", BAD_CACHES.values(), ids=BAD_CACHES.keys())
def test_a_changed_cache_file_is_never_read(tmp_path: Path, rebuilt: Any, spoil: Any) -> None:
    _build(tmp_path)
    spoil(_cache_file(tmp_path))
    parser, came_from = _build(tmp_path)
    assert came_from == ["built"]
    assert _rows(parser.action) == _rows(rebuilt.action)
    assert _build(tmp_path)[1] == ["cache"]  # the rebuilt tables were written back


def test_the_known_digest_is_that_of_the_tables_ply_builds() -> None:
    grammar, built = _grammar_of_a_build()
    key = parsetables.grammar_key(grammar, PLY_SOURCE)
    assert key in parsetables.KNOWN_TABLES, "another bashlex grammar: add its digest to KNOWN_TABLES"
    payload = parsetables.tables_payload(key, built.lr_action, built.lr_goto)
    assert hashlib.sha256(payload).hexdigest() == parsetables.KNOWN_TABLES[key]


def _grammar_of_a_build() -> tuple[Any, Any]:
    """The grammar ``yacc.yacc()`` hands to LRTable for bashlex's parser, and the real LRTable of it."""
    seen: list[tuple[Any, Any]] = []
    real = bashlex.yacc.LRTable

    def spy(grammar: Any, log: Any = None) -> Any:
        seen.append((grammar, real(grammar, log)))
        return seen[-1][1]

    _build(None, real=spy)
    return seen[0]


def test_a_grammar_without_a_known_digest_is_built_and_never_cached(tmp_path: Path, rebuilt: Any) -> None:
    real = bashlex.yacc.LRTable
    for _ in range(2):
        came_from: list[str] = []
        bashlex.yacc.LRTable = parsetables.loading_table(real, PLY_SOURCE, tmp_path, came_from, known={})
        try:
            parser = bashlex.yacc.yacc(module=bashlex.parser, debug=False, errorlog=bashlex.yacc.NullLogger())
        finally:
            bashlex.yacc.LRTable = real
        assert came_from == ["built"]
        assert _rows(parser.action) == _rows(rebuilt.action)
    assert list(tmp_path.iterdir()) == []


def _decoded(rebuilt: Any) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    return {s: dict(r) for s, r in rebuilt.action.items()}, {s: dict(r) for s, r in rebuilt.goto.items()}


TABLE_FAULTS = {
    "shift out of range": lambda a, g: a[0].__setitem__(next(iter(a[0])), 10**6),
    "reduce out of range": lambda a, g: a[0].__setitem__(next(iter(a[0])), -(10**6)),
    "unknown terminal": lambda a, g: a[0].__setitem__("NOT_A_TOKEN", 1),
    "accept off $end": lambda a, g: a[0].__setitem__(next(iter(a[0])), 0),
    "missing state": lambda a, g: a.pop(max(a)),
    "goto to nowhere": lambda a, g: g[0].__setitem__(next(iter(g[0])), -1),
    "goto on a terminal": lambda a, g: g[0].__setitem__("BAR", 1),
}


@pytest.mark.parametrize("fault", TABLE_FAULTS.values(), ids=TABLE_FAULTS.keys())
def test_tables_out_of_range_are_refused(rebuilt: Any, fault: Any) -> None:
    grammar, _ = _grammar_of_a_build()
    action, goto = _decoded(rebuilt)
    parsetables.check_tables(action, goto, grammar)
    fault(action, goto)
    with pytest.raises(ValueError):
        parsetables.check_tables(action, goto, grammar)


def test_another_grammar_gets_another_key(rebuilt: Any) -> None:
    grammar = _Grammar(rebuilt)
    key = parsetables.grammar_key(grammar, PLY_SOURCE)
    assert key != parsetables.grammar_key(grammar, PLY_SOURCE + b"\n# another PLY\n")
    grammar.Start = "other"
    assert key != parsetables.grammar_key(grammar, PLY_SOURCE)


class _Grammar:
    """Just the fields grammar_key reads."""

    def __init__(self, parser: Any) -> None:
        self.Productions = list(parser.productions)
        self.Precedence = {"BAR": ("right", 3)}
        self.Terminals: dict[str, list[int]] = {"BAR": []}
        self.Start = "inputunit"


def test_an_unwritable_folder_only_costs_time(tmp_path: Path, rebuilt: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    parser, came_from = _build(blocker / "sub")
    assert came_from == ["built"]
    assert _rows(parser.action) == _rows(rebuilt.action)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSHWALL_CACHE_DIR", str(tmp_path))
    assert parsetables.cache_dir() == tmp_path
    monkeypatch.setenv("SSHWALL_CACHE_DIR", "off")
    assert parsetables.cache_dir() is None
    monkeypatch.delenv("SSHWALL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parsetables.cache_dir() == tmp_path / "sshwall"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parsetables.cache_dir() == tmp_path / ".cache" / "sshwall"


_PROBE = """
import hashlib, json, sys
import sshwall.analysis
from sshwall.analysis import parsetables
import bashlex
p = bashlex.parser.yaccparser
state = [
    [(s, list(r.items())) for s, r in p.action.items()],
    [(s, list(r.items())) for s, r in p.goto.items()],
    sorted(p.defaulted_states.items()),
    [bashlex.parse(c)[0].dump() for c in ("ls -l | wc -l", "a && b; c & d", "echo $(x) `y` <(z)", "f() { g; }")],
]
print(parsetables.TABLES_FROM, hashlib.sha256(json.dumps(state).encode()).hexdigest())
"""


def _probe(cache: str) -> tuple[str, str]:
    env = {**os.environ, "SSHWALL_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    came_from, digest = out.stdout.split()
    return came_from, digest


def test_a_fresh_interpreter_parses_the_same_from_cold_warm_and_no_cache(tmp_path: Path) -> None:
    none = _probe("off")
    cold = _probe(str(tmp_path))
    warm = _probe(str(tmp_path))
    assert (none[0], cold[0], warm[0]) == ("built", "built", "cache")
    assert none[1] == cold[1] == warm[1]
