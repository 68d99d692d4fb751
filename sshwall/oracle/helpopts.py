"""A program's real options, read from its own ``--help`` or man page on this machine.

The oracle's mutation generator and the spec-vs-help test must not learn a program's options
from the policy they are checking: that would test the spec against itself. So the options come
from the program: its ``--help`` text (GNU, util-linux, systemd, argp, curl, Go pflag/cobra,
git parse-options formats), ``ps --help all``, ``ip -h``, ``find --help``, or its man page.

Each option is an ``Option(name, arity, metavar)``; arity is ``none`` (a switch), ``required``
(attached or the next word) or ``optional`` (attached only: ``--color[=WHEN]``, ``-I[FMT]``).
Help texts are written for people and sometimes lie about arity; ``CORRECTIONS`` lists the
cases found, each with the evidence.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Arity = Literal["none", "required", "optional"]


@dataclass(frozen=True, slots=True)
class Option:
    """One option as the real program accepts it."""

    name: str
    arity: Arity
    metavar: str | None = None
    greedy: bool = False
    """An optional value the program also takes from the next word when that word parses as one
    (journalctl -n/-b, top -w, lsof): neither ``optional`` nor ``required`` models it."""


# A token of an option head: an option name with what is glued to it (-x, --long=ARG,
# --long[=ARG], -xARG, -x[ARG]), or a separate metavar (<file name>, ARG, [=ARG], =SECS).
_TOKEN = re.compile(r"<[^>]*>,?|\[[^\]]*\](?:\S*)|\S+")
_NAME = re.compile(r"(?P<name>--?(?:\[no-\])?[A-Za-z0-9?][A-Za-z0-9_.?\-]*|-)(?P<rest>.*)")
# pflag prints a value flag's type after its name; a switch has none.
_PFLAG_TYPES = frozenset(
    ["string", "strings", "int", "int32", "int64", "uint", "uint16", "uint32", "uint64", "float", "float32", "float64", "bool", "duration", "bytes", "list", "filter", "mount", "ulimit", "map", "stringArray", "stringToString", "ipNetSlice", "ip", "ipSlice", "port", "mode", "command", "pref", "gpu-request", "network", "volume", "name", "value"]
)


def _short_rest(name: str, rest: str) -> tuple[Arity, str | None] | None:
    """What is glued to an option name: ``=ARG``, ``[=ARG]``, ``[ARG]``, ``ARG``, or nothing."""
    rest = rest.rstrip(",")
    if not rest:
        return None
    if rest.startswith("[="):
        return "optional", rest[2:].rstrip("]")
    if rest.startswith("[") and not name.startswith("--"):
        return "optional", rest[1:].rstrip("]")  # -I[FMT]: an optional value, attached only
    if rest.startswith("="):
        return "required", rest[1:]
    if rest.startswith(("[", "<")):
        # --long[<x>] is unusual; git's -U<n>, -L<range> are attached required values.
        return ("optional" if rest.startswith("[") else "required"), rest.strip("[]<>")
    return "required", rest  # -Olevel, -xARG


def _is_separate_metavar(tok: str, last: bool, loose: bool = False) -> bool:
    """A word after an option name that names its value rather than starting the description.

    ``loose``: the head stands alone on its line (a man page tag), so any word is a metavar.
    """
    if tok.startswith(("<", "=", "[=", "'", "{")) or tok == "#":
        return True  # <file>, =SECS, [=COLUMNS], 'program-text', {d|s|i}, tree's "#"
    if tok.endswith(",") and re.fullmatch(r"[a-z][\w=-]*,", tok):
        return True  # sed: -e script, --expression=script
    if tok.startswith("[") and (last or loose or tok.index("]") < len(tok) - 1):
        return True  # [protocol://]host[:port]
    if re.fullmatch(r"[a-z][\w-]*=[\w-]+", tok):
        return True  # mawk: -v var=value
    core = re.sub(r"[\[\]{}|.,:@/+=_#-]", "", tok)
    if core and core.isupper() and not tok.endswith("."):
        return True  # FILE, PATTERN, N[bcwkMG], USER@HOST
    word = re.fullmatch(r"[a-z][a-z0-9_-]*(\[[^\]]*\])?", tok) is not None  # address[#port]
    return (last or loose) and (tok in _PFLAG_TYPES or word)


_METAVAR_WORDS = frozenset(
    ["user", "group", "prompt", "directory", "dir", "num", "host", "role", "type", "timeout", "file", "path", "name", "command", "list", "time", "size", "string", "value", "format", "when", "mode", "level", "pattern", "count", "seconds", "id", "sep"]
)


def _literal(metavar: str | None) -> bool:
    """``--indicator-style=slash``: a literal value written out, not a metavar (GNU writes
    metavars in capitals, util-linux and git in <angle brackets>; sudo in plain words)."""
    return (metavar is not None and re.fullmatch(r"[a-z][a-z0-9-]*", metavar) is not None
            and metavar not in _METAVAR_WORDS)


def parse_head(head: str, loose: bool = False) -> list[Option]:
    """Parse one option head (``-d, --date=STRING``; ``-n, --namespace string``; ...).

    Alternatives without a value spec of their own take the group's: a required value always
    (``-d`` of ``-d, --date=X``), except a literal (``-p, --indicator-style=slash``) and
    ``--no-X`` forms; an optional value only in the styles whose short option shares it
    (systemd "-b --boot[=ID]", util-linux and git "-L, --color[=<when>]"), not coreutils'
    "-f, --follow[={name|descriptor}]" or "-F, --classify[=WHEN]" (getopt "f", "F": switches).
    A name listed both bare and with "=X" (``--check, --check=diagnose-first``) is optional.
    """
    tokens = _TOKEN.findall(head)
    found: list[tuple[str, tuple[Arity, str | None] | None]] = []
    literal: set[str] = set()
    comma = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        m = _NAME.fullmatch(tok.rstrip(","))
        if m and tok not in ("-", "--") and not tok.startswith("---"):
            name, rest = m.group("name"), m.group("rest")
            if name == "-" and re.fullmatch(r"<(num|number|n)>", rest, re.IGNORECASE):
                found.append(("-NUM", None))  # git log -<number>, as the spec writes it
                i += 1
                continue
            if name.endswith(".") or (rest and not re.match(r"[\[=<A-Za-z0-9]", rest)):
                break
            spec = _short_rest(name, rest)
            if spec is not None and rest.startswith("=") and _literal(spec[1]):
                literal.add(name)
            i += 1
            if spec is None and i < len(tokens) and not tok.endswith(","):
                nxt = tokens[i]
                if not _NAME.fullmatch(nxt.rstrip(",")) and _is_separate_metavar(nxt, i == len(tokens) - 1, loose):
                    if nxt.startswith("[="):
                        spec = ("optional", nxt[2:].rstrip("]"))
                    elif nxt.startswith("="):
                        spec = ("required", nxt[1:])
                        if i + 1 < len(tokens) and tokens[i + 1].startswith("["):
                            i += 1  # top: -d, --delay =SECS [.TENTHS]
                    else:
                        # git's "--diff-filter [(A|C|D)...[*]]" is a required value: git shows
                        # an optional one as "[=<x>]".
                        spec = ("required", nxt.strip("<>,'"))
                    i += 1
            found.append((name, spec))
            comma = comma or tok.endswith(",")
            continue
        break
    bare = {n for n, sp in found if sp is None}
    found = [(n, ("optional", sp[1]) if sp is not None and n in bare and sp[0] == "required" else sp)
             for n, sp in found if not (sp is None and any(n == k and v is not None for k, v in found))]

    def shared(owner: str, sp: tuple[Arity, str | None]) -> bool:
        if sp[0] == "required":
            return owner not in literal
        return not comma or "<" in (sp[1] or "")

    # The group's value comes from its first long option: in "-c, -C NUM, --context[=NUM]" the
    # separate "-C NUM" is its own option and -c a switch.
    owner, group = next(((n, sp) for n, sp in found if sp is not None and n.startswith("--")), ("", None))
    out: list[Option] = []
    for name, spec in found:
        if (spec is None and group is not None and shared(owner, group) and not name.startswith("--no-")
                and not name.startswith("--[no-]") and name != "-NUM"):
            spec = group
        arity, metavar = spec if spec is not None else ("none", None)
        for expanded in _expand_no(name):
            neg = expanded.startswith("--no-") and name.startswith("--[no-]")
            out.append(Option(expanded, "none" if neg else arity, None if neg else metavar))
    return out


def _expand_no(name: str) -> tuple[str, ...]:
    """git's ``--[no-]X`` is two options."""
    if name.startswith("--[no-]"):
        return ("--" + name[7:], "--no-" + name[7:])
    return (name,)


