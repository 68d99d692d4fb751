"""Mutations of allowed commands, built from the programs' REAL options, decided and run.

Seeds are commands the policy allows (the shared corpus's allow cases, the policy's allow
examples, one simple command per allowed program). Each seed's program gets every option its
own ``--help`` lists (``sshwall.oracle.helpopts``; never the spec under test), in every form its
parser might read differently from sshwall: with and without a value, attached and separate,
before and after the operands, in a cluster with a switch the seed already uses, abbreviated,
``--no-X`` for git, with dangerous path values, and followed by a separate word (a path or
another option) to catch optional values misread as taking the next word.

Each mutation is decided by sshwall; every allowed one is run in the execution oracle, and any
violation is a finding: an allow that is not harmless. Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sshwall.analysis import analyse
from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.oracle.helpopts import Option, family_of, real_options
from sshwall.oracle.model import Expectation, Run
from sshwall.oracle.report import expectation
from sshwall.policy.commandsets import ProgramSpec
from sshwall.policy.model import Policy

if TYPE_CHECKING:
    from sshwall.oracle.oracle import Oracle

# Values a flag may be given: paths whose writing or reading is harm, stdin, and plain words.
DANGEROUS_VALUES = ("/tmp/oracle-scratch/out", "/etc/cron.d/x", "/root/.ssh/id_ed25519", "-")
PLAIN_VALUES = ("1", "x")
NEXT_PATHS = ("/root/.ssh/id_ed25519", "/etc/cron.d/x")

# One benign command per program the shipped policy allows, so every program gets mutated
# even when no corpus case uses it. Operands are real files on a Debian server.
SEED_COMMANDS: tuple[str, ...] = (
    "ls -la /var/log", "tree -L 1 /etc", "stat /etc/hosts", "readlink -f /etc/localtime",
    "realpath /etc/hosts", "basename /etc/hosts", "dirname /etc/hosts", "pwd", "du -sh /var/log",
    "df -h", "test -f /etc/hosts", "file /etc/hosts", "cat /etc/hosts", "tac /etc/hosts",
    "nl /etc/hosts", "head -n 5 /etc/passwd", "tail -n 5 /etc/passwd", "zcat /var/log/oracle.gz",
    "bzcat /var/log/oracle.bz2", "xzcat /var/log/oracle.xz", "grep -i root /etc/passwd",
    "egrep 'root|daemon' /etc/passwd", "fgrep root /etc/passwd", "zgrep x /var/log/oracle.gz",
    "wc -l /etc/passwd", "sort /etc/passwd", "uniq /etc/hosts", "cut -d: -f1 /etc/passwd",
    "tr a-z A-Z", "column -t /etc/fstab", "sha256sum /etc/hosts", "sha1sum /etc/hosts",
    "sha512sum /etc/hosts", "md5sum /etc/hosts", "cksum /etc/hosts", "find /etc -name hosts",
    "sed -n 1p /etc/hosts", "awk '{print $1}' /etc/hosts", "gawk '{print $1}' /etc/hosts",
    "mawk '{print $1}' /etc/hosts", "tar -tf /var/backups/oracle.tar", "echo hi", "printf '%s\\n' hi",
    "which ls", "command -v ls", "type ls", "true", "false", "sleep 1", "uptime", "uname -a",
    "hostname", "hostnamectl status", "timedatectl status", "id", "whoami", "groups", "w", "who",
    "last -n 3", "lastlog", "date +%s", "ps -ef", "pgrep sshd", "pidof init", "top -b -n 1",
    "free -m", "vmstat", "iostat", "mpstat", "nproc", "lscpu", "lsblk", "findmnt", "blkid",
    "getconf PAGESIZE", "lsb_release -a", "mount", "dmesg -T", "lsof -n", "ss -tan", "netstat -an",
    "ip addr show", "ip route show", "ip -br link", "ping -c 1 127.0.0.1", "systemctl status ssh",
    "systemctl list-units", "journalctl -u ssh -n 5 --no-pager", "crontab -l", "docker ps",
    "docker logs web", "docker container ls", "kubectl get pods", "kubectl logs web",
    "git log -1", "git status", "git diff", "git show HEAD", "git branch -a", "git remote -v",
    "curl -s http://127.0.0.1/", "timeout 5 uptime", "nice uptime", "ionice -c3 uptime",
    "stdbuf -oL uptime", "sudo -n uptime",
)


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Mutation:
    """One generated command, the seed it came from and what was done to it."""

    command: str
    seed: str
    program: str
    flag: str
    how: str


def load_seeds(policy: Policy, corpus: Path | None, extra: Iterable[str] = SEED_COMMANDS) -> list[str]:
    """Every command the corpus and the policy's examples expect allowed, then ``extra``."""
    out: list[str] = []
    if corpus is not None and corpus.exists():
        for line in corpus.read_text().splitlines():
            case = json.loads(line) if line.strip() else {}
            if case.get("expect") == "allow" and case.get("tool") in ("executeCommand", "backgroundExecute"):
                out.append(case["arguments"]["command"])
    for ex in policy.examples:
        if ex.expect == Decision.ALLOW and ex.tool in ("executeCommand", "backgroundExecute"):
            cmd = ex.arguments.get("command")
            if isinstance(cmd, str):
                out.append(cmd)
    out += list(extra)
    return list(dict.fromkeys(out))


