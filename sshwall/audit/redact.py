"""Redaction: what an audit record may say about a call's arguments.

Passwords, private keys, passphrases and tokens never reach the audit log. Four nets catch them:

1. the arguments the tool profile marks ``kind: secret`` (``secret_argument_names``),
2. defensively, any key whose name looks like a secret (``password``, ``passphrase``,
   ``privateKey``, ``token``, ``apiKey``...), at any depth, plus PEM private-key blocks inside
   any string (a key pasted into a command),
3. secrets *inside* any string, a command line or free text (``name``, ``tags``): programs'
   secret flags (``sshpass -p``, ``mysql -p``, ``curl -u``...), URL user info, secret-named
   assignments and headers, known token formats (``sshwall.audit.textsecrets``), and
4. every secret found by 1-3 is also scrubbed from the record's other fields (a reason or a
   detail that quotes the command), when it is at least ``MIN_SCRUB`` characters long.

The same walk turns whatever it is given into plain JSON values that always serialise (lone
surrogates, NaN, huge integers, sets, bytes, objects), and bounds the size: strings over
``MAX_STRING`` characters are cut with a ``…[truncated N chars]`` marker, containers over
``MAX_ITEMS`` entries, nesting deeper than ``MAX_DEPTH``, and a total budget per value. A 10 MB
argument or a hostile structure costs a few kilobytes of audit log, and never a lost record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

from sshwall.audit.textsecrets import REDACTED, redact_text

if TYPE_CHECKING:
    from sshwall.profiles import ToolProfile

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A value ``json.dumps`` accepts as is."""

MAX_STRING = 4096  # characters of one string value, marker included
MAX_KEY = 256  # characters of one mapping key
MAX_ITEMS = 256  # entries of one list or mapping
MAX_DEPTH = 32  # nesting levels
BUDGET = 65536  # rough characters of one sanitised value, all nested parts together
MIN_SCRUB = 4  # shorter secrets are not scrubbed from other fields: they would wreck the text
_WINDOW = 1024  # characters past the cut that text redaction still reads (a secret straddling it)
NOT_AN_OBJECT = "(not an object)"
"""The key under which ``redact`` keeps arguments that are not a JSON object."""

_SECRET_KEY = re.compile(
    r"pass(?:word|wd|phrase)|private[_-]?key|secret|token|api[_-]?key|credential|authorization",
    re.IGNORECASE,
)
_PEM_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)


def is_secret_key(name: str) -> bool:
    """Whether a key's name alone says its value is a secret (case-insensitive, substring)."""
    return _SECRET_KEY.search(name) is not None


def clip(text: str, limit: int = MAX_STRING) -> str:
    """``text``, or its start plus ``…[truncated N chars]`` so that the result fits ``limit``."""
    if len(text) <= limit:
        return text
    keep = limit
    for _ in range(4):  # the marker's length depends on N, which depends on the marker: settle it
        marker = f"…[truncated {len(text) - keep} chars]"
        keep = max(limit - len(marker), 0)
    return text[:keep] + f"…[truncated {len(text) - keep} chars]"


def _clean_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (valid in JSON input, not writable as UTF-8)
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if "PRIVATE KEY-----" in text:
        text = _PEM_KEY.sub("[redacted private key]", text)
    return text