def parse_gnu(text: str, max_indent: int = 12) -> tuple[Option, ...]:
    """Options of a GNU-, util-linux-, systemd-, argp-, curl-, pflag- or git-style help text.

    A head is a line that starts (after at most ``max_indent`` blanks) with ``-``; it ends at
    the first run of two blanks or a tab, or where a word no longer reads as an option or a
    metavar (curl and systemd put one blank before the description).
    """
    out: dict[str, Option] = {}
    for line in text.splitlines():
        m = re.match(r"( *)([-+].*)", line.expandtabs(8))
        if not m or len(m.group(1)) > max_indent:
            continue
        parts = re.split(r"\s{2,}", m.group(2).rstrip())
        head = parts[0]
        while len(parts) > 1 and re.fullmatch(r"-\w,?", head.split()[-1]) and parts[1].startswith("--"):
            parts = [head + " " + parts[1], *parts[2:]]  # stat: "-c  --format=FORMAT"
            head = parts[0]
        for opt in parse_head(head):
            old = out.get(opt.name)
            if old is not None and {old.arity, opt.arity} == {"none", "required"}:
                out[opt.name] = Option(opt.name, "optional", old.metavar or opt.metavar)  # du --time, --time=WORD
            out.setdefault(opt.name, opt)
    # Usage lines: "[-v SPEC]", "[-b]"; netstat's "{-t|--tcp}" alternatives.
    for m in re.finditer(r"\[(-\w)(?: ([A-Z][\w-]*))?\]", text):
        out.setdefault(m.group(1), Option(m.group(1), "required" if m.group(2) else "none", m.group(2)))
    for m in re.finditer(r"\{(-\w)\|(--[\w-]+)\}", text):
        for name in m.groups():
            out.setdefault(name, Option(name, "none"))
    return tuple(out.values())


