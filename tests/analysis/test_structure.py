"""Structure: operators, compound constructs, substitutions, redirects, assignments, the cache.

The engine never sees bashlex: whatever a command string does has to be visible in the
``Analysis``. Above all, every command that can run (inside a substitution, a redirect target,
an assignment, a compound) must appear in ``analysis.commands``.
"""

from __future__ import annotations

import pytest

from sshwall.analysis import Analysis, FindingKind, Redirect, SimpleCommand, Word, analyse


def ok(source: str) -> Analysis:
    a = analyse(source)
    assert a.ok, [f.describe() for f in a.findings]
    return a


def names(a: Analysis) -> list[str]:
    return [c.name for c in a.commands]


def by_name(a: Analysis, name: str) -> SimpleCommand:
    found = [c for c in a.commands if c.name == name]
    assert len(found) == 1, (name, [c.argv for c in a.commands])
    return found[0]


# -- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "operators", "programs"),
    [
        ("ls", set(), ["ls"]),
        ("ls | wc -l", {"pipe"}, ["ls", "wc"]),
        ("ls |& cat", {"pipe"}, ["ls", "cat"]),
        ("ls && id", {"and"}, ["ls", "id"]),
        ("ls || id", {"or"}, ["ls", "id"]),
        ("ls; id", {"sequence"}, ["ls", "id"]),
        ("ls;id;pwd", {"sequence"}, ["ls", "id", "pwd"]),
        ("ls\nid", {"sequence"}, ["ls", "id"]),
        ("ls &", {"background"}, ["ls"]),
        ("ls & id", {"background"}, ["ls", "id"]),
        ("a && b || c; d | e & f", {"and", "or", "sequence", "pipe", "background"}, ["a", "b", "c", "d", "e", "f"]),
    ],
)
def test_operators(source: str, operators: set[str], programs: list[str]) -> None:
    a = ok(source)
    assert a.operators == operators
    assert names(a) == programs


def test_trailing_newline_and_semicolon() -> None:
    assert ok("ls\n").operators <= {"sequence"}
    assert names(ok("ls;")) == ["ls"]


def test_background_context_marks_only_the_backgrounded_command() -> None:
    a = ok("sleep 1 & ls")
    assert by_name(a, "sleep").context == ("background",)
    assert by_name(a, "ls").context == ()


def test_pipeline_context() -> None:
    a = ok("ps aux | grep x | head -n 1")
    assert all(c.context == ("pipeline",) for c in a.commands)


# -- compound constructs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "construct", "programs"),
    [
        ("(ls; id)", "subshell", ["ls", "id"]),
        ("{ ls; id; }", "group", ["ls", "id"]),
        ("if true; then ls; elif false; then id; else pwd; fi", "if", ["true", "ls", "false", "id", "pwd"]),
        # An unrolled loop: the body once per value (identical runs kept once), see test_loops.py.
        ("for x in a b; do ls $x; done", "for", ["ls", "ls"]),
        ("for x in a b\ndo ls; done", "for", ["ls"]),
        ("while true; do ls; done", "while", ["true", "ls"]),
        ("until false; do ls; done", "until", ["false", "ls"]),
        ("! ls", "negation", ["ls"]),
        ("! (ls)", "negation", ["ls"]),
    ],
)
def test_constructs(source: str, construct: str, programs: list[str]) -> None:
    a = ok(source)
    assert construct in a.constructs
    assert names(a) == programs


@pytest.mark.parametrize("kind", ["if", "for", "while", "until"])
def test_commands_in_loops_and_conditionals_carry_the_construct_in_their_context(kind: str) -> None:
    source = {
        "if": "if ls; then id; fi",
        "for": "for x in 1; do id; done",
        "while": "while ls; do id; done",
        "until": "until ls; do id; done",
    }[kind]
    assert by_name(ok(source), "id").context == (kind,)


def test_nested_constructs() -> None:
    # "$f" quoted: an unquoted $f in [ ] could split into `-v a[$(id)]` (see test_builtins.py).
    a = ok('for f in a b; do if [ -e "$f" ]; then (cat $f | wc -l); fi; done')
    assert {"for", "if", "subshell"} <= a.constructs
    assert {"pipe", "sequence"} <= a.operators
    assert names(a) == ["[", "cat", "wc", "[", "cat"]  # unrolled; the same `wc` once
    assert [c.context for c in a.commands if c.name == "cat"] == [("for", "if", "pipeline")] * 2


