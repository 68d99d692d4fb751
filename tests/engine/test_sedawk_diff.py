"""sed and awk checkers against the real interpreters: GNU sed, mawk and gawk under strace.

Programs are generated from each language's constructs (then mutated with the characters
that change a parse: ``\\ [ ] / ; } # newline``), decided by ``check_sed``/``check_awk`` and
run for real in a throwaway folder holding an ``input`` file and a marker-laden ``secret``.
A run *misbehaves* when it executes a program, opens any file but ``input`` and the
interpreter's own libraries and locale, writes, renames or deletes anything, changes the
folder, or prints a marker (from ``secret`` or from the environment). An allowed program
that misbehaves is a disagreement and fails the test; a denied one that runs cleanly is a
false deny, counted and printed. Seeds are fixed, so a run is reproducible.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sshwall.engine.sedawk import check_awk, check_sed

SECRET = "SECRETMARK_7d1f"
ENV_SECRET = "ENVMARK_93ab"
INPUT = "a b 1\nc d 2\nerror a 30\nx/y [z] 400\n"
_TRACED = ("trace=openat,open,creat,execve,execveat,rename,renameat,renameat2,unlink,"
           "unlinkat,mkdir,mkdirat,truncate,symlink,symlinkat,link,linkat,chmod,fchmodat")
# Files an interpreter opens on its own: the dynamic loader, libraries, locale, gconv.
_SYSTEM_PREFIXES = ("/etc/ld.so.", "/lib/", "/lib64/", "/usr/lib/", "/usr/share/locale/",
                    "/proc/self/maps", "/proc/filesystems", "/usr/lib/locale/")
_OWN_STREAMS = frozenset({"/dev/stdout", "/dev/stderr", "/dev/null", "/dev/fd/1", "/dev/fd/2"})
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
_LINE = re.compile(r'^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)')
_TOOLS = ("strace", "sed", "mawk", "gawk")


def _tools_or_skip() -> None:
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"differential tests need {', '.join(missing)}")
        pytest.skip(f"differential tests need {', '.join(missing)}")


@dataclass
class Run:
    """What one real run did."""

    rc: int
    timed_out: bool
    misdeeds: list[str] = field(default_factory=list)


def _limit_output() -> None:
    # An endless `p` loop must not fill the disk: 4 MiB per file, then SIGXFSZ.
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))


def run_traced(argv: list[str], timeout: float = 2.0) -> Run:
    """Run ``argv`` in a fresh folder under strace; report every misdeed."""
    with tempfile.TemporaryDirectory(prefix="sshwall-diff-") as top:
        box = Path(top, "box")
        box.mkdir()
        (box / "input").write_text(INPUT)
        (box / "secret").write_text(f"top {SECRET} secret\n")
        before = {p.name: p.read_bytes() for p in box.iterdir()}
        log, out = Path(top, "strace.log"), Path(top, "stdout")
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(box), "TOKEN": ENV_SECRET}
        with open(out, "wb") as fout:
            proc = subprocess.Popen(
                ["strace", "-f", "-qq", "-o", str(log), "-e", _TRACED, *argv],
                cwd=box, env=env, stdin=subprocess.DEVNULL, stdout=fout, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_limit_output,
            )
            timed_out = False
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
        misdeeds = _misdeeds(log.read_text(errors="replace"), box)
        text = out.read_bytes()[: 1 << 20].decode(errors="replace")
        misdeeds += [f"printed {m}" for m in (SECRET, ENV_SECRET) if m in text]
        after = {p.name: p.read_bytes() for p in box.iterdir()} if box.is_dir() else {}
        if after != before:
            misdeeds.append(f"changed the folder: {sorted(set(after) ^ set(before)) or 'contents'}")
        return Run(rc, timed_out, misdeeds)


def _misdeeds(log: str, box: Path) -> list[str]:
    found: list[str] = []
    execs = 0
    for line in log.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        call, args = m.group(1), m.group(2)
        path_m = re.search(r'"((?:[^"\\]|\\.)*)"', args)
        path = path_m.group(1) if path_m else ""
        if call.startswith("execve"):
            execs += 1
            if execs > 1:
                found.append(f"ran {path}")
        elif call in ("openat", "open"):
            if path.startswith(str(box) + "/"):
                path = path[len(str(box)) + 1 :]
            if any(f in args for f in _WRITE_FLAGS) and path not in _OWN_STREAMS:
                found.append(f"opened {path} for writing")
            elif path not in ("input", "/dev/stdin") and path not in _OWN_STREAMS and not path.startswith(_SYSTEM_PREFIXES):
                found.append(f"opened {path}")
        else:
            found.append(f"{call} {path}")
    return found


@dataclass
class Tally:
    """Counts for the summary line, and the disagreements themselves."""

    name: str
    tried: int = 0
    allowed: int = 0
    run: int = 0
    false_denies: int = 0
    denied_run: int = 0
    timeouts: int = 0
    disagreements: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = f"{self.false_denies}/{self.denied_run}" if self.denied_run else "0/0"
        return (f"[{self.name}] programs tried {self.tried} / allowed by sshwall {self.allowed} / "
                f"run {self.run} / disagreements {len(self.disagreements)} / "
                f"false denies {rate} of denied programs run / timeouts {self.timeouts}")


def differential(
    name: str,
    programs: Iterator[list[str]],
    check: Callable[[str], str | None],
    commands: Callable[[list[str]], list[list[str]]],
    denied_budget: int,
) -> Tally:
    """Decide each program (a list of -e chunks), run the allowed ones and some denied ones."""
    tally = Tally(name)
    seen: set[tuple[str, ...]] = set()
    for chunks in programs:
        key = tuple(chunks)
        if key in seen:
            continue
        seen.add(key)
        tally.tried += 1
        problems = [p for p in map(check, chunks) if p]
        allowed = not problems
        if allowed:
            tally.allowed += 1
        elif tally.denied_run >= denied_budget:
            continue
        else:
            tally.denied_run += 1
        tally.run += 1
        runs = [run_traced(argv) for argv in commands(chunks)]
        tally.timeouts += sum(r.timed_out for r in runs)
        misdeeds = [m for r in runs for m in r.misdeeds]
        if allowed and misdeeds:
            tally.disagreements.append(f"{chunks!r}: {misdeeds}")
        elif not allowed and not misdeeds and all(r.rc == 0 and not r.timed_out for r in runs):
            tally.false_denies += 1
    return tally


def _report(tally: Tally, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + tally.line())
    assert not tally.disagreements, "\n".join(tally.disagreements[:20])


# -- generators --------------------------------------------------------------------------------

_SED_ADDR = ["", "", "", "", "1", "2", "$", "/a/", "/[/]/", "\\,a,", "\\;a;", "1,2", "/a/,/c/",
             "0~2", "2,+1", "1,~2", "/a/I", "0,/a/", "/x\\/y/", "/[[:alpha:]/]/", "/[]/]/"]
_SED_CMDS = [
    "p", "p", "P", "=", "l", "l 3", "q", "Q", "d", "D", "n", "N", "g", "G", "h", "H", "x", "z",
    "F", "a text", "a\\\ntext", "i\\", "c changed", "s/a/b/", "s/a/b/g", "s/a/b/gp", "s/a/b/2",
    "s/a/b/I", "s/a/b/m", "s|a|b|", "s,a,b,p", "s/[/]/x/", "s/a/b/ p", "s/a/b/ ie",
    "s/.*/touch pwned/e", "s/a/b/w out", "s/a/b/ w out", "s/a/b/w /dev/stdout", "y/ab/xy/",
    "y/a/b/", "r secret", "R secret", "w out", "W out", "w /dev/stdout", "e touch pwned", "e",
    "b", "b end", ":end", "t end", "T end", "{", "}", "{p}", "#c", "s/x/\\\n/", "s/a/\\/b/",
    "s/[a/]/x/", "y/[/]/", "s;a;b;", "s a b ", "b x w out", ":a w out", "s/a/b/ ;w out",
]
_SED_SEPS = [";", "\n", " ", "", " ; ", ";;", "}"]
_SED_JUNK = ["\\", "[", "]", "/", ";", "}", " ", "\n", "#", "w", "e", "r", "{", "!", ",", "p",
             "\\\n", "i", "a", ":", "s"]


def _mutate(rng: random.Random, text: str, junk: list[str]) -> str:
    for _ in range(rng.randint(1, 3)):
        pos = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.6:
            text = text[:pos] + rng.choice(junk) + text[pos:]
        elif roll < 0.8 and text:
            text = text[:pos] + text[pos + 1 :]
        else:
            end = rng.randint(pos, len(text))
            text = text[:pos] + text[pos:end] * 2 + text[end:]
    return text


def sed_programs(seed: int, count: int) -> Iterator[list[str]]:
    """Scripts built from sed's grammar, a third of them mutated, some split over two -e."""
    rng = random.Random(seed)
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 4)):
            bang = "!" if rng.random() < 0.1 else ""
            parts.append(rng.choice(_SED_ADDR) + bang + rng.choice(_SED_CMDS))
        seps = [rng.choice(_SED_SEPS) for _ in parts]
        script = "".join(p + s for p, s in zip(parts, seps)).rstrip(";")
        if rng.random() < 0.4:
            script = _mutate(rng, script, _SED_JUNK)
        if rng.random() < 0.15 and len(script) > 2:
            cut = rng.randint(1, len(script) - 1)
            yield [script[:cut], script[cut:]]
        else:
            yield [script]


