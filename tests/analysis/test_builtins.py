"""Bash builtins that evaluate words: every context is proved real in bash, and refused.

A literal word is not harmless when a builtin evaluates it: ``test -v 'a[$(id)]'`` runs ``id``
although the shell never expanded the single-quoted word. Each dangerous case below is run in
the real bash (in a temp folder, minimal environment) with a payload that creates ``MARKER``:
the marker must appear (the context is real) and sshwall must report a finding. Each benign
case carries the same payload where it is *not* evaluated: the marker must not appear and the
analysis must be clean. ``docs/builtins.md`` is the table these cases come from.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sshwall.analysis import Analysis, FindingKind, analyse
from sshwall.analysis.lookup import runs_builtin

PAY = "$(touch MARKER)"
MINE = {FindingKind.EVALUATED_WORD, FindingKind.SHELL_CODE}
# Under sudo -s the payload's `$` is refused first, as a word the shell behind sudo re-reads.
MINE_OR_SUDO = (FindingKind.EVALUATED_WORD, FindingKind.SHELL_CODE, FindingKind.WRAPPER_SYNTAX)


@dataclass(frozen=True)
class Case:
    """A command (``PAY`` stands for the payload), the files it needs, the finding expected."""

    source: str
    kinds: frozenset[FindingKind] = frozenset(MINE)
    files: dict[str, str] = field(default_factory=dict)
    needs_so: bool = False
    needs_sudo: bool = False

    @property
    def command(self) -> str:
        return self.source.replace("PAY", PAY)


def C(source: str, *kinds: FindingKind, **kw: object) -> Case:
    return Case(source, frozenset(kinds) if kinds else frozenset(MINE), **kw)  # type: ignore[arg-type]


LINES = {"in.txt": "a\nb\nc\n"}
SCRIPT = {"s.sh": "touch MARKER\n"}

DANGEROUS: list[Case] = [
    # test / [ -v: the operand is a name, its subscript arithmetic
    C("test -v 'a[PAY]'"),
    C("[ -v 'a[PAY]' ]"),
    C("test ! -v 'a[PAY]'"),
    C("test -v 'a[PAY]' -a 1"),
    C("test 1 -o -v 'a[PAY]'"),
    C("command test -v 'a[PAY]'"),
    C("builtin test -v 'a[PAY]'"),
    C("command [ -v 'a[PAY]' ]"),
    C("x=-v; test \"$x\" 'a[PAY]'"),  # a quoted expansion can be -v
    C("f='-v a[$(>MARKER)]'; [ $f ]"),  # an unquoted one splits into -v NAME[...]
    C("f='-v a[$(>MARKER)]'; test 1 -a $f"),
    # printf -v
    C("printf -v 'a[PAY]' x"),
    C("printf -v'a[PAY]' x"),
    C("builtin printf -v 'a[PAY]' x"),
    C("printf -v PS4 '%s' 'PAY'; set -x; :"),
    # read
    C("read 'a[PAY]' < /dev/null"),
    C("read -r 'a[PAY]' < /dev/null"),
    C("read x 'a[PAY]' <<< 'x y'"),
    C("read -r PS4 <<< 'PAY'; set -x; :"),
    # declare family
    C("declare 'a[PAY]=1'"),
    C("typeset 'a[PAY]=1'"),
    C("declare -g 'a[PAY]=1'"),
    C("declare -x 'a[PAY]=1'"),
    C("declare -- 'a[PAY]=1'"),
    C("declare 'a[PAY]+=1'"),
    C("declare -a 'a=([PAY]=1)'"),
    C("declare -a 'a=(PAY)'"),
    C("declare -a a='(PAY)'"),
    C("declare -A 'A=([PAY]=1)'"),
    C("readonly -a 'a=([PAY]=1)'"),
    C("declare -i x='a[PAY]'"),
    C("declare -i x; x='a[PAY]'"),
    C("declare -i x; x+='a[PAY]'"),
    C("y='a[PAY]'; declare -i x=y"),
    C("declare -n r='a[PAY]'; echo $r"),
    C("declare -n r; r='a[PAY]'; echo $r"),
    C("declare -n r; for r in 'a[PAY]'; do echo $r; done"),
    C("export PS4='PAY'; set -x; :"),
    # unset (evaluates the subscript when the variable is set)
    C("a=1; unset 'a[PAY]'"),
    C("a=1; unset -v 'a[PAY]'"),
    # let: arithmetic, and names in it are evaluated as expressions
    C("let 'a[PAY]'"),
    C("let 'x=a[PAY]'"),
    C("y='a[PAY]'; let x=y"),
    C("y='a[PAY]'; let y"),
    # mapfile / readarray -C: a callback command
    C("mapfile -C 'touch MARKER' -c 1 arr < in.txt", files=LINES),
    C("readarray -C 'touch MARKER' -c 1 arr < in.txt", files=LINES),
    C("mapfile -tc1 -C'touch MARKER' arr < in.txt", files=LINES),
    # wait -p NAME
    C("sleep 0 & wait -n -p 'a[PAY]'"),
    C("sleep 0 & wait -p 'a[PAY]' $!"),
    C("sleep 0 & wait -np'a[PAY]'"),
    # parameter expansions that evaluate
    C("x='a[PAY]'; echo ${!x}"),
    C("x='a[PAY]'; echo ${!x:-d}"),
    C("i='b[PAY]'; a=1; echo ${a[i]}"),
    C("i='b[PAY]'; a=1; echo ${#a[i]}"),
    C("i='b[PAY]'; a=1; echo ${a[$i]}"),
    C("i='b[PAY]'; x=abc; echo ${x:i}"),
    C("i='b[PAY]'; x=abc; echo ${x:0:i}"),
    C("i='b[PAY]'; x=abc; echo ${x:(i)}"),
    C("i='b[PAY]'; echo ${@:i}"),
    C("i='b[PAY]'; echo ${x:-${a[i]}}"),
    C("x='PAY'; echo ${x@P}"),
    C("x='PAY'; echo \"${x@P}\""),
    # array element assignment: the subscript is arithmetic
    C("i='b[PAY]'; a[i]=1"),
    C("i='b[PAY]'; a[$i]=1"),
    # variables bash creates with the integer attribute: every value assigned is arithmetic
    C("OPTIND='a[PAY]'; :"),
    C("RANDOM='a[PAY]'"),
    C("SRANDOM='a[PAY]'"),
    C("HISTCMD='a[PAY]'"),
    C("for OPTIND in 'a[PAY]'; do :; done"),
    C("printf -v OPTIND '%s' 'a[PAY]'"),
    C("read RANDOM <<< 'a[PAY]'"),
    C("declare OPTIND='a[PAY]'"),
    C("export OPTIND='a[PAY]'"),
    # {varname}> redirections assign the descriptor to the variable (bashlex reads an argument)
    C("i='b[PAY]'; echo {a[i]}>/dev/null"),
    C("echo {fd}>/dev/null; test -n \"$fd\" && touch MARKER"),
    # command strings
    C("trap 'touch MARKER' EXIT"),
    C("trap -- 'touch MARKER' EXIT"),
    C("trap 'touch MARKER' 0"),
    C("trap 'touch MARKER' ERR; false"),
    C("trap 'touch MARKER' DEBUG; true"),
    C("jobs -x touch MARKER"),
    C("sleep 0 & jobs -x touch MARKER %1"),
    C("eval 'touch MARKER'"),
    C("command eval 'touch MARKER'"),
    C("builtin eval 'touch MARKER'"),
    C("source s.sh", files=SCRIPT),
    C(". s.sh", files=SCRIPT),
    C("compgen -C 'touch MARKER' x"),
    C("compgen -W 'PAY' x"),
    C("compgen -W '`touch MARKER`' x"),
    C("compgen -A function -W 'PAY' x"),
    C("enable -f ./evil.so x", needs_so=True),
    C("enable ./evil.so", needs_so=True),
    C("BASH_LOADABLES_PATH=. enable evil.so", needs_so=True),
    C("hash -p /usr/bin/touch xyz; xyz MARKER"),
    C("shopt -s expand_aliases\nalias xyz='touch MARKER'\nxyz"),
    C("set -o history\nhistory -s 'touch MARKER'\nfc -s"),
    C("set -o history\necho hi\nfc -e 'touch MARKER'"),
    C("history -s x; history -w MARKER"),  # a file write
    C("PS4='PAY'; set -x; :"),
    C("PS4='PAY'; set -o xtrace; :"),
    C("set -euxo pipefail; PS4='PAY'; :"),
    C("set -k; sh -c 'test -n \"$X\" && touch MARKER' X=1"),
    # sudo -s hands the command to a shell: the builtin runs, and `$` and newlines are the shell's
    C("sudo -s test -v 'a[PAY]'", *MINE_OR_SUDO, needs_sudo=True),
    C("sudo -n -s printf -v 'a[PAY]' x", *MINE_OR_SUDO, needs_sudo=True),
    C("sudo -ns read 'a[PAY]' < /dev/null", *MINE_OR_SUDO, needs_sudo=True),
    C("sudo -s echo '/etc/host$1name' | grep -qx /etc/hostname && touch MARKER",
      FindingKind.WRAPPER_SYNTAX, needs_sudo=True),
    C("sudo -s echo 'MAR\nKER' | grep -qx MARKER && touch MARKER", FindingKind.WRAPPER_SYNTAX, needs_sudo=True),
    # [[ ]], (( )), $(( )), for (( )), $[ ]: bashlex does not parse them; refused as such
    C("[[ -v 'a[PAY]' ]]", FindingKind.PARSE_ERROR),
    C("[[ 'a[PAY]' -eq 1 ]]", FindingKind.PARSE_ERROR),
    C("[[ 1 -lt 'a[PAY]' ]]", FindingKind.PARSE_ERROR),
    C("x='a[PAY]'; [[ x -eq 1 ]]", FindingKind.PARSE_ERROR),
    C("x='a[PAY]'; [[ $x -ge 1 ]]", FindingKind.PARSE_ERROR),
    C("x='a[PAY]'; (( x ))", FindingKind.UNSUPPORTED),
    C("x='a[PAY]'; echo $((x))", FindingKind.UNSUPPORTED),
    C("x='a[PAY]'; echo $[x]", FindingKind.UNSUPPORTED),
    C("x='a[PAY]'; for ((i=x; 0; )); do :; done", FindingKind.PARSE_ERROR),
]

BENIGN: list[Case] = [
    # test/[ do not evaluate these
    C("test -n 'a[PAY]'"),
    C("test 'a[PAY]' -eq 1"),  # test/[ -eq: "integer expression expected", unlike [[ ]]
    C("[ 'a[PAY]' -ne 1 ]"),
    C("test -R 'a[PAY]'"),
    C("test -v HOME"),
    C("[ -v PATH ]"),
    C("x=-v; test \"$x\" HOME"),
    C("f=x; [ -e \"$f\" ]"),
    # the same words given to coreutils test and printf, not to the builtins
    C("/usr/bin/test -v 'a[PAY]'"),
    C("env test -v 'a[PAY]'"),
    C("timeout 5 test -v 'a[PAY]'"),
    C("exec test -v 'a[PAY]'"),
    C("xargs test -v 'a[PAY]' < /dev/null"),
    C("find . -maxdepth 0 -exec test -v 'a[PAY]' ';'"),
    C("/usr/bin/printf -v 'a[PAY]' x"),
    C("env printf -v 'a[PAY]' x"),
    C("sudo test -v 'a[PAY]'", needs_sudo=True),
    C("sudo -n -u root test -v 'a[PAY]'", needs_sudo=True),
    C("sudo -s echo 'a b' '*' '(x)' | grep -qvx 'a b [*] (x)' && touch MARKER", needs_sudo=True),
    # printf: only -v names a variable; %d, %*d and %(...)T take numbers, not arithmetic
    C("printf -v out '%s' 'a[PAY]'"),
    C("printf '%d' 'a[PAY]'"),
    C("printf '%*d' 'a[PAY]' 1"),
    C("printf '%(%F)T' 'a[PAY]'"),
    C("printf '%(PAY)T' 1"),
    C("printf -- -v 'a[PAY]'"),
    # read/mapfile options that take numbers or text
    C("read -p 'a[PAY]' x < /dev/null"),
    C("read -d 'a[PAY]' x < /dev/null"),
    C("read -n 'a[PAY]' x < /dev/null"),
    C("read -t 'a[PAY]' x < /dev/null"),
    C("mapfile -O 'a[PAY]' arr < in.txt", files=LINES),
    C("mapfile -n 'a[PAY]' arr < in.txt", files=LINES),
    C("mapfile -c 'a[PAY]' arr < in.txt", files=LINES),
    # values that are only values
    C("declare 'x=a[PAY]'"),
    C("declare -f 'a[PAY]'"),
    C("declare -F 'a[PAY]'"),
    C("unset -f 'a[PAY]'"),
    C("x='a[PAY]'; echo ${x}"),
    C("x='a[PAY]'; echo ${x:1:2} ${x:-d} ${x: -1} ${#x} ${x@Q}"),
    C("x='PAY'; echo ${x@E}"),
    C("a=1; echo ${a[0]} ${a[@]} ${!a[@]} ${!x*} ${#a[@]}"),
    # numeric arguments: bash reads them as numbers, never as arithmetic
    C("shift 'a[PAY]'"),
    C("exit 'a[PAY]'"),
    C("ulimit -n 'a[PAY]'"),
    C("umask 'a[PAY]'"),
    C("kill -s 'a[PAY]' $$"),
    C("kill -l 'a[PAY]'"),
    C("caller 'a[PAY]'"),
    C("history -d 'a[PAY]'"),
    C("dirs +'a[PAY]'"),
    C("cd 'a[PAY]'"),
    C("type 'a[PAY]'"),
    C("hash 'a[PAY]'"),
    C("command -v 'a[PAY]'"),
    C("echo 'a[PAY]'"),
    C("echo {fd} >/dev/null; test -n \"$fd\" && touch MARKER"),  # with a space: an argument
    C("SECONDS='a[PAY]'; echo $SECONDS"),  # not an integer variable
    C("LINENO='a[PAY]'"),
    C("OPTIND=1; RANDOM=42; :"),
    C("for i in 'a[PAY]'; do :; done"),
    # command-string builtins in their listing forms
    C("jobs -l"),
    C("trap"),
    C("trap -p"),
    C("trap -l"),
    C("trap - EXIT"),
    C("trap -p 'PAY'"),
    C("compgen -P 'PAY' -W a x"),
    C("compgen -X 'PAY' -W a x"),
    C("compgen -W 'start stop' s"),
    C("shopt"),
    C("shopt extglob"),
    C("shopt -s"),
    C("fc -l"),
    C("history"),
    C("alias"),
    C("enable"),
    C("enable -n test"),
    C("set -euo pipefail; :"),
    C("set -o"),
    C("set -- a b"),
]

# Refused although bash 5.2 does not run them: bash validates the name first, or the
# context needs an interactive shell. Fail closed: older and newer shells differ.
REFUSED_ANYWAY: list[Case] = [
    C("read -a 'a[PAY]' < /dev/null"),
    C("mapfile 'a[PAY]' < in.txt", files=LINES),
    C("readarray 'a[PAY]' < in.txt", files=LINES),
    C("getopts a 'a[PAY]'"),
    C("export 'a[PAY]=1'"),
    C("readonly 'a[PAY]=1'"),
    C("unset -n 'a[PAY]'"),
    C("declare -p 'a[PAY]'"),
    C("declare -n r='a[PAY]'"),
    C("local 'a[PAY]=1'"),
    C("complete -C 'touch MARKER' x"),
    C("complete -W 'PAY' x"),
    C("complete -F f x"),
    C("bind -x '\"\\C-x\": touch MARKER'"),
    C("test -v 'a[1]'"),
    C("trap '' INT"),
    C("mapfile -C 'touch MARKER' arr < in.txt", files=LINES),  # runs every 5000 lines only
]


def _bash() -> str:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    out = subprocess.run([bash, "-c", "echo $BASH_VERSION"], capture_output=True, text=True, check=True).stdout
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", out).groups())  # type: ignore[union-attr]
    if (major, minor) < (5, 2):
        pytest.skip(f"these contexts are bash 5.2's; this bash is {out.strip()}")
    return bash


def _sudo_works() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def evil_so(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A shared object whose constructor creates MARKER in the current folder (None without gcc)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    folder = tmp_path_factory.mktemp("so")
    src = folder / "evil.c"
    src.write_text(
        "#include <fcntl.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void pwn(void) "
        '{ int fd = open("MARKER", O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }\n'
    )
    out = folder / "evil.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def run_in_bash(case: Case, folder: Path, evil: Path | None) -> bool:
    """Run ``case`` in bash inside ``folder``; True when it created MARKER."""
    for name, text in case.files.items():
        (folder / name).write_text(text)
    if case.needs_sudo and not _sudo_works():
        pytest.skip("sudo is not installed or needs a password here")
    if case.needs_so:
        if evil is None:
            pytest.skip("no C compiler to build the shared object for enable -f")
        shutil.copy(evil, folder / "evil.so")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LC_ALL": "C"}
    subprocess.run(
        [_bash(), "-c", case.command], cwd=folder, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, timeout=20, check=False,
    )
    return (folder / "MARKER").exists()


def _mine(a: Analysis, kinds: frozenset[FindingKind]) -> list[str]:
    return [f.describe() for f in a.findings if f.kind in kinds]


@pytest.mark.parametrize("case", DANGEROUS, ids=lambda c: c.source)
def test_dangerous_context_runs_in_bash_and_is_refused(case: Case, tmp_path: Path, evil_so: Path | None) -> None:
    a = analyse(case.command)
    assert _mine(a, case.kinds), f"no {sorted(k.value for k in case.kinds)} finding: {a.findings}"
    assert run_in_bash(case, tmp_path, evil_so), "the payload did not run: this is not an evaluating context"


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.source)
def test_benign_context_does_not_run_and_is_clean(case: Case, tmp_path: Path, evil_so: Path | None) -> None:
    a = analyse(case.command)
    assert a.ok, [f.describe() for f in a.findings]
    assert not run_in_bash(case, tmp_path, evil_so), "the payload ran: this context evaluates the word"


@pytest.mark.parametrize("case", REFUSED_ANYWAY, ids=lambda c: c.source)
def test_contexts_refused_although_bash_5_2_does_not_run_them(case: Case, tmp_path: Path, evil_so: Path | None) -> None:
    assert _mine(analyse(case.command), case.kinds)
    assert not run_in_bash(case, tmp_path, evil_so)


# -- which runs: the builtin or a program from PATH (no bash needed) -------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "sudo -s test -v 'a[1]'",  # sudo -s passes the command to a shell with -c
        "sudo -i printf -v 'a[1]' x",
        "sudo -n -s test -v 'a[1]'",
        "sudo -ns test -v 'a[1]'",
        "sudo --shell test -v 'a[1]'",
        "sudo command test -v 'a[1]'",  # /usr/bin/command on RHEL is `builtin command "$@"`
        "find . -exec command test -v 'a[1]' ';'",
        "nohup builtin test -v 'a[1]'",
        # no external program of these names evaluates nothing: RHEL ships /usr/bin/read,
        # /usr/bin/getopts, /usr/bin/wait, /usr/bin/hash, ... as `builtin NAME "$@"` scripts
        "sudo read 'a[1]'",
        "/usr/bin/read 'a[1]'",
        "env getopts a 'a[1]'",
        "sudo hash -p /bin/sh ls",
        "sh -c \"test -v 'a[1]'\"",
        "bash -c \"printf -v 'a[1]' x\"",
        "sudo bash -c \"test -v 'a[1]'\"",
        "'[[' -v x ']]'",
    ],
)
def test_builtin_contexts_behind_wrappers_are_refused(source: str) -> None:
    assert _mine(analyse(source), frozenset(MINE)), analyse(source).findings


@pytest.mark.parametrize(
    "source",
    [
        "sudo test -v 'a[1]'",  # /usr/bin/test: "-v: unary operator expected"
        "sudo -u s test -v 'a[1]'",  # `s` is the value of -u, not -s
        "sudo -us test -v 'a[1]'",
        "env test -v 'a[1]'",
        "timeout 5 test -v 'a[1]'",
        "xargs test -v 'a[1]'",
        "nice [ -v 'a[1]' ]",
        "find . -exec test -v 'a[1]' ';'",
        "/usr/bin/test -v 'a[1]'",
        "/usr/bin/[ -v 'a[1]' ]",
        "command /usr/bin/test -v 'a[1]'",
        "sudo printf -v 'a[1]' x",
        "/usr/bin/printf -v 'a[1]' x",
    ],
)
def test_external_test_and_printf_are_left_to_the_policy(source: str) -> None:
    a = analyse(source)
    assert a.ok, [f.describe() for f in a.findings]


def test_runs_builtin() -> None:
    def cmd(source: str) -> bool:
        return runs_builtin(analyse(source).commands[-1])

    assert cmd("test -v x")
    assert cmd("command test -v x")
    assert cmd("sudo -s test -v x")
    assert not cmd("sudo test -v x")
    assert not cmd("/usr/bin/test -v x")
    assert not cmd("command env test -v x")
    assert cmd("env command test -v x")


# -- details of the checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("test -v 'a[$(id)]'", "`test -v` evaluates `a[$(id)]` as a variable name"),
        ("[ -v 'a[$(id)]' ]", "`[ -v` evaluates `a[$(id)]`"),
        ("printf -v 'a[$(id)]' x", "`printf -v` evaluates `a[$(id)]`"),
        ("read 'a[x]'", "`read` evaluates `a[x]`"),
        ("mapfile -C id arr", "`mapfile -C` runs its value as a command"),
        ("trap id EXIT", "`trap` runs `id` as a shell command"),
        ("eval id", "`eval` runs its arguments"),
        ("enable -f x.so x", "`enable -f` loads a shared object"),
        ("declare -n r=x", "`declare -n`"),
        ("declare -i x", "`declare -i`"),
        ("let x=1", "`let` evaluates `x=1` as arithmetic"),
        ("echo ${!x}", "indirection"),
        ("printf -v PATH %s /tmp", "assigns `PATH`"),
        ("set -x", "`set -x`"),
        ("set +o braceexpand", "`set +o braceexpand`"),
        ("shopt -s nullglob", "`shopt -s/-u`"),
        ("printf \"$f\" x", "cannot tell whether `$f` is an option"),
        ("unset -- \"$v\"", "`unset` evaluates `$v` as a variable name, and its value is not known"),
        ("declare \"$n=1\"", "its value is not known"),
        ("read -Z x", "option -Z is not known"),
        ("a[1]=x", "assigns an array element"),
        ("compgen -W '$(id)' x", "`compgen -W` expands"),
        ("fc -s", "`fc`"),
        ("history -r f", "history file"),
        ("alias ls='rm -rf /'", "defines an alias"),
        ("hash -p /bin/sh ls", "`hash -p`"),
        ("bind -x 'a:id'", "`bind`"),
    ],
)
def test_finding_names_the_builtin_and_the_construct(source: str, named: str) -> None:
    found = _mine(analyse(source), frozenset(MINE))
    assert found, analyse(source).findings
    assert any(named in text for text in found), found


@pytest.mark.parametrize(
    ("source", "sets"),
    [
        ("printf -v out '%s' x", ("out",)),
        ("read -r line", ("line",)),
        ("read -ra parts", ("parts",)),
        ("read a b c", ("a", "b", "c")),
        ("mapfile -t lines", ("lines",)),
        ("readarray lines", ("lines",)),
        ("getopts ab opt", ("opt",)),
        ("wait -n -p pid", ("pid",)),
        ("declare x=1 y", ("x",)),
        ("export A B=1", ("B",)),
        ("local -r x=1", ("x",)),
        ("test -v HOME", ()),
        ("unset x", ()),
        ("sudo printf -v out x", ()),
    ],
)
def test_names_a_builtin_assigns_are_reported_for_the_policy(source: str, sets: tuple[str, ...]) -> None:
    a = analyse(source)
    assert a.ok, a.findings
    assert a.commands[-1].sets == sets


@pytest.mark.parametrize(
    "source",
    [
        "test -f /etc/hostname",
        "[ -d /var/log ]",
        "[ -e /var/log/*.log ]",  # globs under / never expand to an operator
        "test -n \"$HOME\"",
        "printf '%s\\n' \"$x\"",
        "read -r x y < /etc/hostname",
        "declare -a arr",
        "declare -A map",
        "declare -r x=1",
        "export LC_ALL=C",
        "unset x y",
        "let 1+2 0x10 16#ff",
        "wait $!",
        "wait",
        "set -e",
        "set -o pipefail",
        "shopt -q extglob",
        "type -a ls",
        "command -v ls",
        "echo ${#x} ${x%.*} ${x/a/b} ${x,,} ${x^^}",
    ],
)
def test_benign_builtin_uses_are_clean(source: str) -> None:
    a = analyse(source)
    assert a.ok, [f.describe() for f in a.findings]


@pytest.mark.parametrize(
    "source",
    [
        # sshwall does not model test's argument counting: a quoted expansion (it could be -v)
        # followed by anything but a plain name is refused, even where bash would compare strings
        "[ \"$x\" = y ]",
        "test $x",
        "[ -e $f ]",
        "[ -e *.log ]",
        "[ -e {a,-v} x ]",
        "test -v \"$x\"",
        "test -v x[1]",
    ],
)
def test_test_words_whose_value_is_unknown_are_refused(source: str) -> None:
    assert _mine(analyse(source), frozenset(MINE))


@pytest.mark.parametrize(
    "source",
    [
        "sudo -s cat '/etc/sh$1adow'",  # the shell behind sudo -s expands $1 to nothing
        "sudo -i cat '/etc/sh$1adow'",
        "sudo --login cat '$HOME/.ssh/id_rsa'",
        "sudo -ns cat '/etc/sha\ndow'",  # backslash-newline: the shell joins the lines
        "sudo -s cat \"$f\"",
    ],
)
def test_words_the_shell_behind_sudo_s_reads_differently_are_refused(source: str) -> None:
    kinds = {f.kind for f in analyse(source).findings}
    assert FindingKind.WRAPPER_SYNTAX in kinds, kinds


@pytest.mark.parametrize("source", ["sudo -s cat /etc/hostname", "sudo -u s cat '$x'", "sudo -us cat '$x'"])
def test_sudo_without_a_shell_or_without_dollars_is_unwrapped(source: str) -> None:
    a = analyse(source)
    assert a.ok, a.findings
    assert a.commands[0].name == "cat"
