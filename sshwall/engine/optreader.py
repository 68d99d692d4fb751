"""Reading the flag words of one argv the way the program's own option parser reads them.

``Reader`` splits flag words by the option family of the program (docs/option-grammar.md):
short clusters, ``--long=value``, required values in the next word, optional values only
attached, pflag's ``--switch=true``, git's ``--no-X``, iproute2's prefix matching in table
order, ps's BSD letters, find's primaries, openssl's ``-in=FILE``. ``Chain`` is the stack of
specs whose flag rules apply at one point (a program and its subcommands). The flags it reads
are collected as ``Seen`` for ``sshwall.engine.argchecks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sshwall.analysis import Word
from sshwall.engine.argresult import NUMERIC, ParsedArgs
from sshwall.engine.paths import escape
from sshwall.policy.commandsets import ProgramSpec, ValueRule
from sshwall.policy.flags import Family, FlagDef


class Chain:
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

    def enter(self, sub: ProgramSpec) -> Chain:
        own = "family" in sub.model_fields_set or sub.long_single_dash or sub.old_style
        family = sub.parse_family if own else self.family
        return Chain(self.specs + (sub,) if self.cur.inherit_flags else (sub,), family)

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
class Seen:
    """One flag as read from the argv."""

    flag: FlagDef
    value: Word | None
    chain: Chain
    shown: str


_PFLAG_FALSE = frozenset({"false", "False", "FALSE", "0", "f", "F"})
_PFLAG_BOOLS = _PFLAG_FALSE | {"true", "True", "TRUE", "1", "t", "T"}


class Reader:
    """Reads the flag words of one argv by the option family of the program."""

    def __init__(self, args: tuple[Word, ...], res: ParsedArgs) -> None:
        self.args = args
        self.res = res
        self.i = 0
        self.seen: list[Seen] = []

    def next_value(self, name: str) -> Word | None:
        if self.i < len(self.args):
            self.i += 1
            return self.args[self.i - 1]
        self.res.problems.append(f"flag `{name}` needs a value")
        return None

    def add(self, chain: Chain, d: FlagDef, value: Word | None, shown: str | None = None) -> None:
        self.seen.append(Seen(d, value, chain, shown or d.name))

    def unknown(self, chain: Chain, name: str) -> FlagDef | None:
        if chain.is_open():
            return FlagDef(name)
        self.res.problems.append(f"flag `{name}` is not in the allowed flags")
        return None

    # -- the families ---------------------------------------------------------------------

    def long(self, chain: Chain, w: Word) -> None:
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
            self.add(chain, d, attached_word(attached) if eq else self.next_value(d.name))
        else:
            self.add(chain, d, attached_word(attached) if eq else self.greedy_value(chain, d))

    def switch(self, chain: Chain, d: FlagDef, value: str) -> None:
        """pflag's ``--x=true`` is ``--x``; ``--x=false`` turns it off, so it does not count as
        given (``docker stats --no-stream=false`` streams) while a denied one stays denied."""
        if value in _PFLAG_FALSE and not d.denied:
            self.add(chain, FlagDef(f"{d.name}={value}"), None)
        else:
            self.add(chain, d, None)

    def greedy_value(self, chain: Chain, d: FlagDef) -> Word | None:
        """An optional value is never the next word, unless the program peeks at it.

        Some programs (journalctl -n, top -w) take the next word when it parses as a value;
        the spec says so with ``values: {FLAG: {greedy: REGEX}}``.
        """
        rule = chain.rule(d.name)
        if rule is None or rule.greedy is None or self.i >= len(self.args):
            return None
        nxt = self.args[self.i]
        if nxt.literal and rule.patterns[2].fullmatch(nxt.text):  # type: ignore[union-attr]
            self.i += 1
            return nxt
        if not nxt.literal:
            self.res.problems.append(f"the word after `{d.name}` is an expansion: it may or may not be its value")
        return None

    def abbreviation(self, chain: Chain, name: str) -> FlagDef | None:
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

    def cluster(self, chain: Chain, text: str, prefix: str = "-") -> None:
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
                self.add(chain, d, attached_word(rest) if rest else self.next_value(name))
            else:
                self.add(chain, d, attached_word(rest) if rest else self.greedy_value(chain, d))
            return

    def word_flag(self, chain: Chain, w: Word) -> None:
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
                    self.add(chain, d, attached_word(attached), f"{name}=")
                    return
        if d is None:
            d = self.unknown(chain, text)
            if d is None:
                return
        value = self.next_value(d.name) if d.arity == "required" else None
        self.add(chain, d, value, d.name if d.name == text else f"{text} (read as {d.name})")

    def known_cluster(self, chain: Chain, text: str) -> bool:
        """Is ``-xyz`` made only of listed switches? (``unknown_flags: operand``, as bash's echo)"""
        return all((d := chain.lookup("-" + c)) is not None and d.arity == "none" for c in text[1:])

    def flag_word(self, chain: Chain, w: Word) -> None:
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


def attached_word(text: str) -> Word:
    return Word(text, escape(text))


def old_style(reader: Reader, chain: Chain) -> None:
    """``tar tzf FILE``: letters of the first word are flags; value letters take later words."""
    first = reader.args[0].text
    reader.i = 1
    for c in first:
        name = chain.canonical("-" + c)
        d = chain.lookup(name) or reader.unknown(chain, name)
        if d is None:
            return
        reader.add(chain, d, reader.next_value(name) if d.arity == "required" else None)


def permutes(chain: Chain) -> bool:
    spec = chain.cur
    return spec.permute if spec.permute is not None else chain.family != "posix"


def restricts_flags(chain: Chain) -> bool:
    return any(not s.table.open or s.deny_flags for s in chain.specs)


def find_sub(chain: Chain, word: str) -> tuple[str, ProgramSpec] | None:
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


__all__ = ["Chain", "Reader", "Seen", "attached_word", "find_sub", "old_style", "permutes", "restricts_flags"]
