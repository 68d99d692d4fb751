"""Reading one program's argv against its ``ProgramSpec``.

The argv is split the way the program's own option parser would split it (short clusters,
``--long=value``, values in the next word, unambiguous long prefixes, subcommands, old-style
``tar tzf``), so a flag cannot hide as a value or a value as a flag. The result is a list of
problems (human reasons) and of arguments whose meaning needs more checks (paths, URLs,
scripts), which ``commands`` performs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sshwall.analysis import Word
from sshwall.engine.paths import escape
from sshwall.policy.model import ArgKind, ProgramSpec, ValueRule

NUMERIC = "-NUM"


@dataclass(frozen=True)
class Use:
    """An argument whose value needs a semantic check (a path, a URL, a script)."""

    kind: ArgKind
    word: Word
    what: str
    rule: ValueRule | None = None
    recursive: bool = False


@dataclass
class ParsedArgs:
    """What ``parse_args`` found: the subcommand path, problems, and arguments to check."""

    path: list[str]
    spec: ProgramSpec
    flags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)


class _Chain:
    """The specs whose flag rules apply at one point of the argv, outermost first.

    Entering a subcommand appends its spec, or starts afresh when the parent's flags do not
    apply after a subcommand (``inherit_flags: false``, as for git).
    """

    def __init__(self, specs: tuple[ProgramSpec, ...]) -> None:
        self.specs = specs

    @property
    def cur(self) -> ProgramSpec:
        return self.specs[-1]

    def enter(self, sub: ProgramSpec) -> _Chain:
        return _Chain(self.specs + (sub,) if self.cur.inherit_flags else (sub,))

    def canonical(self, name: str) -> str:
        for s in reversed(self.specs):
            if name in s.aliases:
                return s.aliases[name]
        return name

    def known_long(self) -> set[str]:
        return {n for n in _all_flags(self) if n.startswith("--")}

    def denied(self, name: str) -> bool:
        return any(name in s.deny_flags for s in self.specs)

    def takes_value(self, name: str) -> bool:
        return any(name in s.value_flags or name in s.values for s in self.specs)

    def rule(self, name: str) -> ValueRule | None:
        for s in reversed(self.specs):
            if name in s.values:
                return s.values[name]
        return None

    def allowed(self, name: str) -> bool:
        for s in reversed(self.specs):
            if s.flags == "any" or name in s.flags or name in s.value_flags or name in s.values:
                return True
        return False


def _resolve_long(chain: _Chain, name: str) -> str:
    """Resolve a long flag as GNU getopt does: an unambiguous prefix names the whole flag.

    A prefix of any denied flag resolves to that flag, ambiguous or not.
    """
    name = chain.canonical(name)
    known = chain.known_long()
    if name in known:
        return name
    matches = sorted(k for k in known if k.startswith(name))
    denied = [m for m in matches if chain.denied(chain.canonical(m))]
    if denied:
        return denied[0]
    return chain.canonical(matches[0]) if len(matches) == 1 else name


def _split_flag(chain: _Chain, w: Word) -> tuple[list[tuple[str, str | None]], bool]:
    """The flags in one word as (name, attached value); and whether the next word is a value."""
    t = w.text
    single = any(s.long_single_dash for s in chain.specs)
    if t.startswith("--") or single:
        name, eq, value = t.partition("=") if t.startswith("--") else (t, "", "")
        name = _resolve_long(chain, name) if t.startswith("--") else chain.canonical(name)
        return [(name, value if eq else None)], not eq and chain.takes_value(name)
    if t[1:].isdigit():
        known = _all_flags(chain)
        if NUMERIC in known and t not in known:
            return [(NUMERIC, t[1:])], False
    out: list[tuple[str, str | None]] = []
    for j, c in enumerate(t[1:], start=1):
        name = chain.canonical("-" + c)
        if chain.takes_value(name):
            rest = t[j + 1 :]
            out.append((name, rest or None))
            return out, not rest
        out.append((name, None))
    return out, False


def _all_flags(chain: _Chain) -> set[str]:
    names: set[str] = set()
    for s in chain.specs:
        names |= set(s.deny_flags) | set(s.value_flags) | set(s.values) | set(s.aliases)
        names |= set(s.recursive_flags) | set(s.first_operand_flags)
        names |= {f for req in s.require_flags for f in req.split("|")}
        if isinstance(s.flags, tuple):
            names |= set(s.flags)
    return names


def _old_style(args: tuple[Word, ...], chain: _Chain) -> tuple[list[tuple[str, Word | None]], int]:
    """``tar tzf FILE``: letters of the first word are flags; value letters take later words."""
    flags: list[tuple[str, Word | None]] = []
    nxt = 1
    for c in args[0].text:
        name = chain.canonical("-" + c)
        if chain.takes_value(name):
            flags.append((name, args[nxt] if nxt < len(args) else None))
            nxt += 1
        else:
            flags.append((name, None))
    return flags, nxt


def _restricts_flags(chain: _Chain) -> bool:
    return any(s.flags != "any" or s.deny_flags for s in chain.specs)


def _find_sub(spec: ProgramSpec, word: str) -> tuple[str, ProgramSpec] | None:
    if word in spec.subcommands:
        return word, spec.subcommands[word]
    for key, sub in spec.subcommands.items():
        if word in sub.names:
            return key, sub
    return None


def parse_args(program: str, spec: ProgramSpec, args: tuple[Word, ...]) -> ParsedArgs:
    """Split ``args`` by ``spec`` and collect every problem and every argument to check."""
    res = ParsedArgs(path=[program], spec=spec)
    chain = _Chain((spec,))
    visited = [spec]
    seen: list[tuple[str, Word | None, _Chain]] = []
    operands: list[Word] = []
    i = 0
    if spec.old_style and args and args[0].literal and args[0].text[:1] not in ("-", ""):
        flags, i = _old_style(args, chain)
        seen = [(name, value, chain) for name, value in flags]
    end_of_options = False
    while i < len(args):
        w = args[i]
        t = w.text
        i += 1
        if not end_of_options and t == "--":
            end_of_options = True
            continue
        if not end_of_options and len(t) > 1 and t.startswith("-"):
            if not w.literal:
                res.problems.append(f"flag word `{t}` contains an expansion or glob")
                continue
            flags, value_next = _split_flag(chain, w)
            for n, (name, attached) in enumerate(flags):
                value = Word(attached, escape(attached)) if attached is not None else None
                if value_next and n == len(flags) - 1:
                    value = args[i] if i < len(args) else None
                    i += 1
                    if value is None:
                        res.problems.append(f"flag `{name}` needs a value")
                seen.append((name, value, chain))
            continue
        if chain.cur.subcommands and not operands:
            if not w.literal:
                res.problems.append(f"subcommand word `{t}` contains an expansion or glob")
                return res
            found = _find_sub(chain.cur, t)
            if found is None:
                _check_flags(res, visited, seen)
                res.problems.append(f"subcommand `{' '.join(res.path)} {t}` is not allowed")
                return res
            res.path.append(found[0])
            chain = chain.enter(found[1])
            visited.append(found[1])
            continue
        if w.dynamic and _restricts_flags(chain):
            res.problems.append(f"argument `{t}` is an expansion that could become a flag")
        operands.append(w)
    res.spec = chain.cur
    _check_flags(res, visited, seen)
    _check_operands(res, chain, seen, operands)
    return res


def _check_flags(res: ParsedArgs, visited: list[ProgramSpec], seen: list[tuple[str, Word | None, _Chain]]) -> None:
    names = {name for name, _, _ in seen}
    res.flags = [name for name, _, _ in seen]
    for name, value, chain in seen:
        if name == NUMERIC and value is not None:
            shown = "-" + value.text
        else:
            shown = name
        if chain.denied(name):
            res.problems.append(f"flag `{shown}` is not allowed")
            continue
        if not chain.allowed(name):
            res.problems.append(f"flag `{shown}` is not in the allowed flags")
            continue
        rule = chain.rule(name)
        if rule is not None and value is not None:
            res.uses.append(Use(rule.kind, value, f"value of `{shown}`", rule))
    for spec in visited:
        for req in spec.require_flags:
            options = [spec.aliases.get(o, o) for o in req.split("|")]
            if not names.intersection(options):
                res.problems.append(f"flag `{req.replace('|', '` or `')}` is required")
    last = visited[-1]
    if last.subcommands and not last.bare:
        res.problems.append(f"`{' '.join(res.path)}` needs a subcommand")


def _check_operands(
    res: ParsedArgs, chain: _Chain, seen: list[tuple[str, Word | None, _Chain]], operands: list[Word]
) -> None:
    spec = chain.cur
    names = {name for name, _, _ in seen}
    kinds = spec.operand_kinds
    if names.intersection(chain.canonical(f) for f in spec.first_operand_flags) and len(kinds) > 1:
        kinds = kinds[1:]
    if len(operands) < spec.min_operands:
        res.problems.append(f"needs at least {spec.min_operands} operand(s)")
    if spec.max_operands is not None and len(operands) > spec.max_operands:
        res.problems.append(
            f"takes at most {spec.max_operands} operand(s), got {len(operands)}"
        )
    recursive = spec.recursive or bool(names.intersection(chain.canonical(f) for f in spec.recursive_flags))
    read_seen = False
    for idx, w in enumerate(operands):
        kind = kinds[min(idx, len(kinds) - 1)]
        read_seen = read_seen or kind == "read"
        res.uses.append(Use(kind, w, "operand", spec.operand_rule, recursive and kind == "read"))
    if recursive and not read_seen and "read" in kinds:
        # grep -r PATTERN with no folder searches the working folder.
        res.uses.append(Use("read", Word(".", "."), "implied operand `.`", None, True))


def check_value(rule: ValueRule, word: Word, what: str) -> str | None:
    """The first way ``word`` breaks ``rule``, or None."""
    constrained = rule.enum or rule.min is not None or rule.max is not None or rule.match or rule.deny_match
    if not constrained:
        return None
    if not word.literal:
        return f"{what} `{word.text}` is not a literal value"
    text = word.text
    if rule.enum is not None and text not in rule.enum:
        return f"{what} `{text}` is not one of {', '.join(rule.enum)}"
    if rule.min is not None or rule.max is not None:
        try:
            number = float(text)
        except ValueError:
            return f"{what} `{text}` is not a number"
        if number != number:  # NaN
            return f"{what} `{text}` is not a number"
        if rule.min is not None and number < rule.min:
            return f"{what} `{text}` is below the minimum {rule.min:g}"
        if rule.max is not None and number > rule.max:
            return f"{what} `{text}` is above the maximum {rule.max:g}"
    if rule.match is not None and not re.fullmatch(rule.match, text):
        return f"{what} `{text}` does not match `{rule.match}`"
    if rule.deny_match is not None and re.search(rule.deny_match, text):
        return f"{what} `{text}` matches the denied pattern `{rule.deny_match}`"
    return None
