"""Checking what was read from one argv: flags allowed, required and endless; operands; values.

``check_flags`` and ``check_operands`` turn the flags and operands ``optreader`` read into
problems and ``Use`` entries (arguments whose meaning ``commands`` checks); ``check_value``
tests one value against its ``ValueRule`` (enum, range, regular expressions).
"""

from __future__ import annotations

from sshwall.analysis import Word
from sshwall.engine.argresult import Endless, ParsedArgs, Use
from sshwall.engine.optreader import Chain, Seen
from sshwall.policy.commandsets import EndlessRule, ProgramSpec, ValueRule


def check_flags(res: ParsedArgs, visited: list[ProgramSpec], seen: list[Seen], operands: list[Word]) -> None:
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
        for req, options in spec.required:
            if names.isdisjoint(options):
                res.problems.append(f"flag `{req.replace('|', '` or `')}` is required")
        if spec.endless is not None:
            res.problems.extend(endless_problems(spec.endless, " ".join(res.path), names, len(operands)))
    last = visited[-1]
    if last.subcommands and not last.bare:
        res.problems.append(f"`{' '.join(res.path)}` needs a subcommand")


def endless_problems(rule: EndlessRule, what: str, names: set[str], count: int) -> list[str]:
    """Why ``what`` would run until killed (a read-only diagnostic must end on its own)."""
    out: list[str] = [Endless(f"flag `{f}` makes `{what}` run until killed") for f in rule.flags if f in names]
    if count in rule.operand_counts:
        out.append(Endless(f"`{what}` with {count} operand(s) runs until killed (a delay without a count)"))
    if rule.unless and not names.intersection(rule.unless):
        out.append(Endless(f"`{what}` runs until killed without `{'` or `'.join(rule.unless)}`"))
    for flag, bounds in rule.flags_unless.items():
        if flag in names and not names.intersection(bounds):
            out.append(Endless(f"flag `{flag}` makes `{what}` run until killed without `{'` or `'.join(bounds)}`"))
    return out


def check_operands(res: ParsedArgs, chain: Chain, seen: list[Seen], operands: list[Word]) -> None:
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
    match, deny, _ = rule.patterns
    if match is not None and not match.fullmatch(text):
        return f"{what} `{text}` does not match `{rule.match}`"
    if deny is not None and deny.search(text):
        return f"{what} `{text}` matches the denied pattern `{rule.deny_match}`"
    return None


__all__ = ["check_flags", "check_operands", "check_value", "endless_problems"]