def sed_commands(chunks: list[str]) -> list[list[str]]:
    argv = ["sed", "-n"]
    for chunk in chunks:
        argv += ["-e", chunk]
    return [argv + ["input"]]


_AWK_PATTERNS = ["", "", "", "NR>1", "/a/", '$1=="a"', "NR==1,NR==2", "BEGIN", "END", "!/x/",
                 "$0 ~ /[/]/", "$3 > 10", "length($0) > 3", "/a|b/"]
# Statements that read only (the checker should allow most), and ones that do more.
_AWK_BENIGN = [
    "print", "print $1", "print $1, $2", 'printf "%s-%d\\n", $1, $3', "n += $3", "a[$1]++",
    "print length($0)", "print substr($0, 2)", 'gsub(/a/, "b"); print', 'close("x")', "fflush()",
    "srand(1); x = rand()", "print $NF / 2", "print $3/2, $3/4", 'print "a" "/" "b"',
    "x = $3 / 2 / 1", 'print > "/dev/stderr"', "print ($1 > 2)", "print $1 >= 2",
    "if ($3 > 2) print $1", "next", "for (i = 1; i <= NF; i++) s += $i", "print toupper($1)",
    "for (k in ARGV) print k, ARGV[k]", "print ARGV[1]", "print ARGC", "x = ARGV[0] ARGC",
    "if (1 in ARGV) print", 'PROCINFO["sorted_in"] = "@ind_str_asc"', "print $1 / $3",
    "print (NR) / 2", "x = length($0) / 2", "print /a/ ? 1 : 0", "y = $3 ~ /[/]/",
    'print "x", /a/', "print -$3 / 2", "print !/a/", "z = a[1] / 2", "print 1. / 2",
    'split($0, parts, "/"); print parts[1]', "print $1 ~ \"a/b\"", "f(1)", "print f($3) / 2",
    "exit", "print $(1) / 2", 'print index($0, "/")', "q = $3 % 2; print q",
]
_AWK_DANGER = [
    'print > "out"', 'print $1 >> "out"', 'print | "cat"', 'print |& "cat"',
    'system("touch pwned")', '"echo X" | getline x; print x', 'getline x < "secret"; print x',
    'getline < "secret"', 'while ((getline l < "secret") > 0) print l', 'ARGV[1]="secret"',
    'ARGV[ARGC++]="secret"', 'ARGC=3; ARGV[2]="secret"', 'split("secret secret", ARGV)',
    'sub(/input/, "secret", ARGV[1])', "delete ARGV", 'print ENVIRON["TOKEN"]', "x = i++ / 2",
    "y = length / 2", 'if (1) /"/', '@include "x"', 'print SYMTAB["ARGV"]',
    'printf("%s\\n", $1) > "out"', 'print "x" > $2', "print\n> \"out\"",
    'print "a",\n"b" > "out"', "print /\"/; system(\"touch pwned\") #\"/",
    'y = $3 / 2; z = 1 /"/; system("touch pwned") #"/', 'print $/"/; system("touch pwned") #"/',
    'ARGV[1] = ARGV[1]', "ARGC++", "ARGC = 1", 'for (ARGC in a) x', 'g(ARGV)',
    "x = length /\"/; system(\"touch pwned\") #\"/", 'if (1) /"/; system("touch pwned") #"/',
]
_AWK_JUNK = ["\\", "/", '"', "#", "\n", ";", "{", "}", "(", ")", "[", "]", "|", ">", "$", "+",
             "++", "\\\n", "=", " "]