def parse_kubectl(text: str) -> tuple[Option, ...]:
    """kubectl's ``    -A, --all-namespaces=false:`` format: a bool default means a switch."""
    out: dict[str, Option] = {}
    for m in re.finditer(r"^ {4}(?:-(\w), )?--([\w-]+)=(.*):$", text, re.MULTILINE):
        short, long_, default = m.groups()
        arity: Arity = "none" if default in ("true", "false") else "required"
        for name in filter(None, (short and "-" + short, "--" + long_)):
            out.setdefault(name, Option(name, arity, None if arity == "none" else default))
    return tuple(out.values())


def parse_ps(text: str) -> tuple[Option, ...]:
    """``ps --help all``: UNIX ``-x``, GNU ``--long`` and BSD letters (written bare: ``a``)."""
    out: dict[str, Option] = {}
    for line in text.splitlines():
        m = re.match(r" {1,8}((?:(?:-?\w|--[\w-]+),? *)+)(<\w+>)?(?:\s{2,}|$)", line)
        if not m:
            continue
        names = re.findall(r"--[\w-]+|-\w|\b\w\b", m.group(1))
        arity: Arity = "required" if m.group(2) else "none"
        for name in names:
            out.setdefault(name, Option(name, arity, m.group(2)))
    return tuple(out.values())


def parse_iproute2(text: str) -> tuple[Option, ...]:
    """``ip -h``'s ``OPTIONS := { -V[ersion] | -f[amily] { inet | ... } | -b[atch] [filename] }``.

    Returned names are the full words (``-family``); iproute2 matches any prefix of them.
    """
    body = text.split("OPTIONS :=", 1)[-1]
    out: dict[str, Option] = {}
    for m in re.finditer(r"(-\w+)(?:\[(\w[\w-]*)\])?\s*(\{[^}]*\}|\[\w+\]|[a-z]+(?=\s*[|}]))?", body):
        name = m.group(1) + (m.group(2) or "")
        arg = m.group(3)
        # "-b[atch] [filename]", "-rc[vbuf] [size]": ip.c takes the next word (NEXT_ARG) for
        # every option that has one, bracketed in the help or not.
        arity: Arity = "required" if arg else "none"
        out.setdefault(name, Option(name, arity, arg))
    if "[ -force ]" in text:
        # "ip [ -force ] -batch filename"; ip.c compares "-force" exactly, after the prefixes.
        out["-force"] = Option("-force", "none")
    return tuple(out.values())



