"""The shipped policy's flag tables against the real programs' own options on this machine.

A spec that lists a flag the program does not have, or gives a flag another arity than the
program's parser does, is a model of a different program: an option whose value is optional
(attached only) modelled as taking the next word lets that word escape every check, and the
reverse hides a value as an operand. So every flag of every spec (and subcommand spec) is
looked up in the options read from the program's ``--help`` / man page
(``sshwall.oracle.helpopts``) and must exist there with the same arity, or be in
``NEWER_FLAGS`` (flags of upstream releases newer than Debian 12's, with the version).

``SSHWALL_ORACLE_POLICY=/tmp/p.yaml`` checks another policy (e.g. merged spec fragments).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sshwall.oracle.helpopts import (
    Option,
    parse_gnu,
    parse_head,
    parse_iproute2,
    parse_kubectl,
    parse_lsof,
    parse_ps,
    real_options,
)
from sshwall.policy import load_policy
from sshwall.policy.base import Decision
from sshwall.policy.commandsets import ProgramSpec

POLICY_PATH = Path(os.environ.get("SSHWALL_ORACLE_POLICY", Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml"))
POLICY = load_policy(POLICY_PATH)
PROGRAMS: dict[str, ProgramSpec] = dict(POLICY.commands["diagnostics"].programs)

# Flags of releases newer than the one Debian 12 ships, by program: (release the spec was
# written against, flags). Each was run on this machine in the oracle next to a bogus flag of
# the same shape (14:45 UTC) and Debian 12's build rejected it the same way. The release is the
# one the spec fragment's comment cites as its source (the first release with the flag may be
# older than that, but is newer than Debian 12's).
_NEWER: dict[str, tuple[str, str]] = {
    "cksum": ("coreutils 9.11 (Debian 12: 9.1)", "--base64 --raw --binary --text"),
    "column": ("util-linux master (Debian 12: 2.38.1)", ("-C -K --table-header-as-columns -m --table-maxout "
               "--table-minout --input-separator -S --use-spaces --color --wrap-separator --table-column")),
    "curl": ("curl 8.x (Debian 12: 7.88.1)", "--trace-config --variable --ipfs-gateway --ech"),
    "cut": ("coreutils 9.11 (Debian 12: 9.1)", "-F --no-partial -w --whitespace-delimited -O"),
    "dmesg": ("util-linux master (Debian 12: 2.38.1)", "-K --kmsg-file"),
    "du": ("coreutils 9.11 (Debian 12: 9.1)", "-A"),
    "findmnt": ("util-linux master (Debian 12: 2.38.1)", "-I --dfi -Q --filter -H --list-columns --id --uniq-id --hyperlink"),
    "free": ("procps-ng 4.0.6 (Debian 12: 4.0.2)", "-L --line"),
    "gawk": ("gawk 5.4 (Debian 12: 5.2.1)", "-k --csv -Y -Z -G"),
    "git": ("git 2.5x (Debian 12: 2.39.5)", ("--no-lazy-fetch --attr-source --show-notes-by-default --dd "
            "--default-prefix --omit-empty --show-ref-format --merge-base")),
    "hostnamectl": ("systemd v257 (Debian 12: 252)", "-j --no-pager"),
    "journalctl": ("systemd v257 (Debian 12: 252)", ("--list-namespaces --truncate-newline -I --invocation "
                   "--list-invocations --image-policy --synchronize-on-exit -T --exclude-identifier")),
    "kubectl": ("kubectl newer than 1.32 klog flags", "--log-file --log-dir"),
    "last": ("util-linux master (Debian 12: 2.38.1)", "-T --tab-separated"),
    "lsblk": ("util-linux master (Debian 12: 2.38.1)", ("-H --list-columns -N --nvme -Q --filter -v --virtio "
              "--highlight --ct --ct-filter --properties-by --hyperlink")),
    "lscpu": ("util-linux master (Debian 12: 2.38.1)", "-r --raw --hierarchic -H --list-columns"),
    "mawk": ("mawk 20260129 (Debian 12: 1.3.4 20200120)", "--version --dump --usage --help --exec"),
    "mpstat": ("sysstat 12.7 (Debian 12: 12.6.1)", "-H --help"),
    "iostat": ("sysstat 12.7 (Debian 12: 12.6.1)", "--help"),
    "pgrep": ("procps-ng 4.0.6 (Debian 12: 4.0.2)", "-H --require-handler -p -Q --shell-quote --quiet --env -m --mrelease"),
    "ps": ("procps-ng 4.0.6 (Debian 12: 4.0.2)", "-D --date-format --delimiter --signames"),
    "realpath": ("coreutils 9.11 (Debian 12: 9.1)", "-E"),
    "ss": ("iproute2 6.19 (Debian 12: 6.1)", "-B --bound-inactive -Q --no-queues --bpf-maps --bpf-map-id"),
    "systemctl": ("systemd v257 (Debian 12: 252)", ("--image-policy --kill-value --kernel-cmdline -C --capsule "
                  "--drop-in --when --stdin")),
    "tail": ("coreutils 9.11 (Debian 12: 9.1)", "--debug"),
    "tar": ("GNU tar 1.35 (Debian 12: 1.34)", "--set-mtime-command"),
    "timedatectl": ("systemd v257 (Debian 12: 252)", "-P"),
    "timeout": ("coreutils 9.11 (Debian 12: 9.1)", "-p -f"),
    "top": ("procps-ng 4.0.6 (Debian 12: 4.0.2)", "-A --apply-defaults"),
    "tree": ("tree 2.3.1 (Debian 12: 2.1.0)", ("--acl --selinux --hyperlink --condense --compress --fromtabfile "
             "--opt-toggle --scheme --authority")),
    "uptime": ("procps-ng 4.0.6 (Debian 12: 4.0.2)", "-c --container -r --raw"),
    "w": ("procps-ng 4.0.6 (Debian 12: 4.0.2)", "--container -t --terminal -p --pids -c"),
    "wc": ("coreutils 9.11 (Debian 12: 9.1)", "--total"),
    "lsof": ("lsof 4.99 (Debian 12: 4.95; -m: 'not supported' in this build)", "-H -J -j -m"),
}
NEWER_FLAGS: dict[tuple[str, str], str] = {
    (program, flag): release for program, (release, flags) in _NEWER.items() for flag in flags.split()
}

# Options a program accepts that its help text does not print, with the evidence.
UNLISTED: dict[str, dict[str, str]] = {
    # POSIX obsolete "-NUM" line counts: `head -5 /etc/hosts`, `tail -3 /etc/hosts` work.
    "head": {"-NUM": "none"}, "tail": {"-NUM": "none"},
    # nice(1): "-n, --adjustment=N"; `nice -5 true` works (the help shows "-20" as an example only).
    "nice": {"-NUM": "none"},
    # cobra gives every command -h/--help; docker's and kubectl's help texts do not list them.
    "docker": {"-h": "none", "--help": "none"}, "kubectl": {"-h": "none", "--help": "none"},
    # Accepted by Debian 12's builds though their help does not list them (oracle probe next to a
    # bogus flag, 14:45 UTC: a different exit or message): hidden aliases and obsolete options.
    "date": {"--rfc-2822": "none", "--rfc-822": "none"},
    "grep": {"-y": "none", "-u": "none", "--unix-byte-offsets": "none", "-X": "required", "--fixed-regexp": "none"},
    "egrep": {"-y": "none", "-u": "none", "--unix-byte-offsets": "none", "-X": "required", "--fixed-regexp": "none"},
    "fgrep": {"-y": "none", "-u": "none", "--unix-byte-offsets": "none", "-X": "required", "--fixed-regexp": "none"},
    # zgrep hands grep's hidden -y through and takes a value for -X (its "-[ABCDXdefm]" case).
    "zgrep": {"-y": "none", "-X": "required"},
    "df": {"-m": "none", "-F": "required"},
    "journalctl": {"--this-boot": "none", "--new-id128": "none"},
    "curl": {"--next": "none", "-:": "none"},
    "column": {"--table-empty-lines": "none", "--columns": "required"},
    "dig": {"-i": "none"},
    # git 2.39 `git log -m/-c/--cc/--remerge-diff` and `git diff --cached/--staged/...` run (exit 0;
    # a bogus flag: 128) -- git-log(1) and git-diff(1) describe them outside the option list.
    "git": {"--since": "required", "--after": "required", "--until": "required", "--before": "required",
            "-m": "none", "-c": "none", "--cc": "none", "--remerge-diff": "none", "--cached": "none",
            "--staged": "none", "--combined-all-paths": "none", "--diff-merges": "required",
            "--no-index": "none", "--show-signature": "none", "--stdin": "none", "-NUM": "none"},
    # `sed -b -n 1p /etc/hosts` and `wc --debug /etc/hosts` run; sed's --zero-terminated alias.
    "sed": {"-b": "none", "--binary": "none", "--zero-terminated": "none"},
    "wc": {"--debug": "none"},
    # od.c getopt "A:aBbcDdeFfHhIij:LlN:OoS:st:vw::Xx" (coreutils 9.1): traditional formats.
    "od": {f"-{c}": "none" for c in "eFBDHILOX"},
    # uniq -NUM (obsolete -f NUM), strings -NUM (= -n NUM): both in their getopt strings.
    "uniq": {"-NUM": "none"}, "strings": {"-NUM": "none"},
    # net-tools netstat.c longopts: address families and --version (probe: exit differs from bogus).
    "netstat": {"-A": "required", "--protocol": "required", "-d": "none", "-h": "none", "--help": "none",
                "-V": "none", "--version": "none", "-2": "none", "--l2cap": "none", "-f": "none",
                "--rfcomm": "none", "-6": "none", "-4": "none", "--inet": "none", "--inet6": "none",
                "--ipx": "none", "--ax25": "none", "--netrom": "none", "--x25": "none", "--rose": "none",
                "--ddp": "none", "--bluetooth": "none"},
    "systemctl": {"--no-legend": "none"}, "ss": {"-v": "none"}, "pgrep": {"--pid": "required"},
    "sudo": {"-N": "none", "--no-update": "none", "-a": "required", "--auth-type": "required",
             "-c": "required", "--login-class": "required"},
    "find": {f"-newer{x}{y}": "required" for x in "amcB" for y in "amcBt"},
    "xzcat": {"--suffix": "required"},
    # diffutils 3.8 getopt "0123456789abBcC:dD:eEfF:hHiI:lL:nNpPqrsS:tTuU:vwW:x:X:yZ" and its long
    # options; probe: each gives "missing operand", a bogus flag "invalid option".
    "diff": {"-NUM": "none", "-f": "none", "--forward-ed": "none", "-L": "required", "-P": "none",
             "--binary": "none", "-H": "none", "--inhibit-hunk-merge": "none", "-h": "none",
             "--sdiff-merge-assist": "none", **{f"--{k}-{w}-format": "required" for k in ("old", "new", "changed", "unchanged") for w in ("group", "line") if (k, w) != ("changed", "line")}},
    # gawk -W (POSIX implementation options; `gawk -W version` works), as awk and nawk.
    "gawk": {"-W": "required"}, "awk": {"-W": "required"}, "nawk": {"-W": "required"},
    # cksum.c 9.1 "a:l:bctwz"; dmesg.c 2.38 "...iPpr..."; file 5.44 OPTSTRING "...E..."; host 9.18 "-i -D".
    "cksum": {"-b": "none", "-t": "none"}, "dmesg": {"-i": "none"}, "file": {"-E": "none"},
    "host": {"-i": "none", "-D": "none"},
    # `openssl x509 -help` / `crl -help`: " -*  Any supported digest" (opt.c OPT_MD): `openssl
    # x509 -noout -fingerprint -sha256 -in CERT` runs, `-sha257` is "Unknown option".
    "openssl": {f"-{d}": "none" for d in ("sha1", "sha256", "sha384", "sha512", "md5")},
    # sar(1) SYNOPSIS "-[0-9]+" (days ago): `sar -1` looks for yesterday's file, `-9x` is usage.
    "sar": {"-NUM": "none"},
    # ip.c: matches(opt, "-stats") and "-help" besides the OPTIONS the usage text lists.
    "ip": {"-stats": "none", "-help": "none"},
    # ps(1) of procps-ng 4.0.2 (the help text lists fewer): -Z, M, g, h, header aliases.
    "ps": {"-Z": "none", "M": "none", "g": "none", "h": "none", "-x": "none",
           **{f"--{n}": "none" for n in ("header", "heading", "headings", "no-header", "no-heading",
                                          "no-headings", "noheader", "noheaders", "noheading", "noheadings")}},
}

# Flags whose arity differs between Debian 12's release and the newest, where the spec follows
# the newest and the difference cannot leak (spec optional = attached only; Debian's switch then
# rejects an attached value): (program, flag) -> what changed.
NEWER_ARITY: dict[tuple[str, str], str] = {
    # util-linux 2.38.1: "-k, --kernel" switch; newer findmnt(8): "--kernel[=<method>]".
    ("findmnt", "--kernel"): "util-linux newer than 2.38 (--kernel[=method])",
}

# Programs whose options come from the shell itself or that take no options.
NO_OPTIONS = frozenset({"true", "false", "[", "test", "sleep"})


@dataclass(frozen=True)
class Mismatch:
    """One spec flag the real program disagrees with."""

    where: str
    flag: str
    spec: str
    real: str

    def __str__(self) -> str:
        return f"{self.where}: {self.flag} spec={self.spec} real={self.real}"


def _walk(name: str, spec: ProgramSpec, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], ProgramSpec]]:
    yield path, spec
    for sub, sub_spec in spec.subcommands.items():
        yield from _walk(name, sub_spec, path + (sub,))


def _lookup(program: str, family: str, flag: str, tables: list[tuple[Option, ...]]) -> list[Option]:
    """Every real option the spec's ``flag`` may mean, in any table that applies."""
    found: list[Option] = []
    for table in tables:
        by = {o.name: o for o in table}
        if flag in by:
            found.append(by[flag])
        elif family == "iproute2" and flag.startswith("-"):
            # iproute2 matches a word as a prefix of its own option names.
            found += [o for o in table if o.name.startswith(flag)][:1]
        elif family == "git" and flag.startswith("--no-") and "--" + flag[5:] in by:
            found.append(Option(flag, "none"))  # parse-options negates every long option
    extra = UNLISTED.get(program, {}).get(flag)
    if extra is not None:
        found.append(Option(flag, extra))  # type: ignore[arg-type]
    return found