def test_substitution_in_a_for_word_list_is_visited() -> None:
    a = analyse("for x in $(cat list); do echo $x; done")
    assert [f.kind for f in a.findings] == [FindingKind.LOOP]  # not unrolled: see test_loops.py
    assert "command" in a.substitutions
    assert by_name(a, "cat").context == ("substitution",)


def test_plain_commands_have_no_constructs() -> None:
    a = ok("ls -la /var/log")
    assert a.constructs == frozenset() and a.substitutions == frozenset() and a.operators == frozenset()


# -- substitutions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "inner"),
    [
        ("echo $(id)", "command", "id"),
        ("echo `id`", "command", "id"),
        ("echo $(echo $(whoami))", "command", "whoami"),
        ("diff <(ls a) <(ls b)", "process", "ls"),
        ("tee >(wc -l) < f", "process", "wc"),
        ('echo "$(id)"', "command", "id"),
        ('echo "`id`"', "command", "id"),
        ('echo "user: $(id -un)!"', "command", "id"),
        ("ls > $(mktemp)", "command", "mktemp"),
        ("ls 2> `mktemp`", "command", "mktemp"),
        ("cat < <(ls)", "process", "ls"),
        ("cat <<< $(id)", "command", "id"),
        ("X=$(id) ls", "command", "id"),
        ("X=`id`", "command", "id"),
        ('X="$(id)"', "command", "id"),
        ("sudo X=$(id) ls", "command", "id"),
        ("echo ~/$(id)", "command", "id"),
        ("ls $(id)/x", "command", "id"),
    ],
)
def test_substitutions_are_visited(source: str, kind: str, inner: str) -> None:
    a = ok(source)
    assert kind in a.substitutions
    found = [c for c in a.commands if c.name == inner]
    assert found, (source, [c.argv for c in a.commands])
    assert all("substitution" in c.context for c in found)


@pytest.mark.parametrize(
    "source",
    [
        "echo $(ls\nrm -rf /)",
        'echo "$(ls\nrm -rf /)"',
        "echo `ls\nrm -rf /`",
        "diff <(ls\nrm -rf /) x",
        "v=$(ls\nrm -rf /)",
        "ls > $(ls\nrm -rf /)",
    ],
)
def test_newline_separated_commands_inside_a_substitution_are_refused(source: str) -> None:
    # bashlex keeps only the first command of a newline-separated list inside a substitution;
    # the rest would run unseen, so the analyser refuses the construct.
    a = analyse(source)
    assert not a.ok
    assert any(f.kind is FindingKind.UNSUPPORTED and "newline" in f.describe() for f in a.findings), a.findings


def test_a_line_continuation_inside_a_substitution_is_refused_too() -> None:
    # Over-strict (bash joins the lines) but safe: the check looks for any newline in there.
    assert not analyse("echo $(ls \\\n -l)").ok


@pytest.mark.parametrize("source", ["(ls\nrm -rf /)", "{ ls\nrm -rf /; }", "if true\nthen ls\nrm -rf /\nfi"])
def test_newline_separated_commands_inside_compounds_are_visited(source: str) -> None:
    assert "rm" in names(ok(source))


def test_nested_substitution_context() -> None:
    a = ok("echo $(echo $(whoami))")
    assert by_name(a, "whoami").context == ("substitution", "substitution")


def test_substitution_inside_a_pipeline_keeps_both_contexts() -> None:
    a = ok("ls | grep $(id -un)")
    assert by_name(a, "id").context == ("pipeline", "substitution")


def test_words_holding_a_substitution_are_dynamic() -> None:
    a = ok("cat /home/$(whoami)/notes")
    arg = by_name(a, "cat").argv[1]
    assert arg.dynamic and not arg.literal
    assert arg.pattern == "/home/*/notes"  # the substitution's unknown value is a '*'