def parse_find(text: str) -> tuple[Option, ...]:
    """``find --help``: single-dash primaries, each followed by its (upper-case) value words."""
    out: dict[str, Option] = {}
    body = text.split("Positional options", 1)[-1].split("Other common options", 1)[0]
    words = body.split()
    for i, word in enumerate(words):
        if not re.fullmatch(r"-[a-z][\w-]*\d?", word) or word in out:
            continue
        args: list[str] = []
        for nxt in words[i + 1 :]:
            if not re.fullmatch(r"(\[[-/]+\])?[A-Z]+(\[\w+\])?|\[\w+\]", nxt):
                break
            args.append(nxt)
        if word in ("-exec", "-execdir", "-ok", "-okdir"):
            args = ["COMMAND", ";"]
        arity: Arity = "required" if args else "none"
        out[word] = Option(word, arity, " ".join(args) or None)
    # The usage line's global options and the operators (find(1) "OPERATORS", "-Olevel").
    for name, arity in (("-H", "none"), ("-L", "none"), ("-P", "none"), ("-D", "required"),
                        ("-not", "none"), ("-a", "none"), ("-and", "none"), ("-o", "none"), ("-or", "none"),
                        ("-O0", "none"), ("-O1", "none"), ("-O2", "none"), ("-O3", "none")):
        out.setdefault(name, Option(name, arity))  # type: ignore[arg-type]
    return tuple(out.values())


def parse_lsof(text: str) -> tuple[Option, ...]:
    """lsof's usage line: ``[-abc]`` switches, ``[-p s]`` required, ``[-F [f]]`` optional.

    lsof's optional values are not getopt's: it takes the next word when that word does not
    start with ``-`` or ``+`` (lsof(8), "OPTIONS"), so they are reported as ``optional``.
    """
    usage = text.split("usage:", 1)[-1].split("Defaults", 1)[0]
    out: dict[str, Option] = {}
    for group in re.findall(r"\[([^\[\]]*(?:\[[^\]]*\][^\[\]]*)*)\]", usage):
        m = re.fullmatch(r"(\+\|-|[-+])(\S+)(?:\s+(\[?\S+?\]?))?", group.strip())
        if not m:
            continue
        prefixes = ("-", "+") if m.group(1) == "+|-" else (m.group(1),)
        letters, arg = m.group(2), m.group(3)
        if arg is None and len(letters) > 1 and "[" not in letters:
            names = [p + c for p in prefixes for c in letters]  # a cluster of switches
            for name in names:
                out.setdefault(name, Option(name, "none"))
            continue
        letter = letters.split("[")[0]
        arity: Arity = "none" if not arg else ("optional" if arg.startswith("[") else "required")
        if "[" in letters:
            arity = "optional"  # -f[gG]
        for p in prefixes:
            out.setdefault(p + letter, Option(p + letter, arity, arg))
    return tuple(out.values())


def parse_nslookup(text: str) -> tuple[Option, ...]:
    """nslookup(1): command-line options are the ``set`` keywords with a dash (``-type=mx``,
    ``-debug``); a keyword shown as ``name=value`` takes an attached value only (``-type mx``
    is "Invalid option: type"), ``[no]x`` / ``nox`` is a switch and its negation."""
    text = re.sub(r".\x08", "", text)
    body = text.split("set keyword", 1)[-1].split("RETURN VALUES", 1)[0]
    out: dict[str, Option] = {}
    for line in body.splitlines():
        m = re.match(r" {14}([a-z0-9]+)(=\w+)?(?: \| ([a-z]+)(=\w+)?)?(?:\s{2,}\S.*)?\s*$", line)
        if not m:
            continue
        for name, value in ((m.group(1), m.group(2)), (m.group(3), m.group(4))):
            if not name:
                continue
            if value:
                out.setdefault("-" + name, Option("-" + name, "optional", value[1:]))
                continue
            base = name[2:] if name.startswith("no") and name != "nod2" else name
            base = "d2" if name == "nod2" else base
            for n in (base, "no" + base):
                out.setdefault("-" + n, Option("-" + n, "none"))
    out.setdefault("-version", Option("-version", "none"))  # nslookup(1): "The -version option"
    return tuple(out.values())