def _tables(program: str, path: tuple[str, ...]) -> list[tuple[Option, ...]]:
    """The real option tables a spec at ``path`` applies to (subcommand's own, then global)."""
    top = real_options(program) or ()
    if not path or program not in ("git", "docker", "kubectl", "openssl"):
        return [top]
    own = real_options(program, path)
    # kubectl's global flags are cobra persistent flags (valid after the verb); docker's and
    # git's stand before the subcommand only.
    return [own or (), top] if program == "kubectl" else [own or ()]


def _compatible(spec_arity: str, real: Option) -> bool:
    if real.greedy:
        # The program takes the next word only when it parses as a value: reading it as
        # `required` hides a following flag (`journalctl -n --vacuum-size=1`); `optional` or
        # `none` are the safe readings: the next word is then checked as what it else would be.
        return spec_arity in ("optional", "none")
    return spec_arity == real.arity


def check_program(name: str, spec: ProgramSpec) -> tuple[int, list[Mismatch], list[str]]:
    """(flags checked, mismatches, notes) for one program spec and its subcommands."""
    checked, bad, notes = 0, [], []
    subs_of_top = list(_walk(name, spec))
    for path, sub in subs_of_top:
        family = "iproute2" if name == "ip" else sub.parse_family
        where = " ".join((name, *path))
        tables = _tables(name, path)
        for d in sub.table.order:
            if d.name in ("--",) or (not d.listed and not d.denied):
                continue
            checked += 1
            if (name, d.name) in NEWER_FLAGS:
                notes.append(f"{where} {d.name}: newer than Debian 12 ({NEWER_FLAGS[(name, d.name)]})")
                continue
            cands = _lookup(name, family, d.name, tables)
            if not cands and not path and spec.subcommands and spec.inherit_flags:
                # A program-level flag that only the subcommands define (kubectl -n, -o, -l).
                for sub_path, _ in subs_of_top[1:]:
                    cands += _lookup(name, family, d.name, [real_options(name, sub_path) or ()])
            if not cands:
                if d.denied:
                    # A denied flag the program does not have is refused either way (a denied
                    # grep option that zgrep rejects, a diff option git log lacks): a note, not a leak.
                    notes.append(f"{where} {d.name}: denied, and not an option of this version")
                    continue
                bad.append(Mismatch(where, d.name, d.arity, "no such option"))
                continue
            if d.denied:
                continue  # a denied flag denies whatever its arity; the parser only needs its name
            if (name, d.name) in NEWER_ARITY and d.arity == "optional":
                notes.append(f"{where} {d.name}: {NEWER_ARITY[(name, d.name)]}")
                continue
            wrong = [c for c in cands if not _compatible(d.arity, c)]
            if wrong:
                c = wrong[0]
                bad.append(Mismatch(where, d.name, d.arity, c.arity + (" (greedy: takes the next word when it parses)" if c.greedy else "")))
    return checked, bad, notes