class _Walker:
    """One sanitising walk with its own size budget."""

    def __init__(self, secret_names: frozenset[str], found: set[str] | None = None) -> None:
        self.secret_names = secret_names
        self.budget = BUDGET
        self.found: set[str] = set() if found is None else found

    def secret(self, key: str, value: object) -> bool:
        if value is None:
            return False
        if key.lower() in self.secret_names:
            return True
        # A flag such as rememberPassword=true carries no secret; keep what it says.
        return not isinstance(value, bool) and is_secret_key(key)

    def text(self, text: str) -> str:
        limit = max(min(MAX_STRING, self.budget), 64)
        text = _clean_text(text)
        if len(text) > limit + _WINDOW:
            head, found = redact_text(text[: limit + _WINDOW])
            text = head + text[limit + _WINDOW:]
        else:
            text, found = redact_text(text)
        self.found.update(found)
        out = clip(text, limit)
        self.budget -= len(out) + 2
        return out

    def value(self, value: object, depth: int) -> JsonValue:
        if isinstance(value, Enum):
            value = value.value
        if value is None or isinstance(value, bool):
            self.budget -= 5
            return value
        if isinstance(value, int):
            self.budget -= 8
            return value if value.bit_length() <= 256 else f"[integer of {value.bit_length()} bits]"
        if isinstance(value, float):
            self.budget -= 8
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return self.text(str.__str__(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.text(bytes(value).decode("utf-8", "backslashreplace"))
        if depth >= MAX_DEPTH:
            return "[too deep]"
        if isinstance(value, Mapping):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            if isinstance(value, (set, frozenset)):
                items.sort(key=repr)
            return self.sequence(items, depth)
        try:
            return self.text(str(value))
        except Exception:  # noqa: BLE001 - a broken __str__ must not cost the record
            return self.text(f"<{type(value).__name__}>")

    def mapping(self, value: Mapping[object, object], depth: int) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for n, (raw_key, item) in enumerate(value.items()):
            if n >= MAX_ITEMS or self.budget <= 0:
                out["…"] = f"[{len(value) - n} more keys not logged]"
                break
            key = clip(_clean_text(str(raw_key)), MAX_KEY)
            self.budget -= len(key) + 4
            if self.secret(key, item):
                out[key] = REDACTED
                if isinstance(item, str):
                    self.found.add(item)
            else:
                out[key] = self.value(item, depth + 1)
        return out

    def sequence(self, items: list[object], depth: int) -> list[JsonValue]:
        out: list[JsonValue] = []
        for n, item in enumerate(items):
            if n >= MAX_ITEMS or self.budget <= 0:
                out.append(f"…[{len(items) - n} more items not logged]")
                break
            self.budget -= 2
            out.append(self.value(item, depth + 1))
        return out


def _scrub(value: JsonValue, secrets: list[str]) -> JsonValue:
    """``value`` with every occurrence of ``secrets`` (longest first) in its strings redacted."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    return value


def _scrub_list(found: set[str]) -> list[str]:
    return sorted((s for s in found if len(s) >= MIN_SCRUB and s.strip() and s != REDACTED), key=len, reverse=True)


def sanitize(value: object, secret_names: Iterable[str] = ()) -> JsonValue:
    """``value`` as bounded plain JSON, with secrets (named, by key pattern, in text) redacted."""
    walker = _Walker(frozenset(n.lower() for n in secret_names))
    out = walker.value(value, 0)
    secrets = _scrub_list(walker.found)
    return _scrub(out, secrets) if secrets else out


def sanitize_fields(event: Mapping[str, object], secret_names: Iterable[str] = ()) -> dict[str, JsonValue]:
    """A record's fields as bounded plain JSON: each top-level field has its own size budget,
    so a huge ``arguments`` can never crowd out ``decision`` or ``rules``."""
    names = frozenset(n.lower() for n in secret_names)
    found: set[str] = set()
    out: dict[str, JsonValue] = {}
    for key, value in event.items():
        out.update(_Walker(names, found).mapping({key: value}, 0))
    secrets = _scrub_list(found)
    return {key: _scrub(value, secrets) for key, value in out.items()} if secrets else out


def redact(arguments: object, secret_names: Iterable[str] = ()) -> dict[str, JsonValue]:
    """A call's arguments as they may be logged: secrets replaced by ``[redacted]``, sizes bounded.

    ``secret_names`` are argument names to redact wherever they occur (see
    ``secret_argument_names``); keys that look like secrets are redacted whatever the profile
    says. Arguments that are not a mapping (malformed input) are kept, sanitised, under the key
    ``NOT_AN_OBJECT``.
    """
    walker = _Walker(frozenset(n.lower() for n in secret_names))
    if isinstance(arguments, Mapping):
        out: dict[str, JsonValue] = walker.mapping(arguments, 0)
    else:
        out = {NOT_AN_OBJECT: walker.value(arguments, 1)}
    secrets = _scrub_list(walker.found)
    return {key: _scrub(value, secrets) for key, value in out.items()} if secrets else out


def secret_argument_names(profile_tool: ToolProfile | None) -> set[str]:
    """Names of the arguments a tool profile marks ``kind: secret`` (item fields included).

    ``None`` (a tool the profile does not know) has none; the key-name patterns still apply.
    """
    if profile_tool is None:
        return set()
    names: set[str] = set()
    for name, spec in profile_tool.arguments.items():
        if spec.kind == "secret":
            names.add(name)
        for item_name, item_spec in (spec.items or {}).items():
            if item_spec.kind == "secret":
                names.add(item_name)
    return names