def parse_man(text: str) -> tuple[Option, ...]:
    """A man page's tagged option paragraphs: heads at the first indent level (7 blanks)."""
    text = re.sub(r".\x08", "", text)
    lines = text.splitlines()
    out: dict[str, Option] = {}
    for i, line in enumerate(lines):
        if not re.match(r" {7}[-+]", line):
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        alone = re.match(r" {8,}\S", nxt) is not None and not re.search(r"\S\s{2,}\S", line.strip())
        table = list(parse_head(line.strip(), loose=True)) if alone else list(parse_gnu(line, max_indent=7))
        for opt in table:
            out.setdefault(opt.name, opt)
    return tuple(out.values())


# -- reading them from this machine --------------------------------------------------------

_ENV = {"LC_ALL": "C", "LANG": "C", "COLUMNS": "200", "MANWIDTH": "200", "PAGER": "cat",
        "GIT_PAGER": "cat", "SYSTEMD_PAGER": "", "MAN_KEEP_FORMATTING": "",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent"}


@lru_cache(maxsize=512)
def _output(argv: tuple[str, ...]) -> str:
    """stdout+stderr of a help command; '' when it cannot run. Run from / (not a git work tree:
    ``git diff -h`` then lists every diff option)."""
    if shutil.which(argv[0]) is None:
        return ""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd="/", check=False,
                              env=_ENV, stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def man_page(page: str) -> str:
    """The plain text of a man page ('' if there is none)."""
    return _output(("man", "-P", "cat", page))


@dataclass(frozen=True, slots=True)
class Source:
    """Where a program's options come from: a command and the parser for its output."""

    argv: tuple[str, ...]
    parser: Literal["gnu", "kubectl", "ps", "iproute2", "find", "lsof", "man", "nslookup", "builtin"]


# Programs whose --help is not `PROG --help` in GNU format. Anything else: `PROG --help`, and
# its man page for options the help text does not list.
_SOURCES: dict[str, tuple[Source, ...]] = {
    "ps": (Source(("ps", "--help", "all"), "ps"),),
    "ip": (Source(("ip", "-h"), "iproute2"),),
    "find": (Source(("find", "--help"), "find"), Source(("man", "-P", "cat", "find"), "man")),
    "lsof": (Source(("lsof", "-h"), "lsof"),),
    "top": (Source(("top", "-h"), "gnu"),),
    "curl": (Source(("curl", "--help", "all"), "gnu"),),
    "mawk": (Source(("mawk", "-W", "usage"), "gnu"),),
    "xzcat": (Source(("xz", "--long-help"), "gnu"),),
    "iostat": (Source(("man", "-P", "cat", "iostat"), "man"),),
    "host": (Source(("man", "-P", "cat", "host"), "man"),),
    "dig": (Source(("man", "-P", "cat", "dig"), "man"),),
    "pidof": (Source(("man", "-P", "cat", "pidof"), "man"),),
    "mpstat": (Source(("man", "-P", "cat", "mpstat"), "man"),),
    "git": (Source(("man", "-P", "cat", "git"), "man"),),
    "kubectl": (Source(("kubectl", "options"), "kubectl"),),
    "docker": (Source(("docker", "--help"), "gnu"),),
    "nslookup": (Source(("man", "-P", "cat", "nslookup"), "nslookup"),),
    "openssl": (Source(("openssl", "help"), "gnu"),),
}
_BUILTINS = frozenset({"echo", "printf", "type", "command", "cd", "pwd", "true", "false", "test", "["})

# Help texts that are wrong about an option, checked against the program (evidence given).
CORRECTIONS: dict[str, dict[str, Arity]] = {
    # `hostname --help` prints "-F, --file" without a metavar; `hostname -F /x` reads /x
    # (net-tools hostname.c: case 'F': file = optarg, getopt string "aAdfbF:h...").
    "hostname": {"-F": "required", "--file": "required"},
    # `ss --help`: "-N, --net" without metavar; ss.c getopt "...N:..." (netns name).
    "ss": {"-N": "required", "--net": "required"},
    # `ps --help all`: "k, --sort" shows no <spec>; `ps --sort pid` and `ps k pid` take it.
    "ps": {"k": "required", "--sort": "required", "--help": "optional"},
    # cron's `crontab -h` prints "-u user" on its own line after the usage; the parser takes
    # the usage line: `crontab -u root -l` lists root's table (cron 3.0pl1 getopt "u:lerin").
    "crontab": {"-u": "required"},
    # find --help: "-regextype" is printed without its argument; find(1): "-regextype type".
    "find": {"-regextype": "required"},
    # `dmesg -Lnever -k` runs, `dmesg -L never` is "bad usage": getopt "L::", as --color[=].
    "dmesg": {"-L": "optional"},
    # `top -h` prints "-w, --width [=COLUMNS]"; both forms take the next word if numeric.
    "top": {"-w": "optional"},
    # `file --help`: "-P, --parameter" without metavar; `file -P bytes=100 /etc/hosts` works.
    "file": {"-P": "required", "--parameter": "required"},
    # ip(8): "-c[olor][={always|auto|never}]" (ip.c matches_color): attached only.
    "ip": {"-color": "optional"},
    # git log --format %h: "ambiguous argument '%h'" -- revision.c reads "--format=" only.
    "git log": {"--format": "optional"}, "git show": {"--format": "optional"},
    "git whatchanged": {"--format": "optional"},
    # `git reflog show -h` prints every reflog verb's usage ("expire -n" is --dry-run there);
    # `git reflog show -n 5` takes log's -n.
    "git reflog": {"-n": "required", "--format": "optional"},
    # iostat(1): "-p [ { device[,...] | ALL } ]": -p alone or with the next word (greedy).
    "iostat": {"-p": "optional"},
    # mawk -W alone: "mawk: option requires an argument -- W"; `mawk -W version` works.
    "mawk": {"-W": "required"},
    # `curl --help` and `ps --help` run alone; a following category word is taken if given.
    "curl": {"-h": "optional", "--help": "optional"},
    # pidof(8): "-d sep"; `pidof -d , init` runs.
    "pidof": {"-d": "required"},
    # lsof(8): "-o o" -- "-o" alone lists offsets; a following number is its digit count.
    "lsof": {"-o": "optional", "-K": "optional"},  # lsof -h: "-K [i] list|(i)gn tasKs"
    # sysstat 12.6 sar.c main() / sa_common.c parse_sar_opt(): -f and -o take the next word
    # unless it starts with '-' or is all digits; -r/-u take it only if it is "ALL", -F only if
    # "MOUNT" (and only as the cluster's last letter); -s/-e only if it is 5 or 8 characters
    # long; -q only a keyword list (`sar -q 1 2` prints two reports). sar --help shows them as
    # "-F [ MOUNT ]", which reads as required.
    "sar": {"-f": "optional", "-o": "optional", "-r": "optional", "-u": "optional", "-F": "optional",
            "-s": "optional", "-e": "optional", "-q": "optional"},
    # pidstat.c: -U takes the next word as a user name unless it starts with '-' or is all digits.
    "pidstat": {"-U": "optional"},
}


def _parse(source: Source, text: str) -> tuple[Option, ...]:
    parsers = {"gnu": parse_gnu, "kubectl": parse_kubectl, "ps": parse_ps, "iproute2": parse_iproute2,
               "find": parse_find, "lsof": parse_lsof, "man": parse_man, "nslookup": parse_nslookup,
               "builtin": lambda t: parse_gnu(t, max_indent=8)}
    return parsers[source.parser](text)


def _merge(*tables: tuple[Option, ...]) -> tuple[Option, ...]:
    """Options of several sources; the first source that lists a name wins."""
    out: dict[str, Option] = {}
    for table in tables:
        for opt in table:
            out.setdefault(opt.name, opt)
    return tuple(out.values())


# Optional values taken from the next word when it parses (see Option.greedy), with evidence.
GREEDY: dict[str, frozenset[str]] = {
    # systemd 252 journalctl.c: getopt "...n::...b::..."; case 'n'/'b' with no optarg parse
    # argv[optind] and, if it is a line count / boot id, take it (optind++).
    "journalctl": frozenset({"-n", "--lines", "-b", "--boot"}),
    # procps 4.0.2 top: `top -b -n1 -w 100` prints lines of at most 99 columns, `-w -n 1` keeps -n.
    "top": frozenset({"-w", "--width"}),
    "iostat": frozenset({"-p"}),
    "curl": frozenset({"-h", "--help"}),
    "ps": frozenset({"--help"}),
    "sar": frozenset({"-f", "-o", "-r", "-u", "-F", "-s", "-e", "-q"}),
    "pidstat": frozenset({"-U"}),
}


def _corrected(program: str, table: tuple[Option, ...]) -> tuple[Option, ...]:
    fixes = CORRECTIONS.get(program, {})
    table = tuple(Option(o.name, fixes.get(o.name, o.arity), o.metavar) for o in table)
    greedy = GREEDY.get(program, frozenset())
    if program == "lsof":
        greedy = frozenset(o.name for o in table if o.arity == "optional")  # lsof(8) OPTIONS
    return tuple(Option(o.name, o.arity, o.metavar, o.name in greedy) for o in table)


@lru_cache(maxsize=256)
def real_options(program: str, subcommand: tuple[str, ...] = ()) -> tuple[Option, ...] | None:
    """The options ``program [subcommand...]`` accepts on this machine; None if not installed.

    For git, docker and kubectl a subcommand's table holds only its own options; the program's
    (global) options are ``real_options(program)``.
    """
    if program in _BUILTINS:
        text = _output(("bash", "-c", f"help -- {program!s}")) if program != "[" else ""
        return _corrected(program, parse_gnu(text, max_indent=8))
    if shutil.which(program) is None:
        return None
    if subcommand:
        return _sub_options(program, subcommand)
    if program == "zgrep":
        return _zgrep()
    sources = _SOURCES.get(program, (Source((program, "--help"), "gnu"),))
    tables = [_parse(s, _output(s.argv)) for s in sources]
    if program not in ("ip", "find", "kubectl", "docker", "nslookup", "openssl"):
        tables.append(parse_man(man_page(program)))  # options the help text leaves out
    return _corrected(program, _merge(*tables))


def _zgrep() -> tuple[Option, ...]:
    """zgrep (gzip 1.12) is a script that reads grep's options with its own case patterns:
    ``-[ABCDXdefm] | --binary-* | --file | --[lm]a* | --reg*`` take the next word, every other
    ``-?*`` none, and ``-[drRzZ] | --di* | --exc* | --inc* | --rec* | --nu*`` are refused."""
    from fnmatch import fnmatchcase

    out: list[Option] = []
    for o in real_options("grep") or ():
        if any(fnmatchcase(o.name, p) for p in ("-[drRzZ]", "--di*", "--exc*", "--inc*", "--rec*", "--nu*")):
            continue
        takes = any(fnmatchcase(o.name, p) for p in ("-[ABCDXdefm]", "--binary-*", "--file", "--[lm]a*", "--reg*"))
        # Any other word is handed to grep as it is: "--context=3" works, "--context 3" makes
        # 3 the pattern. So a long option with a value is attached-only (optional) here.
        arity: Arity = "required" if takes else ("optional" if o.arity != "none" and o.name.startswith("--") else "none")
        out.append(Option(o.name, arity, o.metavar if arity != "none" else None))
    return tuple(out)


def _sub_options(program: str, sub: tuple[str, ...]) -> tuple[Option, ...]:
    if program == "git":
        own = parse_gnu(_output(("git", *sub, "-h")))
        extra: tuple[Option, ...] = ()
        log: tuple[Option, ...] = ()
        if sub[0] in ("log", "show", "diff", "shortlog", "whatchanged"):
            extra = parse_gnu(_output(("git", "diff", "-h")))  # the diff options they share
        if sub[0] in ("show", "whatchanged", "reflog"):
            log = parse_man(man_page("git-log"))  # git-show(1): "takes options applicable to git log"
        merged = _corrected("git", _merge(own, extra, parse_man(man_page("git-" + sub[0])), log))
        return _corrected(f"git {sub[0]}", merged)
    if program == "kubectl":
        return parse_kubectl(_output(("kubectl", *sub, "--help")))
    if program == "docker":
        return parse_gnu(_output(("docker", *sub, "--help")))
    if program == "openssl":
        # `openssl x509 -help`: " -in infile   Certificate input..." (apps/lib/opt.c opt_help).
        return parse_gnu(_output(("openssl", *sub, "-help")))
    if program == "systemctl" or program == "journalctl":
        return real_options(program) or ()  # one option table for every verb
    return ()


def family_of(program: str) -> str:
    """The option family sshwall's docs name for a program (docs/option-grammar.md)."""
    return {"kubectl": "pflag", "docker": "pflag", "git": "git", "ip": "iproute2", "ps": "ps",
            "find": "find", "tar": "tar", "lsof": "lsof", "top": "top", "openssl": "openssl",
            "nslookup": "openssl"}.get(program, "gnu")

