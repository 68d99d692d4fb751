"""Secrets inside text: passwords and tokens in command lines and free-text values.

``redact_text(text)`` returns the text with each secret replaced by ``[redacted]`` and the
secrets it found (so that other fields quoting them can be scrubbed too). The text is otherwise
kept as it was, so a command stays readable. Two kinds of knowledge:

1. **Programs' flags** (``sshwall.audit.secretflags``): the text is split into words and
   commands the way a shell would (quotes, escapes, ``;``, ``|``, ``&&``...; no parsing beyond
   that, so any text works, even text no shell would accept). After a known program, at any
   position (so ``sudo``, ``env`` or ``timeout`` in front change nothing), its secret flags are
   redacted: ``sshpass -p S``, ``mysql -pS``, ``curl -u user:S``, ``-H 'Authorization: Bearer
   S'``... Text piped into a program that reads a password from stdin (``echo S | sudo -S``) and
   here-strings into it are redacted. A quoted word holding a command (``sh -c '...'``,
   ``ssh host "..."``) is looked at in turn.
2. **Shapes anywhere**: URL user info (``scheme://user:S@host``), ``Authorization:`` and other
   secret-named headers, ``NAME=S`` / ``NAME: S`` where the name says secret (``PGPASSWORD``,
   ``MYSQL_PWD``, ``api_key``, ``--password=``...), and well-known token formats (GitHub,
   GitLab, Slack, OpenAI/Stripe-style ``sk-`` keys, JWTs).

Over-redaction is the safe side: a word is sometimes redacted that was no secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sshwall.audit.secretflags import (
    POSITIONAL,
    PRINTERS,
    PROGRAMS,
    STDIN_READERS,
    Flag,
    Part,
    Program,
)

REDACTED = "[redacted]"
_MAX_DEPTH = 3
_SEPARATORS = frozenset(";&|()`\n")
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./\[\]-]+")
_SCHEMES = r"(?:bearer|basic|token|digest|negotiate|ntlm|apikey|aws4-hmac-sha256)"
_KEEP = frozenset({
    "", "yes", "no", "true", "false", "on", "off", "none", "null", "0", "1", "prompt", "required",
    "optional", "bearer", "basic", "token", "digest", "negotiate", "ntlm", REDACTED.lower(),
})
_SECRET_NAME = re.compile(
    r"pass(?:word|wd|phrase)|pass$|^pw$|pwd$|^pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credential|authorization|(?:^|[_-])auth$|cookie|sshpass",
    re.IGNORECASE,
)
_NOT_A_SECRET = re.compile(r"(?:[_-](?:file|path|stdin|env|cmd|command|prompt|type|id|ttl|length|dir)|authentication)$",
                           re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:'\"]*:)(?P<secret>[^\s/?#@'\"]+)(?=@)")
_HEADER = re.compile(
    rf"(?<![^\s'\"=(])(?P<keep>(?:proxy-)?authorization|cookie|x-[a-z0-9-]*(?:token|key|secret|auth)[a-z0-9-]*)"
    rf"(?P<sep>[ \t]*:[ \t]*(?:{_SCHEMES}[ \t]+)?)(?P<secret>(?!//)[^'\"\r\n]+)",
    re.IGNORECASE,
)
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<name>-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>[\"']?[ \t]*[=:][ \t]*)"
    r"(?P<secret>\[redacted\]|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s'\",;&|)}\]]+)"
)
_TOKENS = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|sk_live_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{30,}"
    r"|npm_[A-Za-z0-9]{30,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)


def is_secret_name(name: str) -> bool:
    """Whether a variable, key or long option named ``name`` holds a secret (``PGPASSWORD``,
    ``--password``, ``api_key``; not ``PWD``, ``--password-file``, ``PasswordAuthentication``)."""
    bare = name.lstrip("-")
    if bare in ("PWD", "OLDPWD") or _NOT_A_SECRET.search(bare):
        return False
    return _SECRET_NAME.search(bare) is not None


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    value: str  # quotes and escapes removed


def _lex(text: str) -> list[tuple[list[_Word], str]]:
    """Commands as lists of words, each with the separator after it (``|``, ``;``, ``&&``...)."""
    commands: list[tuple[list[_Word], str]] = []
    words: list[_Word] = []
    chars: list[str] = []
    start, i, n = -1, 0, len(text)

    def end_word(at: int) -> None:
        nonlocal start, chars
        if start >= 0:
            words.append(_Word(start, at, "".join(chars)))
        start, chars = -1, []

    while i < n:
        c = text[i]
        if c in " \t\r":
            end_word(i)
        elif c in _SEPARATORS:
            end_word(i)
            sep = text[i:i + 2] if text[i:i + 2] in ("||", "&&") else c
            commands.append((words, sep))
            words, i = [], i + len(sep) - 1
        else:
            if start < 0:
                start = i
            if c == "'":
                close = text.find("'", i + 1)
                close = n if close < 0 else close
                chars.append(text[i + 1:close])
                i = close
            elif c == '"':
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                        i += 1
                    chars.append(text[i])
                    i += 1
            elif c == "\\" and i + 1 < n:
                i += 1
                if text[i] != "\n":
                    chars.append(text[i])
            else:
                chars.append(c)
        i += 1
    end_word(n)
    commands.append((words, ""))
    return [(ws, sep) for ws, sep in commands if ws]


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _part(value: str, part: Part) -> tuple[str, str | None]:
    """``value`` with its secret part redacted, and that secret (None: nothing to redact)."""
    keep, secret = "", value
    if part in (Part.AFTER_COLON, Part.AFTER_PERCENT, Part.AFTER_COMMA):
        mark = {Part.AFTER_COLON: ":", Part.AFTER_PERCENT: "%", Part.AFTER_COMMA: ","}[part]
        user, sep, secret = value.partition(mark)
        if not sep:
            return value, None
        keep = user + sep
    elif part is Part.OPENSSL:
        if not value.startswith("pass:"):
            return value, None
        keep, secret = "pass:", value[5:]
    elif part is Part.HEADER:
        match = re.match(rf"([^:]*:[ \t]*(?:{_SCHEMES}[ \t]+)?)(.*)", value, re.IGNORECASE | re.DOTALL)
        if match is None or not is_secret_name(match.group(1).split(":")[0].strip().split("=")[-1]):
            return value, None
        keep, secret = match.group(1), match.group(2)
    if secret.lower() in _KEEP or secret.startswith("$"):
        return value, None
    return keep + REDACTED, secret


def _display(value: str) -> str:
    return value if _PLAIN.fullmatch(value) else "'" + value.replace("'", "'\\''") + "'"


class _Scan:
    """One ``redact_text`` call: the replacements (by word) and the secrets found."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.found: list[str] = []
        self.edits: dict[int, tuple[int, str]] = {}  # start -> (end, replacement)

    def replace(self, word: _Word, new: str, secret: str | None) -> None:
        if secret is None or word.start in self.edits:
            return
        self.found.append(secret)
        self.edits[word.start] = (word.end, _display(new))

    def flag(self, words: list[_Word], j: int, spec: Flag, name: str, attached: str | None, sep: str) -> int:
        """Redacts the value of flag ``name`` at word ``j``; returns the index of the last word used."""
        if attached is not None:
            if spec.attached:
                new, secret = _part(attached, spec.part)
                self.replace(words[j], name + sep + new, secret)
            return j
        if spec.separate and j + 1 < len(words):
            self.replace(words[j + 1], *_part(words[j + 1].value, spec.part))
            return j + 1
        return j

    def program(self, words: list[_Word], at: int, spec: Program) -> None:
        rest = range(at + 1, len(words))
        operands = [k for k in rest if not words[k].value.startswith("-")]
        if spec.subcommands and (not operands or words[operands[0]].value not in spec.subcommands):
            return
        if _base(words[at].value) in POSITIONAL and len(operands) > 1:
            self.replace(words[operands[1]], REDACTED, words[operands[1]].value)
        j = at + 1
        while j < len(words):
            value = words[j].value
            name, eq, tail = value.partition("=")
            if value.startswith("--") and eq and name in spec.flags:
                j = self.flag(words, j, spec.flags[name], name, tail, "=")
            elif value in spec.flags:
                j = self.flag(words, j, spec.flags[value], value, None, "")
            elif value[:1] == "-" and value[1:2] != "-" and value[:2] in spec.flags and len(value) > 2:
                j = self.flag(words, j, spec.flags[value[:2]], value[:2], value[2:], "")
            j += 1

    def command(self, words: list[_Word], feeds_reader: bool, text: str) -> None:
        for k, word in enumerate(words):
            spec = PROGRAMS.get(_base(word.value))
            if spec is not None:
                self.program(words, k, spec)
            value = word.value
            name, eq, tail = value.partition("=")
            if eq and is_secret_name(name) and re.fullmatch(r"-{0,2}[A-Za-z_][A-Za-z0-9_.-]*", name):
                new, secret = _part(tail, Part.ALL)  # NAME=SECRET, --name=SECRET, quotes and all
                self.replace(word, name + "=" + new, secret)
            elif value.startswith("--") and not eq and is_secret_name(value) and k + 1 < len(words):
                nxt = words[k + 1]
                if not nxt.value.startswith("-"):
                    self.replace(nxt, *_part(nxt.value, Part.ALL))
        reader = _reads_stdin(words)
        for k, word in enumerate(words):
            if reader and word.value == "<<<" and k + 1 < len(words):
                self.replace(words[k + 1], REDACTED, words[k + 1].value)
            elif reader and word.value.startswith("<<<") and len(word.value) > 3:
                self.replace(word, "<<<" + REDACTED, word.value[3:])
        if feeds_reader:
            printer = next((k for k, w in enumerate(words) if _base(w.value) in PRINTERS), None)
            for word in words[printer + 1:] if printer is not None else ():
                if not word.value.startswith("-"):
                    self.replace(word, REDACTED, word.value)
        if self.depth < _MAX_DEPTH:
            for word in words:
                if any(c in word.value for c in " \t\n") and word.start not in self.edits:
                    self.nested(word, text)

    def nested(self, word: _Word, text: str) -> None:
        """A quoted word that may hold a command of its own (``sh -c '...'``)."""
        raw = text[word.start:word.end]
        quoted = len(raw) >= 2 and raw[0] in "'\"" and raw[-1] == raw[0] and raw[0] not in raw[1:-1]
        inner = raw[1:-1] if quoted else word.value
        new, found = _redact(inner, self.depth + 1)
        if new != inner:
            self.found += found
            self.edits[word.start] = (word.end, raw[0] + new + raw[0] if quoted else _display(new))