def test_parameter_expansion() -> None:
    a = ok("echo $HOME ${USER} $1 $@")
    assert a.substitutions == {"parameter"}
    assert all(w.dynamic for w in a.commands[0].argv[1:])


def test_quoted_dollars_are_not_substitutions() -> None:
    a = ok("echo '$(id)' '`id`' \\$HOME")
    assert a.substitutions == frozenset()
    assert names(a) == ["echo"]
    assert [w.text for w in a.commands[0].argv] == ["echo", "$(id)", "`id`", "$HOME"]


# -- redirects ----------------------------------------------------------------------------------


def _one_redirect(source: str) -> Redirect:
    a = ok(source)
    (cmd,) = a.commands
    (redirect,) = cmd.redirects
    return redirect


@pytest.mark.parametrize(
    ("source", "op", "fd", "target"),
    [
        ("ls > /dev/null", ">", None, "/dev/null"),
        ("ls >/dev/null", ">", None, "/dev/null"),
        ("ls 2>/dev/null", ">", 2, "/dev/null"),
        ("ls >> log", ">>", None, "log"),
        ("ls 1>>log", ">>", 1, "log"),
        ("ls >| f", ">|", None, "f"),
        ("ls &> f", "&>", None, "f"),
        ("ls &>> f", "&>>", None, "f"),
        ("ls >& f", ">&", None, "f"),
        ("cat < f", "<", None, "f"),
        ("cat 0< f", "<", 0, "f"),
        ("cat <> f", "<>", None, "f"),
        ("cat 3<> f", "<>", 3, "f"),
        ("cat <<< hello", "<<<", None, "hello"),
        ("cat <<< 'a b'", "<<<", None, "a b"),
        ("ls > '/tmp/a b'", ">", None, "/tmp/a b"),
    ],
)
def test_file_redirects(source: str, op: str, fd: int | None, target: str) -> None:
    r = _one_redirect(source)
    assert r.op == op
    assert r.fd == fd
    assert isinstance(r.target, Word)
    assert r.target.text == target


@pytest.mark.parametrize(
    ("source", "op", "fd", "target"),
    [
        ("ls 2>&1", ">&", 2, 1),
        ("ls 1>&2", ">&", 1, 2),
        ("ls >&2", ">&", None, 2),
        ("cat <&0", "<&", None, 0),
        ("ls 2>&-", ">&", 2, "-"),
        ("cat <&-", "<&", None, "-"),
    ],
)
def test_fd_duplication_and_closing(source: str, op: str, fd: int | None, target: int | str) -> None:
    r = _one_redirect(source)
    assert (r.op, r.fd, r.target) == (op, fd, target)
    assert type(r.target) is type(target)


def test_redirect_targets_keep_their_expansion_flags() -> None:
    assert _one_redirect("ls > ~/out").target.tilde  # type: ignore[union-attr]
    assert _one_redirect("ls > *.txt").target.glob  # type: ignore[union-attr]
    assert _one_redirect("ls > $f").target.dynamic  # type: ignore[union-attr]
    assert _one_redirect("ls > '*.txt'").target.literal  # type: ignore[union-attr]


def test_several_redirects_in_order() -> None:
    a = ok("cmd < in > out 2>&1")
    assert [(r.op, r.fd) for r in a.commands[0].redirects] == [("<", None), (">", None), (">&", 2)]


def test_redirect_before_the_command_name() -> None:
    a = ok("> /dev/null ls -l")
    assert [w.text for w in a.commands[0].argv] == ["ls", "-l"]
    assert a.commands[0].redirects[0].op == ">"


def test_redirect_only_command() -> None:
    a = ok("> /tmp/truncated")
    assert a.commands[0].argv == ()
    assert a.commands[0].redirects[0].target.text == "/tmp/truncated"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "source",
    ["{ ls; id; } > /tmp/f", "(ls; id) > /tmp/f", "if true; then ls; id; fi > /tmp/f", "while true; do ls; id; done > /tmp/f"],
)
def test_compound_redirects_reach_the_inner_commands(source: str) -> None:
    a = ok(source)
    for name in ("ls", "id"):
        targets = [r.target.text for r in by_name(a, name).redirects if isinstance(r.target, Word)]
        assert targets == ["/tmp/f"], (source, name)