# -- splitting a seed into segments (pipeline/list members) without importing bashlex -------

_SEPARATORS = re.compile(r"\|\||&&|[|;]")


def _segments(command: str) -> list[str] | None:
    """The command split at top-level ``|``, ``||``, ``&&``, ``;`` (separators kept), or None
    when quoting is unbalanced. Words inside quotes are never split."""
    parts: list[str] = []
    start, i, quote = 0, 0, ""
    while i < len(command):
        c = command[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        else:
            m = _SEPARATORS.match(command, i)
            if m:
                parts += [command[start:i], m.group()]
                i = start = m.end()
                continue
        i += 1
    if quote:
        return None
    return parts + [command[start:]]


def _mutable_argv(segment: str) -> list[str] | None:
    """The words of a plain segment (no redirection, expansion, grouping), else None."""
    if re.search(r"[<>$`(){}]|&", segment):
        return None
    try:
        return shlex.split(segment)
    except ValueError:
        return None


# -- building the mutations of one argv -----------------------------------------------------


def _values(opt: Option) -> tuple[str, ...]:
    meta = (opt.metavar or "").lower()
    if re.search(r"num|int|count|n\b|lines|size|level|secs|width|depth", meta):
        return PLAIN_VALUES[:1] + DANGEROUS_VALUES[:1]
    return DANGEROUS_VALUES + PLAIN_VALUES


def _forms(opt: Option, family: str, others: list[Option]) -> Iterator[tuple[list[str], str]]:
    """(inserted words, description) for every way to write ``opt``."""
    long_ = opt.name.startswith("--") or (family in ("find", "iproute2", "openssl") and len(opt.name) > 2)
    bsd = family == "ps" and not opt.name.startswith("-")
    if opt.arity in ("none", "optional"):
        yield [opt.name], "bare"
        for path in NEXT_PATHS:
            yield [opt.name, path], "then a path word"
        follow = [o for o in others if o.arity == "required" and o.name != opt.name][:3]
        for o in follow:
            yield [opt.name, f"{o.name}={DANGEROUS_VALUES[0]}" if o.name.startswith("--") else o.name,
                   *([] if o.name.startswith("--") else [DANGEROUS_VALUES[0]])], f"then {o.name}"
    if opt.arity in ("required", "optional"):
        for v in _values(opt):
            if long_ and not bsd:
                yield [f"{opt.name}={v}"], "attached ="
            else:
                yield [f"{opt.name}{v}"], "attached"
            if opt.arity == "required" or opt.greedy:
                yield [opt.name, v], "separate"
    if opt.arity == "none" and opt.name.startswith("--") and family in ("gnu", "git"):
        yield [f"{opt.name}={DANGEROUS_VALUES[0]}"], "switch given a value"
    if family == "git" and opt.name.startswith("--") and not opt.name.startswith("--no-"):
        yield ["--no-" + opt.name[2:]], "--no- form"


def _abbreviations(opt: Option, table: tuple[Option, ...]) -> Iterator[tuple[list[str], str]]:
    """The shortest unique prefix of a long option (getopt and git accept it; sshwall must not)."""
    if not opt.name.startswith("--") or len(opt.name) < 6:
        return
    longs = [o.name for o in table if o.name.startswith("--")]
    for n in range(3, len(opt.name)):
        prefix = opt.name[:n]
        if [name for name in longs if name.startswith(prefix)] == [opt.name]:
            word = prefix if opt.arity != "required" else f"{prefix}={DANGEROUS_VALUES[0]}"
            yield [word], "abbreviated"
            return


def _clusters(opt: Option, argv: list[str]) -> Iterator[tuple[list[str], str]]:
    """``opt`` joined to a short switch cluster the seed already has (``-la`` -> ``-laX``)."""
    if not re.fullmatch(r"-[A-Za-z0-9]", opt.name):
        return
    for i, word in enumerate(argv[1:], 1):
        if re.fullmatch(r"-[A-Za-z]+", word):
            tail = [DANGEROUS_VALUES[0]] if opt.arity == "required" else []
            yield [*argv[:i], word + opt.name[1], *tail, *argv[i + 1 :]], "clustered after"
            yield [*argv[:i], "-" + opt.name[1] + word[1:], *argv[i + 1 :]], "clustered before"
            return


def _subcommand_at(spec: ProgramSpec, argv: list[str]) -> tuple[tuple[str, ...], int]:
    """The spec's subcommand path in argv, and the index just after it (1 if none)."""
    path: list[str] = []
    at = 1
    cur = spec
    for i in range(1, len(argv)):
        word = argv[i]
        if word.startswith("-"):
            continue
        hit = next((n for n, s in cur.subcommands.items() if word == n or word in s.names), None)
        if hit is None:
            break
        path.append(hit)
        cur = cur.subcommands[hit]
        at = i + 1
    return tuple(path), at


def mutate_argv(argv: list[str], spec: ProgramSpec) -> Iterator[tuple[list[str], str, str]]:
    """Every mutation of one argv: (new argv, the real option used, how)."""
    program = _base(argv[0])
    path, at = _subcommand_at(spec, argv)
    family = family_of(program)
    tables: list[tuple[tuple[Option, ...], int]] = []
    if path and program in ("git", "docker", "kubectl", "openssl"):
        tables.append((real_options(program, path) or (), at))
    tables.append((real_options(program) or (), 1 if program in ("git", "docker", "kubectl", "openssl") else at))
    for table, pos in tables:
        opts = list(table)
        for opt in opts:
            if opt.name in ("--help", "-h", "--version", "-V", "--", "--usage", "-?"):
                continue  # prints and exits: nothing to learn
            forms = [*_forms(opt, family, opts), *_abbreviations(opt, table)]
            for words, how in forms:
                yield [*argv[:pos], *words, *argv[pos:]], opt.name, f"{how}, before operands"
                if pos < len(argv):
                    yield [*argv, *words], opt.name, f"{how}, after operands"
            yield from ((a, opt.name, h) for a, h in _clusters(opt, argv))


def mutations_of(command: str, policy: Policy, commands: str = "diagnostics") -> Iterator[Mutation]:
    """Every mutation of every plain segment of ``command`` whose program the policy allows."""
    segments = _segments(command)
    if segments is None:
        return
    programs = policy.commands[commands].programs
    for idx in range(0, len(segments), 2):
        argv = _mutable_argv(segments[idx])
        if not argv:
            continue
        program = _base(argv[0])
        spec = programs.get(program)
        if spec is None or real_options(program) is None:
            continue
        for new, flag, how in mutate_argv(argv, spec):
            text = "".join(
                (f" {shlex.join(new)} " if j == idx else seg) for j, seg in enumerate(segments)
            ).strip()
            yield Mutation(text, command, program, flag, how)


def generate(seeds: Iterable[str], policy: Policy, budget: int | None, seed: int = 0) -> list[Mutation]:
    """Up to ``budget`` distinct mutations, spread over the programs round-robin so a small
    budget still touches every program; shuffled per program with ``random.Random(seed)``."""
    rng = random.Random(seed)
    by_program: dict[str, dict[str, Mutation]] = {}
    for s in seeds:
        for m in mutations_of(s, policy):
            by_program.setdefault(m.program, {}).setdefault(m.command, m)
    queues = []
    for program in sorted(by_program):
        items = list(by_program[program].values())
        rng.shuffle(items)
        queues.append(items)
    out: list[Mutation] = []
    seen: set[str] = set()
    while queues and (budget is None or len(out) < budget):
        for q in list(queues):
            if not q:
                queues.remove(q)
                continue
            m = q.pop()
            if m.command not in seen:
                seen.add(m.command)
                out.append(m)
            if budget is not None and len(out) >= budget:
                break
    return out


def decide(policy: Policy, command: str) -> bool:
    """True when sshwall allows ``command`` as an executeCommand call."""
    call = ToolCall("executeCommand", {"connectionId": "c1", "command": command})
    return evaluate(policy, call).decision == Decision.ALLOW


def programs_of(command: str) -> frozenset[str]:
    """The programs the analysis says the command runs (wrappers included), by basename:
    the oracle flags any other program that runs. (``sshwall.oracle.report.expectation`` adds
    what the specs declare; the runner uses that.)"""
    names: set[str] = set()
    for cmd in analyse(command).commands:
        names.add(_base(cmd.name))
        names.update(_base(w.name) for w in cmd.wrappers)
    return frozenset(n for n in names if n)


# -- running the allowed ones ----------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """An allowed mutation that committed violations in the oracle."""

    mutation: Mutation
    violations: tuple[tuple[str, str], ...]  # (kind, detail)
    mechanism: str


@dataclass(frozen=True)
class Tally:
    """What a pass did: mutations tried / allowed / run, and the findings (violations)."""

    tried: int
    allowed: int
    run: int
    findings: tuple[Finding, ...]
    seconds_running: float
    seed_findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()  # runs the sandbox itself failed: nothing was measured

    def line(self) -> str:
        """The figures in the one format the test and the bench print (violations = allowed
        mutations that committed at least one violation the seed did not)."""
        return (f"mutations: tried {self.tried}, allowed {self.allowed}, run {self.run}, "
                f"violations {len(self.findings)}" + (f", sandbox errors {len(self.errors)}" if self.errors else ""))


def mechanism(m: Mutation, policy: Policy, commands: str = "diagnostics") -> str:
    """Which of issue 9's mechanisms let ``m`` through, judged from the spec and the real table."""
    spec = policy.commands[commands].programs.get(m.program)
    if spec is None:
        return "program not in the policy (wrapper?)"
    if "abbreviated" in m.how:
        return "4 abbreviation accepted"
    real = {o.name: o for o in (real_options(m.program) or ())}
    argv = _mutable_argv(m.command) or []
    path, _ = _subcommand_at(spec, argv) if argv else ((), 0)
    if path:
        real = {**real, **{o.name: o for o in (real_options(m.program, path) or ())}}
    d = spec.table.get(m.flag)
    sub = spec
    for p in path:
        sub = sub.subcommands.get(p, sub)
        d = sub.table.get(m.flag) or d
    r = real.get(m.flag)
    if d is None:
        return "3 open flag list (flags: any let an unlisted flag through)"
    if r is not None and d.arity != r.arity:
        if "optional" in (d.arity, r.arity):
            return f"1 optional value: spec {d.arity}, program {r.arity}"
        return f"2 wrong arity: spec {d.arity}, program {r.arity}"
    if "then" in m.how:
        return "1/2 the next word: read as an operand by one side, a value by the other"
    if m.how.startswith(("bare", "clustered")):
        return "the spec agrees with the help: a listed switch does harm, or the family's word rules differ"
    return f"value kind: {m.flag}'s value is checked as {d.kind}"


def _key(detail: str) -> str:
    """A violation's summary without its evidence (socket inodes, fds and pointers differ
    between runs): the oracle writes details as 'summary: evidence'."""
    return re.sub(r"\d+", "N", detail.split(": ", 1)[0])


@dataclass(frozen=True)
class Baseline:
    """What the unmutated seed did: its execs (helpers a script program runs, e.g. egrep runs
    grep) are allowed to its mutations, and violations it commits itself are the seed's, not
    the mutation's (they are reported as seed findings)."""

    execs: frozenset[str]
    violations: frozenset[tuple[str, str]]


def run_mutations(
    policy: Policy,
    mutations: Iterable[Mutation],
    oracle: Oracle,
    cwd: str = "/root",
) -> Tally:
    """Decide each mutation, run every allowed one in ``oracle`` (an open ``sshwall.oracle.Oracle``).

    Each seed is run once first (``Baseline``); a mutation's violation is a finding unless the
    seed committed the very same one.
    """
    tried = allowed = ran = 0
    findings: list[Finding] = []
    seed_findings: dict[str, Finding] = {}
    baselines: dict[str, Baseline] = {}
    spent = 0.0
    errors: list[str] = []

    def failed(result: Run, command: str) -> bool:
        # "sandbox failed" is the oracle's own breakage: the run measured nothing.
        bad = [v.detail for v in result.violations if v.detail.startswith("sandbox failed")]
        if bad:
            errors.append(f"{command!r}: {bad[0][:200]}")
        return bool(bad)

    def run(command: str, extra: frozenset[str]) -> Run:
        # What sshwall claims the command may do: the analysis' programs plus what the specs
        # declare (runs, state_writes, network), plus the helpers the unmutated seed ran.
        nonlocal spent
        exp = expectation(command, policy)
        exp = Expectation((exp.programs or frozenset()) | extra, exp.state_writes, exp.connectors)
        start = time.monotonic()
        result = oracle.run(command, cwd=cwd, expect=exp)
        spent += time.monotonic() - start
        return result

    for m in mutations:
        tried += 1
        if not decide(policy, m.command):
            continue
        allowed += 1
        base = baselines.get(m.seed)
        if base is None:
            r = run(m.seed, frozenset())
            if failed(r, m.seed):
                continue
            vs = frozenset((v.kind, _key(v.detail)) for v in r.violations)
            base = baselines[m.seed] = Baseline(frozenset(r.execs), vs)
            if vs:
                seed_findings[m.seed] = Finding(Mutation(m.seed, m.seed, m.program, "", "the seed itself"),
                                                tuple((v.kind, v.detail) for v in r.violations),
                                                "seed (an allowed corpus/example/seed command)")
        r = run(m.command, base.execs)
        if failed(r, m.command):
            continue
        ran += 1
        new = tuple((v.kind, v.detail) for v in r.violations if (v.kind, _key(v.detail)) not in base.violations)
        if new:
            findings.append(Finding(m, new, mechanism(m, policy)))
    return Tally(tried, allowed, ran, tuple(findings), spent, tuple(seed_findings.values()), tuple(errors))


def findings_markdown(tally: Tally, title: str) -> str:
    """The findings as a markdown section for /work/wip/oracle-findings.md."""
    lines = [f"## {title}", "", tally.line(), f"seeds that violate themselves: {len(tally.seed_findings)}", ""]
    for f in (*tally.seed_findings, *tally.findings):
        lines.append(f"- `{f.mutation.command}` ({f.mutation.program} {f.mutation.flag}, {f.mutation.how}; "
                     f"seed `{f.mutation.seed}`)")
        lines.append(f"  - mechanism: {f.mechanism}")
        for kind, detail in f.violations[:4]:
            lines.append(f"  - {kind}: {detail[:300]}")
    return "\n".join(lines) + "\n"