def _reads_stdin(words: list[_Word]) -> bool:
    for k, word in enumerate(words):
        flags = STDIN_READERS.get(_base(word.value))
        if flags is None:
            continue
        if not flags:
            return True
        for later in words[k + 1:]:
            v = later.value
            if v in flags or (v[:1] == "-" and v[1:2] != "-" and any(f[1:] in v[1:] for f in flags if len(f) == 2)):
                return True
    return False


def _shapes(text: str, found: list[str]) -> str:
    def keep_or_redact(match: re.Match[str], keep: str) -> str:
        secret = match.group("secret")
        bare = secret.strip("'\"")
        if bare.lower() in _KEEP or bare.startswith(("$", REDACTED)):
            return match.group(0)
        found.append(bare)
        return keep + REDACTED

    text = _URL_USERINFO.sub(lambda m: keep_or_redact(m, m.group("keep")), text)
    text = _HEADER.sub(lambda m: keep_or_redact(m, m.group("keep") + m.group("sep")), text)
    text = _ASSIGNMENT.sub(
        lambda m: keep_or_redact(m, m.group("name") + m.group("sep")) if is_secret_name(m.group("name")) else m.group(0),
        text,
    )

    def token(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return REDACTED

    return _TOKENS.sub(token, text)


def _redact(text: str, depth: int) -> tuple[str, list[str]]:
    scan = _Scan(depth)
    commands = _lex(text)
    for index, (words, sep) in enumerate(commands):
        feeds = sep == "|" and index + 1 < len(commands) and _reads_stdin(commands[index + 1][0])
        scan.command(words, feeds, text)
    out, pos = [], 0
    for start in sorted(scan.edits):
        end, new = scan.edits[start]
        if start < pos:
            continue
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    return _shapes("".join(out), scan.found), scan.found


def redact_text(text: str) -> tuple[str, list[str]]:
    """``text`` with the secrets it holds replaced by ``[redacted]``, and those secrets."""
    if not text or text.isspace():
        return text, []
    return _redact(text, 0)