def test_nested_compound_redirects_accumulate() -> None:
    a = ok("{ { ls 2>/dev/null; } > /tmp/a; } 2>&1")
    ops = [(r.op, r.fd) for r in by_name(a, "ls").redirects]
    assert sorted(ops, key=str) == sorted([(">&", 2), (">", None), (">", 2)], key=str)


def test_pipeline_into_a_group_with_redirect() -> None:
    a = ok("ls | { cat; } > /tmp/x")
    assert [r.op for r in by_name(a, "cat").redirects] == [">"]
    assert by_name(a, "ls").redirects == ()


# -- assignments --------------------------------------------------------------------------------


def test_assignment_only_commands() -> None:
    a = ok("X=1")
    (cmd,) = a.commands
    assert cmd.argv == () and cmd.name == ""
    assert [(n, v.text) for n, v in cmd.assignments] == [("X", "1")]


def test_several_assignments_without_a_command() -> None:
    a = ok("A=1 B='two words' C=")
    assert [(n, v.text) for n, v in a.commands[0].assignments] == [("A", "1"), ("B", "two words"), ("C", "")]


def test_assignments_before_a_command() -> None:
    a = ok("LC_ALL=C TZ=UTC date")
    cmd = a.commands[0]
    assert cmd.name == "date"
    assert [n for n, _ in cmd.assignments] == ["LC_ALL", "TZ"]


def test_append_assignment_name() -> None:
    assert ok("X+=1 ls").commands[0].assignments[0][0] == "X"


def test_assignment_values_are_scanned() -> None:
    cmd = ok("A=$HOME B='*' C=* D=~/x ls").commands[0]
    values = dict(cmd.assignments)
    assert values["A"].dynamic
    assert values["B"].literal and values["B"].text == "*"
    assert values["C"].glob
    assert values["D"].tilde


def test_an_assignment_after_the_command_name_is_an_argument() -> None:
    cmd = ok("ls X=1").commands[0]
    assert [w.text for w in cmd.argv] == ["ls", "X=1"]
    assert cmd.assignments == ()


def test_assignments_then_a_sequence() -> None:
    a = ok("X=1; ls")
    assert [(c.name, [n for n, _ in c.assignments]) for c in a.commands] == [("", ["X"]), ("ls", [])]


# -- comments -----------------------------------------------------------------------------------


def test_comments_hide_nothing_that_runs() -> None:
    a = ok("ls # ; rm -rf /")
    assert names(a) == ["ls"]
    a = ok("ls #x\nrm -rf /")
    assert names(a) == ["ls", "rm"]
    a = ok("ls a#b; id")
    assert names(a) == ["ls", "id"]


@pytest.mark.parametrize("source", ["ls;\\", "ls\n\\", "ls; \\", "ls\n\\ ", "ls && \\"])
def test_a_trailing_lone_backslash_is_refused(source: str) -> None:
    # bash runs a command named '\' there; bashlex dropped it without a word.
    a = analyse(source)
    assert not a.ok
    assert any("backslash" in f.describe() for f in a.findings), a.findings


@pytest.mark.parametrize("source", ["echo a\\\\", "echo 'a\\'", "ls \\\nx"])
def test_backslashes_that_are_not_a_lone_trailing_one(source: str) -> None:
    assert ok(source).commands


# -- source, cache, determinism -----------------------------------------------------------------


def test_the_source_is_kept() -> None:
    assert analyse("ls -l").source == "ls -l"


def test_the_cache_returns_equal_results_for_equal_input() -> None:
    text = "sudo -n journalctl -u nginx | grep -i error | tail -n 20"
    first = analyse(text)
    second = analyse("".join(list(text)))  # an equal string that is not the same object
    assert first == second
    assert hash(first.commands) == hash(second.commands)


def test_different_caps_are_cached_separately() -> None:
    text = "ls -la /var/log"
    assert analyse(text, max_length=5) != analyse(text)
    assert not analyse(text, max_length=5).ok
    assert analyse(text).ok


def test_analysis_is_immutable() -> None:
    a = analyse("ls")
    with pytest.raises(AttributeError):
        a.source = "rm"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.commands[0].argv = ()  # type: ignore[misc]
