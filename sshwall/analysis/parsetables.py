"""bashlex's LALR parse tables, read from a validated cache instead of rebuilt at every import.

bashlex carries a copy of PLY whose ``yacc.yacc()`` runs at ``import bashlex`` and rebuilds the
LALR tables of the bash grammar every time (its ``write_tables`` / ``picklefile`` options are
gone from that copy): about a fifth of a second, most of a ``sshwall check`` process.

``import_bashlex()`` imports bashlex exactly as ``import bashlex`` does, with one difference:
while bashlex's parser module builds its parser, ``yacc.LRTable`` is replaced by a function that
returns the tables of a cache file when that file is the one known for this grammar, and
otherwise builds the real ``LRTable`` (and writes the cache). Everything else of ``yacc.yacc()`` runs unchanged:
the grammar is reflected from bashlex's ``p_*`` functions and checked, the parser object is
built, the callables bound. So the parser is bashlex's own, on the same action and goto tables.

The cache is keyed by a digest of everything the tables are a function of: PLY's source
(``bashlex/yacc.py``) and the grammar (every production with its precedence, the precedence
table, the terminals, the start symbol). A cache file is only read when its SHA-256 is the one
``KNOWN_TABLES`` (checked in, beside this code) gives for that key, so no one who can write the
cache folder can change how sshwall parses; a grammar not listed there (another bashlex release)
has its tables built at every import, as bashlex does, until its digest is added.
``tests/analysis/test_parsetables.py`` proves the listed digest is that of the tables PLY builds
for the installed bashlex, and that the loaded tables equal the rebuilt ones.

The folder is ``$SSHWALL_CACHE_DIR``, else ``$XDG_CACHE_HOME/sshwall``, else ``~/.cache/sshwall``;
``SSHWALL_CACHE_DIR=off`` (or an unwritable folder) turns the cache off.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

FORMAT = 1  # the layout of the cache file; bump it when the layout changes
CACHE_ENV = "SSHWALL_CACHE_DIR"

# The SHA-256 of the cache file of each grammar whose tables may be cached, by grammar key:
# the tables PLY builds for bashlex 0.18's grammar. A cache file is read only when its digest
# is the one here, so a file changed by anyone (or a stale one) is never used; a grammar not
# listed (another bashlex) has its tables built at every import, as bashlex does.
# tests/analysis/test_parsetables.py proves this digest is that of the tables bashlex builds.
KNOWN_TABLES: dict[str, str] = {
    # bashlex 0.18
    "d74e3398313557362f4cabd1118d758b6619c322b61adddc800f20a12844b8e0":
        "e6917fe8513607fb9ccd47329c1f38405d3ad4d8e843756d6db7ea6f4dd8ff83",
}

Table = dict[int, dict[str, int]]


def cache_dir() -> Path | None:
    """The folder of sshwall's caches, or None when caching is turned off."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit is not None:
        return None if explicit in ("", "off", "0") else Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "sshwall"
    home = os.path.expanduser("~")
    return None if home == "~" else Path(home) / ".cache" / "sshwall"


def grammar_key(grammar: Any, ply_source: bytes) -> str:
    """A digest of all the LALR tables depend on: PLY's code and the grammar."""
    digest = hashlib.sha256()
    digest.update(b"sshwall-bashlex-tables %d\n" % FORMAT)
    digest.update(hashlib.sha256(ply_source).digest())
    shape = {
        "productions": [[p.name, list(p.prod), list(p.prec)] for p in grammar.Productions if p is not None],
        "precedence": sorted([k, list(v)] for k, v in grammar.Precedence.items()),
        "terminals": sorted(grammar.Terminals),
        "start": grammar.Start,
    }
    digest.update(json.dumps(shape, sort_keys=True).encode())
    return digest.hexdigest()


def _encode(table: Table) -> list[list[Any]]:
    # In PLY's own order, so that the loaded dicts iterate exactly as the built ones.
    return [[state, list(row.items())] for state, row in table.items()]


def _decode(rows: Any) -> Table:
    """``[[state, [[symbol, value], ...]], ...]`` back into PLY's dict of dicts (or ValueError)."""
    if not isinstance(rows, list):
        raise ValueError("not a list of rows")
    table: Table = {}
    for row in rows:
        state, items = row
        if type(state) is not int or not isinstance(items, list):
            raise ValueError("bad row")
        entry: dict[str, int] = {}
        for symbol, value in items:
            if not isinstance(symbol, str) or type(value) is not int:
                raise ValueError("bad entry")
            entry[symbol] = value
        table[state] = entry
    return table


def check_tables(action: Table, goto: Table, grammar: Any) -> None:
    """Raise ValueError unless the tables are well formed for ``grammar``.

    Well formed: the states are 0..N-1; a shift or goto names a state; a reduce names a
    production (and 0, accept, is only on ``$end``); symbols are the grammar's terminals (and
    ``$end``) in the action table, its nonterminals in the goto table.
    """
    states = len(action)
    if set(action) != set(range(states)) or not set(goto) <= set(action):
        raise ValueError("states are not 0..N-1")
    productions = len(grammar.Productions)
    terminals = set(grammar.Terminals) | {"$end"}
    for row in action.values():
        for symbol, value in row.items():
            if symbol not in terminals:
                raise ValueError(f"unknown terminal {symbol!r}")
            if value > 0 and value >= states:
                raise ValueError("shift to an unknown state")
            if value < 0 and -value >= productions:
                raise ValueError("reduce by an unknown production")
            if value == 0 and symbol != "$end":
                raise ValueError("accept on a symbol other than $end")
    nonterminals = set(grammar.Nonterminals)
    for row in goto.values():
        for symbol, value in row.items():
            if symbol not in nonterminals or not 0 <= value < states:
                raise ValueError("bad goto entry")


