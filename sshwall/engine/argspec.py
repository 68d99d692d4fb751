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

from sshwall.analysis import Word
from sshwall.engine.argchecks import check_flags, check_operands, check_value
from sshwall.engine.argresult import NUMERIC, Endless, ParsedArgs, Use
from sshwall.engine.optreader import Chain, Reader, Seen, find_sub, old_style, permutes, restricts_flags
from sshwall.engine.paths import escape
from sshwall.policy.commandsets import ProgramSpec

_FIND_TOKENS = frozenset({"(", ")", "!", ","})
_PID_LIST = re.compile(r"[0-9,]+")


def parse_args(program: str, spec: ProgramSpec, args: tuple[Word, ...], *, reread: bool = True) -> ParsedArgs:
    """Split ``args`` by ``spec`` and collect every problem and every argument to check.

    ``reread``: for the ``ps`` family, also check the BSD reading procps falls back to.
    """
    res = ParsedArgs(path=[program], spec=spec)
    chain = Chain((spec,), spec.parse_family)
    visited = [spec]
    reader = Reader(args, res)
    operands: list[Word] = []
    if chain.family == "tar" and args and args[0].literal and args[0].text[:1] not in ("-", ""):
        old_style(reader, chain)
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
        if not end_of_options and chain.family == "ps" and t and not _PID_LIST.fullmatch(t):
            if not w.literal:
                res.problems.append(f"BSD option word `{t}` contains an expansion or glob")
                continue
            reader.cluster(chain, t, prefix="")
            continue
        if chain.cur.subcommands and not operands:
            if not w.literal:
                res.problems.append(f"subcommand word `{t}` contains an expansion or glob")
                return res
            found = find_sub(chain, t)
            if found is None:
                check_flags(res, visited, reader.seen, operands)
                res.problems.append(f"subcommand `{' '.join(res.path)} {t}` is not allowed")
                return res
            res.path.append(found[0])
            chain = chain.enter(found[1])
            visited.append(found[1])
            continue
        if w.dynamic and restricts_flags(chain):
            res.problems.append(f"argument `{t}` is an expansion that could become a flag")
        operands.append(w)
        if not permutes(chain):
            end_of_options = True  # getopt with '+' (awk): every later word is an operand
    res.spec = chain.cur
    check_flags(res, visited, reader.seen, operands)
    check_operands(res, chain, reader.seen, operands)
    if reread and chain.family == "ps" and not _ps_reading_certain(spec, reader.seen):
        _ps_bsd_reading(res, program, spec, args)
    return res


# procps' thread display flags: two of them together fail its UNIX reading.
_PS_THREADS = frozenset({"-L", "-T", "-m", "H", "m"})


def _ps_reading_certain(spec: ProgramSpec, seen: list[Seen]) -> bool:
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


__all__ = ["NUMERIC", "Endless", "ParsedArgs", "Use", "check_value", "parse_args"]
