"""The shipped YAML files, also stored parsed: read instead of the YAML when they are the very
text they were parsed from.

PyYAML's constructor and resolver run in Python even over libyaml's parser, so the embedded
default policy (125 kB) takes about 50 ms to read, a tenth of a ``sshwall check`` process; its
JSON form about 1.5 ms. ``rules/parsed.json`` (``PARSED``) holds, for each YAML file of the
shipped rules folder, the SHA-256 of its text and the data PyYAML reads from it.
``lookup(root, path, text)`` returns that data only when ``path`` is a file of the rules folder
``root``, ``text`` has exactly that digest and the installed PyYAML is the release that read it;
otherwise None, and the YAML is parsed as every other file is. Nothing here is validated, and
nothing is written at run time: each policy is still validated, and its examples still run, at
every load. The file is shipped with the code, like the YAML beside it.

An entry's data has JSON's own types only (text keys; lists, text, int, finite float, bool,
None), in the YAML's order: a file whose data has anything else (dates, number keys) gets no
entry. ``python -c "import sshwall.policy.prebuilt as p; p.main()"`` writes the file again
after a shipped YAML file changed; ``tests/policy/test_prebuilt.py`` proves that every entry is current and is exactly
what PyYAML reads (order and types included), and that writing the file again gives the same
bytes. Until it is written again, a changed file is simply parsed.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

FORMAT = 1  # the layout of the file; bump it when the layout changes
PARSED = "parsed.json"
ENABLED = True
"""False: every file is parsed (what ``bench/startup.py`` turns off to show the saving)."""


class Parsed(NamedTuple):
    """The data of a shipped YAML file, as PyYAML reads it (a fresh copy for each caller)."""

    data: Any


def digest(text: str) -> str:
    """The SHA-256 of ``text`` as read (UTF-8), which an entry is keyed by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plain(value: Any) -> bool:
    """Whether ``value`` is made of JSON's own types only (so JSON gives it back exactly)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and plain(v) for k, v in value.items())
    if kind is list:
        return all(plain(v) for v in value)
    if kind is float:
        return math.isfinite(value)
    return kind in (str, int, bool, type(None))


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types throughout (``1`` is not ``True`` or ``1.0``) and mappings in
    the same order."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(same(v, b[k]) for k, v in a.items())
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _key(root: Path, path: Path) -> str | None:
    """``path`` relative to ``root`` (``profiles/mcp-ssh.yaml``), or None when outside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def lookup(root: Path, path: Path, text: str) -> Parsed | None:
    """The stored data of ``path`` (whose text is ``text``), or None: parse it."""
    if not ENABLED or path.suffix not in (".yaml", ".yml"):
        return None
    key = _key(root, path)
    if key is None:
        return None
    try:
        stored = json.loads((root / PARSED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT or stored.get("pyyaml") != yaml.__version__:
        return None
    files = stored.get("files")
    entry = files.get(key) if isinstance(files, dict) else None
    if not isinstance(entry, dict) or entry.get("sha256") != digest(text) or "data" not in entry:
        return None
    return Parsed(entry["data"])


def build(root: Path) -> str:
    """The text of ``root``'s parsed file: every YAML file below it (by path) that parses to
    JSON's own types, as PyYAML's own loader reads it."""
    files: dict[str, Any] = {}
    for path in sorted(root.rglob("*.yaml"), key=lambda p: p.relative_to(root).as_posix()):
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=yaml.SafeLoader)
        if plain(data) and same(json.loads(json.dumps(data)), data):
            files[path.relative_to(root).as_posix()] = {"sha256": digest(text), "data": data}
    body = {"format": FORMAT, "pyyaml": yaml.__version__, "files": files}
    return json.dumps(body, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the parsed file of the rules folder ``argv[0]`` (default: the shipped one) again."""
    from sshwall.policy.load import embedded_rules

    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else embedded_rules()
    (root / PARSED).write_text(build(root), encoding="utf-8")
    print(f"wrote {root / PARSED}")
    return 0