_AWK_FUNCS = ["", "", "", "function f(a) { return a }\n", 'function g(a) { a[1] = "secret" }\n',
              'function f(a) { return a }\nBEGIN { x = f /"/; system("touch pwned") #"/\n}\n']


def awk_programs(seed: int, count: int) -> Iterator[list[str]]:
    """Programs built from awk's grammar, some mutated, some split over two gawk -e."""
    rng = random.Random(seed)
    for _ in range(count):
        rules = []
        for _ in range(rng.randint(1, 3)):
            stmts = "; ".join(rng.choice(_AWK_DANGER if rng.random() < 0.2 else _AWK_BENIGN)
                              for _ in range(rng.randint(1, 3)))
            pattern = rng.choice(_AWK_PATTERNS)
            rules.append(f"{pattern} {{ {stmts} }}" if pattern or rng.random() < 0.8 else pattern or "NR")
        program = rng.choice(_AWK_FUNCS) + rng.choice(["\n", " "]).join(rules)
        if rng.random() < 0.4:
            program = _mutate(rng, program, _AWK_JUNK)
        yield [program]


def awk_commands(chunks: list[str]) -> list[list[str]]:
    return [["mawk", "--", chunks[0], "input"], ["gawk", "--", chunks[0], "input"]]


def gawk_chunk_programs(seed: int, count: int) -> Iterator[list[str]]:
    """One program cut in two, for ``gawk -e A -e B``: each part is checked on its own."""
    rng = random.Random(seed)
    for [program] in awk_programs(seed, count):
        if len(program) > 2:
            cut = rng.randint(1, len(program) - 1)
            yield [program[:cut], program[cut:]]