def tables_payload(key: str, action: Table, goto: Table) -> bytes:
    """The canonical bytes of a cache file: what is written, and what its digest is taken of."""
    return json.dumps(
        {"format": FORMAT, "key": key, "action": _encode(action), "goto": _encode(goto)},
        separators=(",", ":"),
    ).encode()


def read_tables(path: Path, key: str, digest: str, grammar: Any) -> tuple[Table, Table] | None:
    """The tables of the cache file at ``path`` if its SHA-256 is ``digest``, else None."""
    try:
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != digest:
            return None
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
            return None
        action, goto = _decode(data["action"]), _decode(data["goto"])
        check_tables(action, goto, grammar)
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return action, goto


def write_tables(path: Path, payload: bytes) -> None:
    """Write a cache file atomically (a temporary file renamed into place); errors are ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only or full cache folder: the next import builds the tables again


def cache_path(key: str, folder: Path) -> Path:
    """The cache file for tables with ``key``."""
    return folder / f"bashlex-lalr-{key[:32]}.json"


def loading_table(
    lrtable: Any,
    ply_source: bytes,
    folder: Path | None,
    built_here: list[str],
    known: dict[str, str] = KNOWN_TABLES,
) -> Callable[..., Any]:
    """A stand-in for ``yacc.LRTable(grammar, log)``: the cached tables, else the real build.

    Only a grammar whose key is in ``known`` is cached, and only a file whose digest is the one
    ``known`` gives is read. Each call appends to ``built_here`` where its tables came from:
    ``"cache"`` or ``"built"``.
    """

    def table(grammar: Any, log: Any = None) -> Any:
        key = grammar_key(grammar, ply_source)
        digest = known.get(key)
        path = cache_path(key, folder) if folder is not None and digest is not None else None
        tables = read_tables(path, key, digest, grammar) if path is not None and digest is not None else None
        if tables is None:
            built = lrtable(grammar, log)
            if path is not None:
                payload = tables_payload(key, built.lr_action, built.lr_goto)
                if hashlib.sha256(payload).hexdigest() == digest:
                    write_tables(path, payload)
            built_here.append("built")
            return built
        built_here.append("cache")
        # The grammar work the real constructor does first (cheap); only the LALR build is
        # skipped, its result read instead.
        grammar.build_lritems()
        grammar.compute_first()
        grammar.compute_follow()
        loaded = lrtable.__new__(lrtable)
        loaded.grammar = grammar
        loaded.log = log
        loaded.lr_action, loaded.lr_goto = tables
        loaded.lr_productions = grammar.Productions
        loaded.lr_goto_cache, loaded.lr0_cidhash = {}, {}
        loaded._add_count = 0
        loaded.sr_conflict = loaded.rr_conflict = 0
        loaded.conflicts, loaded.sr_conflicts, loaded.rr_conflicts = [], [], []
        return loaded

    return table


@contextmanager
def _tables_from(yacc: Any, folder: Path | None, built_here: list[str]) -> Iterator[None]:
    real = yacc.LRTable
    try:
        source = Path(yacc.__file__ or "").read_bytes()
    except OSError:  # no source to key the cache by: bashlex builds its tables itself
        yield
        return
    yacc.LRTable = loading_table(real, source, folder, built_here)
    try:
        yield
    finally:
        yacc.LRTable = real


def import_bashlex(folder: Path | str | None = "default") -> tuple[ModuleType, str]:
    """``import bashlex``, its parse tables read from the cache in ``folder`` (default: ``cache_dir()``).

    Returns the package and where its tables came from: ``"cache"``, ``"built"`` (and written
    to the cache when it can be), or ``"import"`` when bashlex was imported before, or its package
    is not plain files, and this was a plain ``import bashlex``.
    """
    spec = None if "bashlex" in sys.modules else importlib.util.find_spec("bashlex")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        import bashlex

        return bashlex, "import"
    where = cache_dir() if folder == "default" else (None if folder is None else Path(folder))
    # The package object is registered before its __init__ runs, so that bashlex.yacc can be
    # imported (and its LRTable replaced) before bashlex.parser builds the parser.
    package = importlib.util.module_from_spec(spec)
    sys.modules["bashlex"] = package
    built_here: list[str] = []
    try:
        import bashlex.yacc as yacc

        with _tables_from(yacc, where, built_here):
            spec.loader.exec_module(package)
    except BaseException:
        for name in [n for n in sys.modules if n == "bashlex" or n.startswith("bashlex.")]:
            del sys.modules[name]
        raise
    return package, built_here[0] if len(built_here) == 1 else "built"


# sshwall/analysis/__init__.py imports this module before any module that imports bashlex, so
# that each later ``import bashlex`` finds the package built here.
BASHLEX, TABLES_FROM = import_bashlex()