def _installed(name: str) -> bool:
    return name in NO_OPTIONS or real_options(name) is not None


CHECKED = sorted(PROGRAMS)


@pytest.mark.parametrize("name", CHECKED)
def test_spec_flags_exist_with_the_programs_arity(name: str, oracle_report: list[str]) -> None:
    """Each flag a spec lists exists in the real program with the same arity."""
    if name in NO_OPTIONS:
        oracle_report.append(f"spec-vs-help {name}: no options")
        return
    if not _installed(name):
        oracle_report.append(f"spec-vs-help {name}: not installed here, skipped")
        pytest.skip(f"{name} is not installed on this machine")
    checked, bad, _notes = check_program(name, PROGRAMS[name])
    real = len(real_options(name) or ())
    oracle_report.append(f"spec-vs-help {name}: {checked} spec flags, {real} real options, {len(bad)} mismatches")
    assert not bad, "\n".join(str(b) for b in bad)


def _open_lists(name: str, spec: ProgramSpec, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Allowed specs with `flags: any` (a denied subcommand, e.g. `ip link set`, may stay open:
    whatever its flags, it is denied)."""
    if spec.decision != Decision.ALLOW:
        return
    if spec.table.open:
        yield " ".join((name, *path))
    for sub, sub_spec in spec.subcommands.items():
        yield from _open_lists(name, sub_spec, path + (sub,))


def test_no_open_flag_lists_in_shipped_policy() -> None:
    """SPLICE GATE: no `flags: any` in the shipped policy (issue 9).

    Fails until the rewritten program specs (/work/wip/files.yaml, system.yaml) are spliced
    into rules/readonly-ops.yaml; that is expected until then.
    """
    open_ = [where for name, spec in PROGRAMS.items() for where in _open_lists(name, spec)]
    assert not open_, f"{len(open_)} specs still have `flags: any`: {', '.join(open_)}"


# -- the help reader itself ----------------------------------------------------------------


def _arity(opts: tuple[Option, ...] | list[Option]) -> dict[str, str]:
    return {o.name: o.arity for o in opts}


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("-a, --all", {"-a": "none", "--all": "none"}),
        ("-w, --width=COLS", {"-w": "required", "--width": "required"}),
        ("--color[=WHEN]", {"--color": "optional"}),
        ("-I[FMT], --iso-8601[=FMT]", {"-I": "optional", "--iso-8601": "optional"}),
        ("-f, --follow[={name|descriptor}]", {"-f": "none", "--follow": "optional"}),
        ("-b --boot[=ID]", {"-b": "optional", "--boot": "optional"}),  # systemd: getopt "b::"
        ("-C <command>", {"-C": "required"}),
        ("-n, --namespace string", {"-n": "required", "--namespace": "required"}),
        ("-U<n>, --unified=<n>", {"-U": "required", "--unified": "required"}),
        ("-x, --proxy [protocol://]host[:port]", {"-x": "required", "--proxy": "required"}),
        ("-e script, --expression=script", {"-e": "required", "--expression": "required"}),
        ("-d, --delay =SECS [.TENTHS]", {"-d": "required", "--delay": "required"}),
        ("--[no-]mailmap", {"--mailmap": "none", "--no-mailmap": "none"}),
        ("--no-decorate, --decorate[=short|full]", {"--no-decorate": "none", "--decorate": "optional"}),
        ("-<number>, -n <number>", {"-NUM": "none", "-n": "required"}),
        ("-v var=value", {"-v": "required"}),
    ],
)
def test_parse_head(head: str, expected: dict[str, str]) -> None:
    assert _arity(parse_head(head)) == expected


def test_parse_gnu_formats() -> None:
    text = (
        "  -c  --format=FORMAT   use the specified FORMAT\n"
        "     --abstract-unix-socket <path> Connect via abstract Unix domain socket\n"
        "     --case-sensitive[=BOOL] Force case sensitive\n"
        "  -q, --quiet           never print headers\n"
        "                          -x continuation lines are not heads\n"
    )
    assert _arity(parse_gnu(text)) == {
        "-c": "required", "--format": "required", "--abstract-unix-socket": "required",
        "--case-sensitive": "optional", "-q": "none", "--quiet": "none",
    }


def test_parse_special_formats() -> None:
    ps = " -p, p, --pid <PID>   process id\n  x                   processes without tty\n"
    assert _arity(parse_ps(ps)) == {"-p": "required", "p": "required", "--pid": "required", "x": "none"}
    ip = "OPTIONS := { -V[ersion] | -f[amily] { inet | inet6 } | -b[atch] [filename] | -n[etns] name }"
    assert _arity(parse_iproute2(ip)) == {"-Version": "none", "-family": "required", "-batch": "required", "-netns": "required"}
    kube = "    -A, --all-namespaces=false:\n\tx\n    --chunk-size=500:\n"
    assert _arity(parse_kubectl(kube)) == {"-A": "none", "--all-namespaces": "none", "--chunk-size": "required"}
    lsof = " usage: [-?ab] [+|-c c] [-F [f]] [-p s]\nDefaults"
    assert _arity(parse_lsof(lsof)) == {"-?": "none", "-a": "none", "-b": "none", "+c": "required",
                                        "-c": "required", "-F": "optional", "-p": "required"}


def test_reads_this_machines_programs() -> None:
    """A few options whose arity is the point of issue 9, read from the installed programs."""
    date = real_options("date")
    if date is None:
        pytest.skip("coreutils missing")
    assert _arity(date)["-I"] == "optional" and _arity(date)["--date"] == "required"
    grep = _arity(real_options("grep") or ())
    assert grep["--color"] == "optional" and grep["-e"] == "required" and grep["-i"] == "none"
    jr = {o.name: o for o in real_options("journalctl") or ()}
    if jr:
        assert jr["-n"].arity == "optional" and jr["-n"].greedy and jr["-u"].arity == "required"
