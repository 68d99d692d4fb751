"""Reading one program's argv against its ``ProgramSpec``.

The argv is split the way the program's own option parser would split it, by the spec's
option family (docs/option-grammar.md): short clusters, ``--long=value``, required values in
the next word, optional values only attached, pflag's ``--switch=true``, git's ``--no-X``,
iproute2's prefix matching in table order, ps's BSD letters, find's primaries, old-style
``tar tzf``, subcommands. So a flag cannot hide as a value or a value as a flag. Long options
must be written whole: an abbreviation is refused with a reason, since the real program may
know options with the same prefix that the spec does not list. The result is a list of
problems (human reasons) and of arguments whose meaning needs more checks (paths, URLs,
scripts, formats), which ``commands`` performs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sshwall.analysis import Word
from sshwall.engine.paths import escape
from sshwall.policy.flags import ArgKind, Family, FlagDef
from sshwall.policy.model import EndlessRule, ProgramSpec, ValueRule

NUMERIC = "-NUM"


class Endless(str):
    """A problem saying the command runs until killed (the engine's ``endless`` notion).

    A ``str``, so it reads like any problem; its type lets the checker apply the command set's
    ``endless`` choice and the stricter rule of scheduled work.
    """

    __slots__ = ()


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
    apply after a subcommand (``inherit_flags: false``, as for git). A subcommand follows its
    parent's option family unless it names its own.
    """

    def __init__(self, specs: tuple[ProgramSpec, ...], family: Family) -> None:
        self.specs = specs
        self.family = family

    @property
    def cur(self) -> ProgramSpec:
        return self.specs[-1]

    def enter(self, sub: ProgramSpec) -> _Chain:
        own = "family" in sub.model_fields_set or sub.long_single_dash or sub.old_style
        family = sub.parse_family if own else self.family
        return _Chain(self.specs + (sub,) if self.cur.inherit_flags else (sub,), family)

    def canonical(self, name: str) -> str:
        for s in reversed(self.specs):
            if name in s.aliases:
                return s.aliases[name]
        return name

    def lookup(self, name: str) -> FlagDef | None:
        """The innermost definition of ``name``; denied if any spec of the chain denies it."""
        found = None
        for s in reversed(self.specs):
            d = s.table.get(name)
            if d is not None and d.denied:
                return d
            found = found or d
        return found

    def is_open(self) -> bool:
        return any(s.table.open for s in self.specs)

    def longs_with_prefix(self, prefix: str) -> list[FlagDef]:
        return [d for s in self.specs for d in s.table.longs_with_prefix(prefix)]

    def in_order(self) -> list[FlagDef]:
        return [d for s in self.specs for d in s.table.order]

    def rule(self, name: str) -> ValueRule | None:
        for s in reversed(self.specs):
            if name in s.values:
                return s.values[name]
        return None


@dataclass
class _Seen:
    """One flag as read from the argv."""

    flag: FlagDef
    value: Word | None
    chain: _Chain
    shown: str


_PFLAG_FALSE = frozenset({"false", "False", "FALSE", "0", "f", "F"})
_PFLAG_BOOLS = _PFLAG_FALSE | {"true", "True", "TRUE", "1", "t", "T"}
_FIND_TOKENS = frozenset({"(", ")", "!", ","})


class _Reader:
    """Reads the flag words of one argv by the option family of the program."""

    def __init__(self, args: tuple[Word, ...], res: ParsedArgs) -> None:
        self.args = args
        self.res = res
        self.i = 0
        self.seen: list[_Seen] = []

    def next_value(self, name: str) -> Word | None:
        if self.i < len(self.args):
            self.i += 1
            return self.args[self.i - 1]
        self.res.problems.append(f"flag `{name}` needs a value")
        return None

    def add(self, chain: _Chain, d: FlagDef, value: Word | None, shown: str | None = None) -> None:
        self.seen.append(_Seen(d, value, chain, shown or d.name))

    def unknown(self, chain: _Chain, name: str) -> FlagDef | None:
        if chain.is_open():
            return FlagDef(name)
        self.res.problems.append(f"flag `{name}` is not in the allowed flags")
        return None

    # -- the families ---------------------------------------------------------------------

    def long(self, chain: _Chain, w: Word) -> None:
        """``--name``, ``--name=VALUE`` or ``--name VALUE`` (gnu, posix, git, pflag, tar, ps)."""
        name, eq, attached = w.text.partition("=")
        name = chain.canonical(name)
        d = chain.lookup(name)
        if d is None and chain.family == "git" and name.startswith("--no-"):
            base = chain.lookup("--" + name[5:])
            if base is not None and base.arity == "none" and not base.denied:
                d = FlagDef(name)  # parse-options: --no-X turns the switch --X off
        if d is None:
            d = self.abbreviation(chain, name)
            if d is None:
                return
        if d.arity == "none":
            if eq and chain.family == "pflag" and attached in _PFLAG_BOOLS:
                self.switch(chain, d, attached)
                return
            if eq:
                self.res.problems.append(f"flag `{name}` takes no value (`{w.text}`)")
            self.add(chain, d, None)
        elif d.arity == "required":
            self.add(chain, d, _attached(attached) if eq else self.next_value(d.name))
        else:
            self.add(chain, d, _attached(attached) if eq else self.greedy_value(chain, d))

    def switch(self, chain: _Chain, d: FlagDef, value: str) -> None:
        """pflag's ``--x=true`` is ``--x``; ``--x=false`` turns it off, so it does not count as
        given (``docker stats --no-stream=false`` streams) while a denied one stays denied."""
        if value in _PFLAG_FALSE and not d.denied:
            self.add(chain, FlagDef(f"{d.name}={value}"), None)
        else:
            self.add(chain, d, None)

    def greedy_value(self, chain: _Chain, d: FlagDef) -> Word | None:
        """An optional value is never the next word, unless the program peeks at it.

        Some programs (journalctl -n, top -w) take the next word when it parses as a value;
        the spec says so with ``values: {FLAG: {greedy: REGEX}}``.
        """
        rule = chain.rule(d.name)
        if rule is None or rule.greedy is None or self.i >= len(self.args):
            return None
        nxt = self.args[self.i]
        if nxt.literal and re.fullmatch(rule.greedy, nxt.text):
            self.i += 1
            return nxt
        if not nxt.literal:
            self.res.problems.append(f"the word after `{d.name}` is an expansion: it may or may not be its value")
        return None

    def abbreviation(self, chain: _Chain, name: str) -> FlagDef | None:
        """getopt_long takes a unique prefix for the whole option; sshwall does not.

        A prefix of a denied option is that option (so the reason names it); a prefix of an
        allowed one is refused with a reason, since the real program may know options with
        the same prefix that the spec does not list.
        """
        matches = chain.longs_with_prefix(name) if chain.family not in ("pflag", "ps") else []
        denied = [m for m in matches if m.denied]
        if denied:
            return denied[0]
        if matches:
            full = ", ".join(f"`{m.name}`" for m in matches[:3])
            self.res.problems.append(f"flag `{name}` is an abbreviation (of {full}): write the whole option name")
            return None
        return self.unknown(chain, name)

    def cluster(self, chain: _Chain, text: str, prefix: str = "-") -> None:
        """Short options ``-abc``; a value flag takes the rest of the word or the next word.

        ``prefix`` is ``""`` for BSD-style ``ps`` letters, which are named without a dash.
        """
        for j, c in enumerate(text):
            name = chain.canonical(prefix + c)
            d = chain.lookup(name) or self.unknown(chain, name)
            if d is None:
                return  # the rest of the word cannot be read without this flag's arity
            rest = text[j + 1 :]
            if d.arity == "none":
                if chain.family == "pflag" and rest.startswith("=") and rest[1:] in _PFLAG_BOOLS:
                    self.switch(chain, d, rest[1:])  # pflag: `-A=true` sets the switch
                    return
                self.add(chain, d, None)
                continue
            if chain.cur.cluster_values == "next":
                # tree: `-Po x y` is -P x and -o y; the letters after a value letter are flags
                self.add(chain, d, self.next_value(name) if d.arity == "required" else None)
                continue
            if chain.family == "pflag" and rest.startswith("="):
                rest = rest[1:]
            if d.arity == "required":
                self.add(chain, d, _attached(rest) if rest else self.next_value(name))
            else:
                self.add(chain, d, _attached(rest) if rest else self.greedy_value(chain, d))
            return

    def word_flag(self, chain: _Chain, w: Word) -> None:
        """One flag per word, matched exactly (find) or by prefix in table order (iproute2)."""
        text = w.text
        if chain.family == "iproute2":
            key = text[1:] if text.startswith("--") else text
            d = next((f for f in chain.in_order() if f.name.startswith(key) and len(key) > 1), None)
        else:
            d = chain.lookup(chain.canonical(text))
            name, eq, attached = text.partition("=")
            if d is None and eq and chain.family == "openssl":
                # `-in=FILE`, `-type=mx`: OpenSSL 3's opt_next and nslookup's option loop read
                # the option with an attached value.
                d = chain.lookup(chain.canonical(name))
                if d is not None and d.arity == "none" and not d.denied:
                    self.res.problems.append(f"flag `{name}` takes no value (`{text}`)")
                    return
                if d is not None:
                    self.add(chain, d, _attached(attached), f"{name}=")
                    return
        if d is None:
            d = self.unknown(chain, text)
            if d is None:
                return
        value = self.next_value(d.name) if d.arity == "required" else None
        self.add(chain, d, value, d.name if d.name == text else f"{text} (read as {d.name})")

    def known_cluster(self, chain: _Chain, text: str) -> bool:
        """Is ``-xyz`` made only of listed switches? (``unknown_flags: operand``, as bash's echo)"""
        return all((d := chain.lookup("-" + c)) is not None and d.arity == "none" for c in text[1:])

    def flag_word(self, chain: _Chain, w: Word) -> None:
        """Dispatch one word that starts with ``-`` (or ``+`` for programs with plus options)."""
        text = w.text
        fam = chain.family
        if text.startswith("+"):
            self.cluster(chain, text[1:], prefix="+")
        elif fam in ("find", "iproute2", "openssl"):
            self.word_flag(chain, w)
        elif text.startswith("--"):
            self.long(chain, w)
        elif text[1:].isdigit() and chain.lookup(NUMERIC) is not None and chain.lookup(text) is None:
            self.add(chain, chain.lookup(NUMERIC), Word(text[1:], text[1:]), text)  # type: ignore[arg-type]
        else:
            self.cluster(chain, text[1:])


def _attached(text: str) -> Word:
    return Word(text, escape(text))


def _old_style(reader: _Reader, chain: _Chain) -> None:
    """``tar tzf FILE``: letters of the first word are flags; value letters take later words."""
    first = reader.args[0].text
    reader.i = 1
    for c in first:
        name = chain.canonical("-" + c)
        d = chain.lookup(name) or reader.unknown(chain, name)
        if d is None:
            return
        reader.add(chain, d, reader.next_value(name) if d.arity == "required" else None)


def _permutes(chain: _Chain) -> bool:
    spec = chain.cur
    return spec.permute if spec.permute is not None else chain.family != "posix"


def _restricts_flags(chain: _Chain) -> bool:
    return any(not s.table.open or s.deny_flags for s in chain.specs)


def _find_sub(chain: _Chain, word: str) -> tuple[str, ProgramSpec] | None:
    spec = chain.cur
    if chain.family == "iproute2":
        # ip matches a prefix against its own table, in its order: `ip l s` is `link set`.
        for key, sub in spec.subcommands.items():
            if any(n.startswith(word) for n in (key, *sub.names)):
                return key, sub
        return None
    if word in spec.subcommands:
        return word, spec.subcommands[word]
    for key, sub in spec.subcommands.items():
        if word in sub.names:
            return key, sub
    return None


def parse_args(program: str, spec: ProgramSpec, args: tuple[Word, ...], *, reread: bool = True) -> ParsedArgs:
    """Split ``args`` by ``spec`` and collect every problem and every argument to check.

    ``reread``: for the ``ps`` family, also check the BSD reading procps falls back to.
    """
    res = ParsedArgs(path=[program], spec=spec)
    chain = _Chain((spec,), spec.parse_family)
    visited = [spec]
    reader = _Reader(args, res)
    operands: list[Word] = []
    if chain.family == "tar" and args and args[0].literal and args[0].text[:1] not in ("-", ""):
        _old_style(reader, chain)
    end_of_options = False
    while reader.i < len(args):
        w = args[reader.i]
        t = w.text
        reader.i += 1
        if not end_of_options and t == "--":
            end_of_options = True
            continue
        is_flag = len(t) > 1 and (t.startswith("-") or (t.startswith("+") and chain.cur.table.plus))
        if chain.family == "iproute2" and len(res.path) > 1:
            is_flag = False  # ip reads its options before the object only: after it, `-6` is an argument
        if is_flag and chain.cur.unknown_flags == "operand" and w.literal and not reader.known_cluster(chain, t):
            is_flag = False  # echo prints `--- disk ---`
        if not end_of_options and is_flag:
            if not w.literal:
                res.problems.append(f"flag word `{t}` contains an expansion or glob")
                continue
            reader.flag_word(chain, w)
            continue
        if not end_of_options and chain.family == "find" and t in _FIND_TOKENS:
            continue  # expression operators, not paths
        if not end_of_options and chain.family == "ps" and t and not re.fullmatch(r"[0-9,]+", t):
            if not w.literal:
                res.problems.append(f"BSD option word `{t}` contains an expansion or glob")
                continue
            reader.cluster(chain, t, prefix="")
            continue
        if chain.cur.subcommands and not operands:
            if not w.literal:
                res.problems.append(f"subcommand word `{t}` contains an expansion or glob")
                return res
            found = _find_sub(chain, t)
            if found is None:
                _check_flags(res, visited, reader.seen, operands)
                res.problems.append(f"subcommand `{' '.join(res.path)} {t}` is not allowed")
                return res
            res.path.append(found[0])
            chain = chain.enter(found[1])
            visited.append(found[1])
            continue
        if w.dynamic and _restricts_flags(chain):
            res.problems.append(f"argument `{t}` is an expansion that could become a flag")
        operands.append(w)
        if not _permutes(chain):
            end_of_options = True  # getopt with '+' (awk): every later word is an operand
    res.spec = chain.cur
    _check_flags(res, visited, reader.seen, operands)
    _check_operands(res, chain, reader.seen, operands)
    if reread and chain.family == "ps" and not _ps_reading_certain(spec, reader.seen):
        _ps_bsd_reading(res, program, spec, args)
    return res


# procps' thread display flags: two of them together fail its UNIX reading.
_PS_THREADS = frozenset({"-L", "-T", "-m", "H", "m"})


def _ps_reading_certain(spec: ProgramSpec, seen: list[_Seen]) -> bool:
    """Can procps' UNIX reading of these flags not fail? (Then it never re-reads them as BSD.)

    It fails on a value it cannot use (a user or group that does not exist, `-gx`) and on
    thread flags that conflict; a value that the BSD reading parses the same way
    (``reparse_safe``: formats, sort keys, pid lists) fails there too, so it is not a risk.
    """
    if sum(s.flag.name in _PS_THREADS for s in seen) > 1:
        return False
    return all(s.value is None or s.flag.name in spec.reparse_safe for s in seen)


def _ps_bsd_reading(res: ParsedArgs, program: str, spec: ProgramSpec, args: tuple[Word, ...]) -> None:
    """procps re-reads the whole command line as BSD options when its UNIX reading fails:
    `ps -ef -gx` becomes `ps ef gx`, and BSD `e` prints every process's environment."""
    bsd = tuple(
        Word(w.text[1:], escape(w.text[1:])) if w.literal and w.text[:1] == "-" and w.text[1:2] not in ("-", "") else w
        for w in args
    )
    alt = parse_args(program, spec, bsd, reread=False)
    for problem in alt.problems:
        if problem not in res.problems:
            res.problems.append(f"read as BSD options, as procps does when its UNIX reading fails: {problem}")


def _check_flags(res: ParsedArgs, visited: list[ProgramSpec], seen: list[_Seen], operands: list[Word]) -> None:
    names = {s.flag.name for s in seen}
    res.flags = [s.flag.name for s in seen]
    for s in seen:
        if s.flag.denied:
            res.problems.append(f"flag `{s.shown}` is not allowed")
            continue
        if not s.flag.listed:
            res.problems.append(f"flag `{s.shown}` is not in the allowed flags")
            continue
        rule = s.chain.rule(s.flag.name)
        kind = s.flag.kind if s.flag.explicit_kind or rule is None else rule.kind
        if rule is not None and rule.format is not None:
            kind = "format"  # a named format language is always checked
        if s.value is not None and (rule is not None or kind != "opaque"):
            res.uses.append(Use(kind, s.value, f"value of `{s.shown}`", rule))
    for spec in visited:
        for req in spec.require_flags:
            options = [spec.aliases.get(o, o) for o in req.split("|")]
            if not names.intersection(options):
                res.problems.append(f"flag `{req.replace('|', '` or `')}` is required")
        if spec.endless is not None:
            res.problems.extend(_endless(spec.endless, " ".join(res.path), names, len(operands)))
    last = visited[-1]
    if last.subcommands and not last.bare:
        res.problems.append(f"`{' '.join(res.path)}` needs a subcommand")


def _endless(rule: EndlessRule, what: str, names: set[str], count: int) -> list[str]:
    """Why ``what`` would run until killed (a read-only diagnostic must end on its own)."""
    out = [Endless(f"flag `{f}` makes `{what}` run until killed") for f in rule.flags if f in names]
    if count in rule.operand_counts:
        out.append(Endless(f"`{what}` with {count} operand(s) runs until killed (a delay without a count)"))
    if rule.unless and not names.intersection(rule.unless):
        out.append(Endless(f"`{what}` runs until killed without `{'` or `'.join(rule.unless)}`"))
    for flag, bounds in rule.flags_unless.items():
        if flag in names and not names.intersection(bounds):
            out.append(Endless(f"flag `{flag}` makes `{what}` run until killed without `{'` or `'.join(bounds)}`"))
    return out


def _check_operands(res: ParsedArgs, chain: _Chain, seen: list[_Seen], operands: list[Word]) -> None:
    spec = chain.cur
    names = {s.flag.name for s in seen}
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