def gawk_chunk_commands(chunks: list[str]) -> list[list[str]]:
    argv = ["gawk"]
    for chunk in chunks:
        argv += ["-e", chunk]
    return [argv + ["input"]]


# -- the tests ---------------------------------------------------------------------------------

SED_IDIOMS = ["1,20p", "/error/p", "s/a/b/p", "$p", "/a/,/c/p", "s/[0-9]\\+/N/gp", "1~2p",
              "/^#/!p", "s|/|:|gp", "y/abc/ABC/;p", "=", "l", "$=", "/error/{p;q}"]
AWK_IDIOMS = [
    "{print $1}", "NR>1 && $3>100 {s+=$3} END {print s}", "{a[$1]++} END {for (k in a) print k, a[k]}",
    '{printf "%-10s %5d\\n", $1, $3}', "{print length($0), substr($0, 1, 3)}",
    '{gsub(/a/, "A", $2); print}', "END {print NR}", '$1 == "error" {print $3 / 10}',
    "{print $NF}", "{n[$2] += $3} END {for (k in n) printf \"%s=%d\\n\", k, n[k]}",
    "BEGIN {OFS=\":\"} {$1=$1; print}", "{print toupper($1), tolower($2)}", "/a/,/c/",
    "{ if ($3 > 10) print $1; else print $2 }", "{print $1 > \"/dev/stderr\"}",
]


def test_sed_idioms_are_allowed_and_harmless() -> None:
    _tools_or_skip()
    for script in SED_IDIOMS:
        assert check_sed(script) is None, script
        run = run_traced(["sed", "-n", "-e", script, "input"])
        assert run.rc == 0 and not run.misdeeds, (script, run)


def test_awk_idioms_are_allowed_and_harmless() -> None:
    _tools_or_skip()
    for program in AWK_IDIOMS:
        assert check_awk(program) is None, program
        for awk in ("mawk", "gawk"):
            run = run_traced([awk, "--", program, "input"])
            assert run.rc == 0 and not run.misdeeds, (awk, program, run)


