"""`for NAME in WORD...` loops: unrolled over literal words, refused over anything else.

Structure (what the body becomes once per value), the refusals with their reasons, bash itself
as the oracle for word splitting of the substituted values, and whole decisions under the
shipped policy, in-process and through `sshwall check`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sshwall.analysis import Analysis, FindingKind, analyse
from sshwall.analysis.loops import MAX_LOOP_COMMANDS
from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.oracle import Oracle
from sshwall.policy import Policy, load_policy

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "rules" / "readonly-ops.yaml"
BASH = shutil.which("bash")


def ok(source: str) -> Analysis:
    a = analyse(source)
    assert a.ok, [f.describe() for f in a.findings]
    return a


def argvs(a: Analysis) -> list[list[str]]:
    return [[w.text for w in c.argv] for c in a.commands]


def refused(source: str, *needles: str) -> Analysis:
    a = analyse(source)
    loop = [f.describe() for f in a.findings if f.kind is FindingKind.LOOP]
    assert loop, (source, [f.describe() for f in a.findings])
    for needle in needles:
        assert any(needle in d for d in loop), (needle, loop)
    return a


# -- unrolling ----------------------------------------------------------------------------------


def test_the_body_is_checked_once_per_value_with_the_value_in_it() -> None:
    a = ok("for f in /var/log/syslog /var/log/auth.log; do tail -n 5 $f; done")
    assert argvs(a) == [["tail", "-n", "5", "/var/log/syslog"], ["tail", "-n", "5", "/var/log/auth.log"]]
    assert all(w.literal for c in a.commands for w in c.argv)
    assert a.constructs == {"for"}
    assert "parameter" not in a.substitutions  # every `$f` was replaced
    assert all(c.context == ("for",) for c in a.commands)


def test_braced_and_quoted_references_and_quoted_list_words() -> None:
    a = ok("for f in 'a b' \"c\"; do echo ${f} \"$f\" \"${f}.x\"; done")
    assert argvs(a) == [["echo", "a", "b", "a b", "a b.x"], ["echo", "c", "c", "c.x"]]


def test_an_unquoted_value_with_blanks_splits_into_words() -> None:
    a = ok("for f in 'a  b' ' c ' ''; do printf x $f; printf y x$f\"\"; done")
    assert argvs(a) == [
        ["printf", "x", "a", "b"], ["printf", "y", "xa", "b"],
        ["printf", "x", "c"], ["printf", "y", "x", "c", ""],
        ["printf", "x"], ["printf", "y", "x"],
    ]


def test_a_value_with_glob_characters_becomes_a_glob_word_unquoted_only() -> None:
    a = ok("for f in '/etc/*' '/tmp/{a,b}' '~'; do ls $f \"$f\"; done")
    glob, quoted = a.commands[0].argv[1:]
    assert glob.glob and glob.pattern == "/etc/*"
    assert quoted.literal and quoted.text == "/etc/*"
    # Braces and `~` in a value are plain characters: bash expands them before the variable.
    for cmd in a.commands[1:]:
        assert all(w.literal for w in cmd.argv), cmd.argv
    assert argvs(a)[1:] == [["ls", "/tmp/{a,b}", "/tmp/{a,b}"], ["ls", "~", "~"]]


def test_brace_expansion_in_the_list_gives_one_value_per_word() -> None:
    a = ok("for f in /var/log/{syslog,auth.log} x{1..3}; do cat $f; done")
    assert argvs(a) == [["cat", p] for p in ("/var/log/syslog", "/var/log/auth.log", "x1", "x2", "x3")]


def test_a_literal_program_name_from_a_value_is_that_program() -> None:
    assert argvs(ok("for p in uptime 'df -h'; do $p; done")) == [["uptime"], ["df", "-h"]]
    # Quoted, the value is one command name, blanks and all.
    assert argvs(ok("for p in 'df -h'; do \"$p\"; done")) == [["df -h"]]


def test_a_value_in_a_double_quoted_sh_c_script_is_part_of_the_script() -> None:
    a = ok("for f in 'x; id'; do sh -c \"echo $f\"; done")
    assert argvs(a) == [["echo", "x"], ["id"]]
    assert all("sh-c" in c.context for c in a.commands)


def test_single_quoted_references_are_not_substituted() -> None:
    a = ok("for f in a; do echo '$f'; sh -c 'echo $f'; done")
    assert argvs(a)[0] == ["echo", "$f"] and a.commands[0].argv[1].literal
    assert a.commands[1].argv[1].dynamic  # the inner shell's own $f: not the loop's
    assert "parameter" in a.substitutions


def test_identical_runs_of_the_body_are_kept_once() -> None:
    assert argvs(ok("for i in 1 2 3; do uptime; done")) == [["uptime"]]


def test_nested_loops_multiply_and_see_both_values() -> None:
    a = ok("for a in 1 2; do for b in x $a; do echo $a$b; done; done")
    assert argvs(a) == [["echo", "1x"], ["echo", "11"], ["echo", "2x"], ["echo", "22"]]
    assert all(c.context == ("for", "for") for c in a.commands)


def test_redirections_on_the_loop_apply_to_every_run_of_the_body() -> None:
    a = ok("for f in a b; do cat $f; done 2>/dev/null | head")
    assert [[(r.op, r.target if isinstance(r.target, int) else r.target.text) for r in c.redirects] for c in a.commands] == [
        [(">", "/dev/null")], [(">", "/dev/null")], [],
    ]


def test_redirection_targets_assignments_and_here_strings() -> None:
    a = ok("for f in 'a b'; do LC_ALL=$f cat <<< $f; done")
    cmd = a.commands[0]
    assert cmd.assignments[0][0] == "LC_ALL" and cmd.assignments[0][1].text == "a b"
    assert cmd.redirects[0].target.text == "a b"  # a here-string is neither split nor globbed
    a = ok("for f in /var/log/syslog; do cat < $f; done")
    assert a.commands[0].redirects[0].target.text == "/var/log/syslog"
    refused("for f in 'a b'; do cat < $f; done", "ambiguous redirect")


def test_break_and_continue_are_control_flow_not_programs() -> None:
    a = ok("for f in a b; do test -e $f && break; echo $f; continue 1; done")
    assert [c.name for c in a.commands] == ["test", "echo", "test", "echo"]
    # The loop's redirections are still opened: a `break` keeps them for the policy to check.
    a = ok("for f in a; do break; done > /tmp/x")
    assert [(c.argv, [r.target.text for r in c.redirects]) for c in a.commands] == [((), ["/tmp/x"])]
    # Anything else named break is a command like any other.
    assert [c.name for c in ok("for f in a; do break $f; done").commands] == ["break"]


def test_an_empty_word_list_runs_nothing_but_still_opens_the_redirections() -> None:
    assert ok("for f in; do id; done").commands == ()
    a = ok("for f in; do id; done > /tmp/x")
    assert [c.argv for c in a.commands] == [()] and a.commands[0].redirects[0].target.text == "/tmp/x"


def test_a_glob_list_word_is_any_name_the_glob_matches_quoted_only() -> None:
    a = ok('for f in /var/log/*.log; do tail -n 5 "$f" "$f.1"; done')
    word, suffixed = a.commands[0].argv[3:]
    assert word.glob and word.pattern == "/var/log/*.log" and not word.dynamic
    assert suffixed.glob and suffixed.pattern == "/var/log/*.log.1"
    refused("for f in /var/log/*.log; do tail $f; done", "unquoted `$f`", "glob `/var/log/*.log`", 'write "$f"')
    # As a command name the program is not known: a glob name is refused as any glob name is.
    a = analyse('for f in /usr/bin/*; do "$f"; done')
    assert FindingKind.DYNAMIC_COMMAND_NAME in {f.kind for f in a.findings}


def test_after_the_loop_the_variable_is_not_known() -> None:
    # bash keeps the last value, unless the loop broke early or ran in a subshell: unknown.
    a = ok("for f in a b; do echo $f; done; cat $f")
    assert a.commands[-1].argv[1].dynamic
    assert "parameter" in a.substitutions


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("for f in $(ls); do cat $f; done", "command substitution"),
        ("for f in `ls`; do cat $f; done", "command substitution"),
        ("for f in $x; do cat $f; done", "a variable"),
        ('for f in "$@"; do cat "$f"; done', "positional parameters"),
        ("for f in ${*}; do cat $f; done", "positional parameters"),
        ("for f in $1; do cat $f; done", "special parameter"),
        ("for f in <(ls); do cat $f; done", "process substitution"),
        ("for f; do cat $f; done", "without `in`"),
        ("for f in ~/x; do cat $f; done", "`~`"),
        ("for f in {~/a,b}; do cat $f; done", "`~`"),
    ],
)
def test_loops_over_anything_but_literal_words_are_refused(source: str, named: str) -> None:
    refused(source, named)


def test_c_style_for_and_select_are_refused_by_the_parser() -> None:
    assert {f.kind for f in analyse("for ((i=0; i<3; i++)); do ls; done").findings} == {FindingKind.PARSE_ERROR}
    a = analyse("select f in a b; do ls $f; done")
    assert any(f.kind is FindingKind.UNSUPPORTED and "select" in f.describe() for f in a.findings)


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("for PATH in /tmp; do ls; done", "`PATH`"),
        ("for IFS in x; do ls; done", "`IFS`"),
        ("for LANG in C; do ls; done", "upper-case"),
        ("for Pager in x; do ls; done", None),  # mixed case: not an environment name
        ("for http_proxy in x; do curl -s http://x; done", "environment"),
        ("for OPTIND in 1; do :; done", "upper-case"),
    ],
)
def test_loop_variable_names_that_change_bash_or_programs(source: str, named: str | None) -> None:
    if named is None:
        ok(source)
    else:
        refused(source, named)


@pytest.mark.parametrize(
    "body",
    ["f=x", "f+=x", "read f", "unset f", "export f", "readonly f", "declare f=1", "printf -v f x",
     "local f", "mapfile f", "getopts ab f", "export $g"],
)
def test_a_body_that_reassigns_the_loop_variable_is_refused(body: str) -> None:
    refused(f"for f in a b; do {body}; echo $f; done", "assigns, exports or unsets `f`")


def test_a_nested_loop_over_the_same_name_is_refused() -> None:
    refused("for f in a; do for f in b; do :; done; echo $f; done", "nested `for f`")


@pytest.mark.parametrize("ref", ["${f%.log}", "${#f}", "${f:-x}", "${f:=x}", "${f/a/b}", "${f[0]}", '"${f##*/}"'])
def test_operations_on_the_loop_variable_are_refused(ref: str) -> None:
    refused(f"for f in a.log; do echo {ref}; done", "operation to the loop variable `f`")
    refused(f"for f in a.log; do x={ref} ls; done", "operation to the loop variable `f`")


def test_a_backslash_in_an_unquoted_value_is_refused() -> None:
    refused("for f in 'a\\*'; do ls $f; done", "backslash")
    assert argvs(ok("for f in 'a\\*'; do ls \"$f\"; done")) == [["ls", "a\\*"]]


def test_a_split_inside_a_brace_expansion_is_refused() -> None:
    refused("for f in 'x y'; do echo {a,$f}; done", "brace expansion")
    assert argvs(ok("for f in 'x y'; do echo {a,\"$f\"}; done")) == [["echo", "{a,x y}"]]


def test_an_ifs_assignment_makes_splitting_unknown() -> None:
    refused("IFS=,; for f in 'a,b'; do ls $f; done", "IFS")
    ok("IFS=,; for f in 'a,b'; do ls \"$f\"; done")  # quoted: nothing to split


def test_the_unrolled_size_is_capped() -> None:
    values = " ".join(str(i) for i in range(MAX_LOOP_COMMANDS + 1))
    a = refused(f"for i in {values}; do uptime; done", "over the cap")
    assert a.commands == ()
    ok(f"for i in {' '.join(str(i) for i in range(MAX_LOOP_COMMANDS))}; do uptime; done")
    # Values times body commands, nested loops multiplied, the whole command string together.
    refused("for a in 1 2 3 4 5 6 7 8; do for b in " + " ".join("x" * 40) + "; do echo $a; done; done", "over the cap")
    big = "for a in " + " ".join(str(i) for i in range(100)) + "; do id; id; done"
    refused(big + "; " + big, "over the cap")


# -- bash is the oracle for splitting -----------------------------------------------------------

VALUE_CHARS = "ab *?[]{},~'\"$=:-\t\n"
TEMPLATES = ["$f", '"$f"', "x$f", '"$f"y', "${f}z", "'q'$f", '""$f""', "$f$f", '"$f"$f', "$f.$f", "-$f-"]


def _sq(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.text(st.sampled_from(VALUE_CHARS), max_size=6), min_size=1, max_size=3),
    body=st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3),
)
def test_substituted_words_are_the_words_bash_passes(tmp_path_factory: pytest.TempPathFactory, values: list[str], body: list[str]) -> None:
    script = f"for f in {' '.join(_sq(v) for v in values)}; do printf '%s\\0' START {' '.join(body)}; done"
    a = analyse(script)
    assume(a.ok)
    work = tmp_path_factory.mktemp("loop")  # empty: every glob matches nothing and stays as written
    assert BASH is not None
    run = subprocess.run([BASH, "--norc", "--noprofile", "-c", script], cwd=work, capture_output=True,
                         env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, timeout=10, check=True)
    runs: list[list[str]] = []
    for chunk in run.stdout.decode().split("START\0")[1:]:
        words = chunk.split("\0")[:-1]
        if words not in runs:
            runs.append(words)
    assert [[w.text for w in c.argv[3:]] for c in a.commands] == runs, script


# -- decisions under the shipped policy ---------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(SHIPPED)


@pytest.mark.parametrize(
    ("command", "expect", "reason"),
    [
        ("for f in /var/log/syslog /var/log/auth.log; do tail -n 5 $f; done", "allow", None),
        ("for f in /var/log/syslog /etc/shadow; do tail -n 5 $f; done", "deny", "/etc/shadow"),
        ("for f in /var/log/syslog 'x /etc/shadow'; do tail -n 5 $f; done", "deny", "/etc/shadow"),
        ("for f in '/var/log/app one.log'; do tail -n 5 \"$f\"; done", "allow", None),
        ("for f in '/var/log/app one.log'; do tail -n 5 $f; done", "deny", "`one.log`"),
        ("for u in nginx ssh; do systemctl status $u --no-pager; done", "allow", None),
        ("for p in uptime df; do $p; done", "allow", None),
        ("for h in a b; do $h; done", "deny", "program `a`"),
        ("for p in uptime 'rm -rf /'; do $p; done", "deny", "`rm`"),
        ("for f in $(ls); do cat $f; done", "deny", "command substitution"),
        ('for f in /var/log/*.log; do tail -n 5 "$f"; done', "allow", None),
        ("for f in /var/log/*.log; do tail -n 5 $f; done", "deny", "globs the pieces again"),
        ('for f in /etc/*; do cat "$f"; done', "deny", "protected path"),
        ('for f in *.log; do tail -n 5 "$f"; done', "deny", "protected path"),  # as `tail *.log`: any folder
        ("for f in a; do cat /var/log/$f; done > /tmp/out", "deny", "redirect `> /tmp/out`"),
        ("for f in /var/log/syslog; do break; done > /etc/passwd", "deny", "redirect `> /etc/passwd`"),
        ("for f in x; do echo $f; done; cat $f", "deny", "parameter expansion"),
        ("for PATH in /tmp; do ls; done", "deny", "`PATH`"),
        ("while true; do ls; done", "deny", "`while`"),
    ],
)
def test_decisions_with_the_shipped_policy(shipped: Policy, command: str, expect: str, reason: str | None) -> None:
    verdict = evaluate(shipped, ToolCall("executeCommand", {"connectionId": "c1", "command": command}))
    assert verdict.decision == Decision(expect), verdict.reasons
    if reason is not None:
        assert any(reason in r for r in verdict.reasons), verdict.reasons


def _sshwall() -> list[str]:
    exe = Path(sys.executable).parent / "sshwall"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "sshwall.cli"]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("for f in /var/log/syslog /var/log/auth.log; do tail -n 5 $f; done", 0),
        ("for f in /var/log/syslog /etc/shadow; do tail -n 5 $f; done", 1),
        ("for f in $(ls /var/log); do tail -n 5 $f; done", 1),
    ],
)
def test_sshwall_check_decides_loops(command: str, code: int) -> None:
    done = subprocess.run([*_sshwall(), "check", "--rules", str(SHIPPED), "--", command],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == code, (done.stdout, done.stderr)


# -- the execution oracle: allowed loops run for real do only what sshwall claims ---------------

ORACLE_CASES = [
    "for f in /var/log/syslog /var/log/auth.log; do tail -n 5 $f; done",
    'for f in /var/log/*.log; do tail -n 2 "$f"; done 2>/dev/null',
    "for p in uptime 'df -h'; do $p; done",
    "for u in nginx ssh; do systemctl status $u --no-pager; done",
    "for d in /etc /var; do for n in hostname os-release; do ls -l $d/$n; done; done",
    "for f in /etc/hostname; do test -e $f && break; echo $f; done",
]


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    from tests.oracle.oracle_support import oracle_or_skip

    yield from oracle_or_skip(timeout=8.0)


@pytest.mark.parametrize("command", ORACLE_CASES)
def test_allowed_loops_do_only_what_the_analysis_says(shipped: Policy, oracle: Oracle, command: str) -> None:
    from sshwall.oracle.report import expectation

    verdict = evaluate(shipped, ToolCall("executeCommand", {"connectionId": "c1", "command": command}))
    assert verdict.decision == Decision.ALLOW, verdict.reasons
    run = oracle.run(command, expect=expectation(command, shipped))
    assert run.violations == (), (run.violations, run.stderr[:300])