def test_the_harness_sees_misdeeds() -> None:
    """The oracle itself: a write, an exec, a secret read and an environment leak are seen."""
    _tools_or_skip()
    assert any("out" in m for m in run_traced(["sed", "-n", "-e", "w out", "input"]).misdeeds)
    assert any("ran" in m for m in run_traced(["sed", "-n", "-e", "1e true", "input"]).misdeeds)
    assert any("secret" in m for m in run_traced(["mawk", 'BEGIN{ARGV[1]="secret"} 1', "input"]).misdeeds)
    assert any(ENV_SECRET in m for m in run_traced(["gawk", 'BEGIN{print ENVIRON["TOKEN"]}']).misdeeds)


def test_sed_checker_agrees_with_gnu_sed(capsys: pytest.CaptureFixture[str]) -> None:
    _tools_or_skip()
    tally = differential("sed vs GNU sed", sed_programs(seed=9, count=1000), check_sed, sed_commands,
                         denied_budget=150)
    _report(tally, capsys)


def test_awk_checker_agrees_with_mawk_and_gawk(capsys: pytest.CaptureFixture[str]) -> None:
    _tools_or_skip()
    tally = differential("awk vs mawk+gawk", awk_programs(seed=9, count=800), check_awk, awk_commands,
                         denied_budget=100)
    _report(tally, capsys)


def test_awk_checker_agrees_with_gawk_source_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    _tools_or_skip()
    tally = differential("awk -e chunks vs gawk", gawk_chunk_programs(seed=10, count=400), check_awk,
                         gawk_chunk_commands, denied_budget=60)
    _report(tally, capsys)


# Programs the previous checkers allowed, each misbehaving under a real interpreter (found by
# the differential tests above; kept so they stay denied and stay real).
SED_REGRESSIONS = [
    "b x w out",  # a label ends at a blank: `w out` is the next command
    ":a w out",
    "s/a/b/ iw out",  # blanks may sit between `s` flags: `i` is a flag, not an insert
    "s/.*/touch pwned/ ie",
    "s/[/]/;y/e;s/a/b/",  # `[/]` is a bracket: the replacement is `;y`, the flags `e`
]
AWK_REGRESSIONS = [
    ("gawk", 'BEGIN { i = 1; x = i++ / 2; system("touch pwned"); y = 1 / 3 }'),
    ("mawk", 'BEGIN { print /"/; system("touch pwned") # "\n}'),
    ("gawk", '$0 ~ /[/]+/ { system("touch pwned") } # /'),
    ("mawk", 'BEGIN { print "a",\n"b" > "out" }'),
    ("gawk", '{ print $/"/; system("touch pwned") #"/\n}'),
    ("gawk", 'BEGIN { if (1) /"/; system("touch pwned") #"/\n}'),
    ("mawk", 'BEGIN { x = length /"/; system("touch pwned") #"/\n}'),
    ("mawk", 'BEGIN { ARGV[1] = "secret" } 1'),
    ("gawk", 'BEGIN { split("secret", ARGV) } 1'),
    ("gawk", 'BEGIN { sub(/input/, "secret", ARGV[1]) } 1'),
    ("mawk", 'function g(a) { a[1] = "secret" } BEGIN { g(ARGV) } 1'),
    ("gawk", 'BEGIN { SYMTAB["ARGV"][1] = "secret" } 1'),
    ("gawk", 'BEGIN { print ENVIRON["TOKEN"] }'),
]


@pytest.mark.parametrize("script", SED_REGRESSIONS)
def test_sed_regressions_are_denied_and_real(script: str) -> None:
    _tools_or_skip()
    assert check_sed(script) is not None
    assert run_traced(["sed", "-n", "-e", script, "input"]).misdeeds


@pytest.mark.parametrize(("awk", "program"), AWK_REGRESSIONS)
def test_awk_regressions_are_denied_and_real(awk: str, program: str) -> None:
    _tools_or_skip()
    assert check_awk(program) is not None
    assert run_traced([awk, "--", program, "input"]).misdeeds
