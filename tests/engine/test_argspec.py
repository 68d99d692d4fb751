"""Reading an argv against a ProgramSpec the way the program's own option parser would."""

from __future__ import annotations

import pytest

from sshwall.analysis import Word, analyse
from sshwall.engine.argspec import NUMERIC, ParsedArgs, check_value, parse_args
from sshwall.engine.paths import escape
from sshwall.policy import ProgramSpec, ValueRule


def words(*texts: str) -> tuple[Word, ...]:
    return tuple(Word(t, escape(t)) for t in texts)


def parse(spec: ProgramSpec, *texts: str, name: str = "prog") -> ParsedArgs:
    return parse_args(name, spec, words(*texts))


def uses(res: ParsedArgs) -> list[tuple[str, str, bool]]:
    return [(u.kind, u.word.text, u.recursive) for u in res.uses]


SORT = ProgramSpec(
    operands="read",
    value_flags=("-k", "--key", "-t", "--field-separator"),
    deny_flags=("-o", "--output", "--compress-program", "--files0-from"),
)


# -- short flags ---------------------------------------------------------------------------------


def test_short_cluster_splits_into_flags() -> None:
    res = parse(SORT, "-rnu", "file")
    assert res.flags == ["-r", "-n", "-u"]
    assert res.problems == []
    assert uses(res) == [("read", "file", False)]


def test_denied_flag_inside_cluster() -> None:
    res = parse(SORT, "-rno", "out")
    assert "flag `-o` is not allowed" in res.problems


def test_value_attached_to_short_flag() -> None:
    res = parse(SORT, "-k2", "file")
    assert res.flags == ["-k"]
    assert res.problems == []
    assert uses(res) == [("read", "file", False)]  # '2' is the value, not an operand


def test_value_in_next_word() -> None:
    res = parse(SORT, "-k", "2", "file")
    assert res.flags == ["-k"]
    assert uses(res) == [("read", "file", False)]


def test_value_flag_ends_cluster() -> None:
    # '-nk2' is -n and -k with value '2'; '-kn2' is -k with value 'n2'
    assert parse(SORT, "-nk2", "f").flags == ["-n", "-k"]
    assert parse(SORT, "-kn2", "f").flags == ["-k"]


def test_value_looking_like_a_denied_flag_is_a_value() -> None:
    res = parse(SORT, "-t", "-o", "file")
    assert res.problems == []
    assert uses(res) == [("read", "file", False)]


def test_missing_value() -> None:
    assert "flag `-k` needs a value" in parse(SORT, "-k").problems


def test_flag_list_allows_only_listed_flags() -> None:
    spec = ProgramSpec(flags=("-a", "-b"), value_flags=("-v",))
    assert parse(spec, "-ab", "-v", "x").problems == []
    assert "flag `-c` is not in the allowed flags" in parse(spec, "-ac").problems


def test_values_imply_value_flags() -> None:
    spec = ProgramSpec(flags=(), values={"-n": ValueRule(max=5)})
    res = parse(spec, "-n", "3", "op")
    assert res.problems == []
    assert [u.what for u in res.uses] == ["value of `-n`", "operand"]


# -- long flags ----------------------------------------------------------------------------------


def test_long_flag_with_equals_value() -> None:
    res = parse(SORT, "--key=2", "file")
    assert res.flags == ["--key"]
    assert uses(res) == [("read", "file", False)]


def test_long_flag_value_in_next_word() -> None:
    res = parse(SORT, "--key", "2", "file")
    assert uses(res) == [("read", "file", False)]


def test_denied_long_flag() -> None:
    assert "flag `--output` is not allowed" in parse(SORT, "--output=x").problems
    assert "flag `--output` is not allowed" in parse(SORT, "--output", "x").problems


@pytest.mark.parametrize("abbrev", ["--out", "--outp", "--o", "--out=x", "--outpu=/tmp/x"])
def test_abbreviation_of_denied_long_flag_is_denied(abbrev: str) -> None:
    res = parse(SORT, abbrev, "file")
    assert "--output" in res.flags
    assert "flag `--output` is not allowed" in res.problems


def test_abbreviation_of_denied_flag_with_equals() -> None:
    assert "flag `--compress-program` is not allowed" in parse(SORT, "--comp=gzip").problems
    assert "flag `--files0-from` is not allowed" in parse(SORT, "--files0=list").problems


def test_abbreviation_of_an_allowed_flag_is_refused() -> None:
    # getopt would take `--ke` for `--key`, but the real program may know more options with
    # that prefix than the spec lists: a long option must be written whole.
    res = parse(SORT, "--ke", "2", "file")
    assert res.problems == ["flag `--ke` is an abbreviation (of `--key`): write the whole option name"]


def test_ambiguous_prefix_prefers_the_denied_flag() -> None:
    spec = ProgramSpec(flags=("--outline", "--output"), deny_flags=("--output",))
    assert "flag `--output` is not allowed" in parse(spec, "--out").problems
    assert "abbreviation" in parse(spec, "--outl").problems[0]
    assert parse(spec, "--outline").problems == []


def test_unknown_long_flag_in_list_is_refused() -> None:
    spec = ProgramSpec(flags=("--all",))
    assert "flag `--bogus` is not in the allowed flags" in parse(spec, "--bogus").problems


def test_aliases() -> None:
    spec = ProgramSpec(flags=("-n",), aliases={"--quiet": "-n", "--silent": "-n"}, require_flags=("-n",))
    assert parse(spec, "--quiet").problems == []
    assert parse(spec, "--silent").problems == []
    assert parse(spec, "--qui").problems != []  # no abbreviations, of aliases either
    assert "flag `-n` is required" in parse(spec).problems


# -- -NUM, end of options, long single-dash flags ------------------------------------------------

HEAD = ProgramSpec(operands="read", flags=("-n", "-q", NUMERIC), value_flags=("-n",))


def test_numeric_flag() -> None:
    res = parse(HEAD, "-20", "file")
    assert res.flags == [NUMERIC]
    assert res.problems == []
    assert uses(res) == [("read", "file", False)]


def test_numeric_flag_not_allowed_without_num() -> None:
    spec = ProgramSpec(flags=("-n",), value_flags=("-n",))
    assert parse(spec, "-20").problems  # read as -2 -0, neither allowed


def test_numeric_value_rule() -> None:
    spec = ProgramSpec(values={NUMERIC: ValueRule(max=100)})
    res = parse(spec, "-500")
    assert res.flags == [NUMERIC]
    (use,) = res.uses
    assert use.word.text == "500"
    assert check_value(use.rule, use.word, use.what) is not None  # type: ignore[arg-type]


def test_double_dash_ends_options() -> None:
    res = parse(SORT, "--", "-o", "--output")
    assert res.problems == []
    assert uses(res) == [("read", "-o", False), ("read", "--output", False)]


def test_single_dash_is_an_operand() -> None:
    assert uses(parse(SORT, "-")) == [("read", "-", False)]


FIND = ProgramSpec(
    long_single_dash=True,
    operands="metadata",
    flags=("-name", "-type", "-print"),
    value_flags=("-name", "-type"),
    deny_flags=("-exec", "-delete"),
)


def test_long_single_dash_flags() -> None:
    res = parse(FIND, "/var", "-name", "*.log", "-type", "f", "-print", name="find")
    assert res.problems == []
    assert res.flags == ["-name", "-type", "-print"]
    assert uses(res) == [("metadata", "/var", False)]


def test_long_single_dash_denied() -> None:
    assert "flag `-exec` is not allowed" in parse(FIND, ".", "-exec", "rm", "{}", ";", name="find").problems
    assert "flag `-delete` is not allowed" in parse(FIND, ".", "-delete", name="find").problems


def test_long_single_dash_value_hides_nothing() -> None:
    res = parse(FIND, ".", "-name", "-delete", name="find")
    assert res.problems == []


def test_expansion_in_flag_word_is_refused() -> None:
    argv = analyse("sort -$X file").commands[0].argv
    res = parse_args("sort", SORT, argv[1:])
    assert any("expansion or glob" in p for p in res.problems)


# -- old-style tar ------------------------------------------------------------------------------

TAR = ProgramSpec(
    old_style=True,
    require_flags=("-t|--list",),
    flags=("-t", "--list", "-z", "-v", "-f", "--file"),
    values={"-f": ValueRule(kind="read", deny_match=":"), "--file": ValueRule(kind="read", deny_match=":")},
)


def test_old_style_cluster() -> None:
    res = parse(TAR, "tzf", "a.tgz", name="tar")
    assert res.flags == ["-t", "-z", "-f"]
    assert res.problems == []
    assert [(u.kind, u.word.text, u.what) for u in res.uses] == [("read", "a.tgz", "value of `-f`")]


def test_old_style_values_take_later_words() -> None:
    res = parse(TAR, "tvf", "a.tar", "member", name="tar")
    assert [(u.kind, u.word.text) for u in res.uses] == [("read", "a.tar"), ("opaque", "member")]


def test_old_style_denied_letter() -> None:
    res = parse(TAR, "xzf", "a.tgz", name="tar")
    assert "flag `-x` is not in the allowed flags" in res.problems
    assert "flag `-t` or `--list` is required" in res.problems


def test_old_style_only_for_first_word() -> None:
    res = parse(TAR, "-tf", "a.tgz", "xvf", name="tar")
    assert res.problems == []
    assert [u.word.text for u in res.uses] == ["a.tgz", "xvf"]


def test_require_flags_alternatives() -> None:
    assert parse(TAR, "--list", "-f", "a.tar", name="tar").problems == []
    assert parse(TAR, "-t", "-f", "a.tar", name="tar").problems == []
    assert "flag `-t` or `--list` is required" in parse(TAR, "-zf", "a.tgz", name="tar").problems


def test_require_flags_each_entry() -> None:
    spec = ProgramSpec(flags=("-b", "-n", "-c"), value_flags=("-n",), require_flags=("-b", "-n|-c"))
    assert parse(spec, "-b", "-n", "1").problems == []
    assert parse(spec, "-bc").problems == []
    assert parse(spec, "-b") .problems == ["flag `-n` or `-c` is required"]
    assert parse(spec, "-c").problems == ["flag `-b` is required"]


# -- subcommands ---------------------------------------------------------------------------------

GIT = ProgramSpec(
    inherit_flags=False,
    flags=("-C", "--no-pager"),
    value_flags=("-C",),
    deny_flags=("-p", "--paginate", "-c"),
    subcommands={
        "log": ProgramSpec(deny_flags=("--output", "--ext-diff")),
        "status": ProgramSpec(names=("st",)),
        "remote": ProgramSpec(bare=True, flags=("-v",), subcommands={"get-url": ProgramSpec()}),
    },
)


def test_subcommand_path() -> None:
    res = parse(GIT, "--no-pager", "log", "--oneline", name="git")
    assert res.path == ["git", "log"]
    assert res.problems == []


def test_subcommand_other_name() -> None:
    res = parse(GIT, "st", name="git")
    assert res.path == ["git", "status"]
    assert res.problems == []


def test_unknown_subcommand() -> None:
    res = parse(GIT, "push", "--force", name="git")
    assert "subcommand `git push` is not allowed" in res.problems


def test_subcommand_required_unless_bare() -> None:
    assert "`git` needs a subcommand" in parse(GIT, name="git").problems
    assert "`git` needs a subcommand" in parse(GIT, "-C", "/srv", name="git").problems


def test_bare_subcommand() -> None:
    assert parse(GIT, "remote", name="git").problems == []
    assert parse(GIT, "remote", "-v", name="git").problems == []
    res = parse(GIT, "remote", "get-url", "origin", name="git")
    assert res.path == ["git", "remote", "get-url"]
    assert res.problems == []
    assert "subcommand `git remote add` is not allowed" in parse(GIT, "remote", "add", "x", "y", name="git").problems


def test_flag_before_subcommand_without_inheritance() -> None:
    res = parse(GIT, "-p", "log", name="git")
    assert "flag `-p` is not allowed" in res.problems
    res = parse(GIT, "--pag", "log", name="git")
    assert "flag `--paginate` is not allowed" in res.problems


def test_flag_after_subcommand_without_inheritance() -> None:
    # `git log -p` is a patch listing, not the pager flag
    res = parse(GIT, "log", "-p", name="git")
    assert res.path == ["git", "log"]
    assert res.problems == []


def test_subcommand_own_denied_flags() -> None:
    assert "flag `--output` is not allowed" in parse(GIT, "log", "--output=/tmp/x", name="git").problems
    assert "flag `--output` is not allowed" in parse(GIT, "log", "--out=/tmp/x", name="git").problems
    assert "flag `--ext-diff` is not allowed" in parse(GIT, "log", "--ext", name="git").problems


def test_git_value_flag_before_subcommand() -> None:
    res = parse(GIT, "-C", "/srv/repo", "status", name="git")
    assert res.path == ["git", "status"]
    assert res.problems == []


SYSTEMCTL = ProgramSpec(
    deny_flags=("-H", "--host"),
    subcommands={"status": ProgramSpec(), "show": ProgramSpec(deny_flags=("--all",))},
)


def test_inherited_flags_apply_after_subcommand() -> None:
    assert "flag `-H` is not allowed" in parse(SYSTEMCTL, "status", "-H", "host", name="systemctl").problems
    assert "flag `--host` is not allowed" in parse(SYSTEMCTL, "status", "--ho=x", name="systemctl").problems
    assert "flag `--all` is not allowed" in parse(SYSTEMCTL, "show", "--all", name="systemctl").problems
    assert parse(SYSTEMCTL, "status", "--all", name="systemctl").problems == []


def test_expansion_as_subcommand_is_refused() -> None:
    argv = analyse("systemctl $CMD nginx").commands[0].argv
    res = parse_args("systemctl", SYSTEMCTL, argv[1:])
    assert any("subcommand word" in p for p in res.problems)


# -- operands ------------------------------------------------------------------------------------

GREP = ProgramSpec(
    operands=("pattern", "read"),
    first_operand_flags=("-e", "--regexp", "-f"),
    recursive_flags=("-r", "-R", "--recursive"),
    value_flags=("-e", "--regexp"),
    values={"-f": ValueRule(kind="read")},
)


def test_operand_kinds_by_position() -> None:
    res = parse(GREP, "needle", "a", "b", name="grep")
    assert uses(res) == [("pattern", "needle", False), ("read", "a", False), ("read", "b", False)]


@pytest.mark.parametrize("flag", [("-e", "needle"), ("--regexp=needle",), ("--regexp", "needle"), ("-eneedle",)])
def test_first_operand_flags_shift_kinds(flag: tuple[str, ...]) -> None:
    res = parse(GREP, *flag, "a", name="grep")
    assert uses(res) == [("read", "a", False)]


def test_first_operand_flag_with_read_value() -> None:
    res = parse(GREP, "-f", "patterns.txt", "a", name="grep")
    assert uses(res) == [("read", "patterns.txt", False), ("read", "a", False)]


@pytest.mark.parametrize("flag", ["-r", "-R", "--recursive", "-ri", "-ir"])
def test_recursive_flag_marks_reads(flag: str) -> None:
    res = parse(GREP, flag, "needle", "/home", name="grep")
    assert uses(res) == [("pattern", "needle", False), ("read", "/home", True)]


def test_recursive_flag_implies_working_folder() -> None:
    res = parse(GREP, "-r", "needle", name="grep")
    assert uses(res) == [("pattern", "needle", False), ("read", ".", True)]
    assert res.uses[-1].what == "implied operand `.`"


def test_no_implied_operand_without_recursion() -> None:
    assert uses(parse(GREP, "needle", name="grep")) == [("pattern", "needle", False)]


def test_abbreviated_recursive_flag_is_refused() -> None:
    res = parse(GREP, "--recur", "needle", "/home", name="grep")
    assert res.problems and "abbreviation" in res.problems[0]


def test_spec_recursive() -> None:
    spec = ProgramSpec(operands="read", recursive=True)
    assert uses(parse(spec, "/etc")) == [("read", "/etc", True)]
    assert uses(parse(spec)) == [("read", ".", True)]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((), "needs at least 1 operand(s)"),
        (("a", "b", "c"), "takes at most 2 operand(s), got 3"),
    ],
)
def test_min_max_operands(args: tuple[str, ...], problem: str) -> None:
    spec = ProgramSpec(min_operands=1, max_operands=2)
    assert problem in parse(spec, *args).problems


def test_operand_count_within_bounds() -> None:
    spec = ProgramSpec(min_operands=1, max_operands=2)
    assert parse(spec, "a").problems == []
    assert parse(spec, "a", "b").problems == []
    assert "takes at most 0 operand(s), got 1" in parse(ProgramSpec(max_operands=0), "x").problems


def test_operand_rule_is_attached() -> None:
    rule = ValueRule(match="[0-9]+")
    res = parse(ProgramSpec(operand_rule=rule), "5")
    assert res.uses[0].rule is rule


# -- check_value ---------------------------------------------------------------------------------


def lit(text: str) -> Word:
    return Word(text, escape(text))


@pytest.mark.parametrize(
    ("rule", "value", "problem"),
    [
        (ValueRule(enum=("GET", "HEAD")), "GET", None),
        (ValueRule(enum=("GET", "HEAD")), "POST", "`POST` is not one of GET, HEAD"),
        (ValueRule(enum=("GET", "HEAD")), "get", "`get` is not one of GET, HEAD"),
        (ValueRule(min=1, max=10), "5", None),
        (ValueRule(min=1, max=10), "1", None),
        (ValueRule(min=1, max=10), "10", None),
        (ValueRule(min=1, max=10), "0", "`0` is below the minimum 1"),
        (ValueRule(min=1, max=10), "11", "`11` is above the maximum 10"),
        (ValueRule(min=1, max=10), "10.5", "`10.5` is above the maximum 10"),
        (ValueRule(min=0.2), "0.1", "`0.1` is below the minimum 0.2"),
        (ValueRule(max=10), "abc", "`abc` is not a number"),
        (ValueRule(max=10), "nan", "`nan` is not a number"),
        (ValueRule(max=10), "inf", "`inf` is above the maximum 10"),
        (ValueRule(max=10), "", "`` is not a number"),
        (ValueRule(match=r"\+.*"), "+%F", None),
        (ValueRule(match=r"\+.*"), "x+%F", "does not match"),
        (ValueRule(match="[0-9]+"), "12a", "does not match"),  # the whole value must match
        (ValueRule(deny_match=":"), "a.tar", None),
        (ValueRule(deny_match=":"), "host:a.tar", "matches the denied pattern `:`"),
        (ValueRule(deny_match="^@"), "x@y", None),
        (ValueRule(deny_match="^@"), "@/etc/shadow", "matches the denied pattern"),
    ],
)
def test_check_value(rule: ValueRule, value: str, problem: str | None) -> None:
    got = check_value(rule, lit(value), "value of `-x`")
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got
        assert got.startswith("value of `-x`")


def test_unconstrained_rule_accepts_anything() -> None:
    dynamic = Word("$X", "$X", dynamic=True)
    assert check_value(ValueRule(), dynamic, "v") is None
    assert check_value(ValueRule(kind="read"), dynamic, "v") is None


@pytest.mark.parametrize(
    "word",
    [Word("$X", "$X", dynamic=True), Word("*", "*", glob=True), Word("{a,b}", "{a,b}", brace=True),
     Word("~", "~", tilde=True)],
    ids=["dynamic", "glob", "brace", "tilde"],
)
@pytest.mark.parametrize(
    "rule",
    [ValueRule(enum=("a",)), ValueRule(max=5), ValueRule(match=".*"), ValueRule(deny_match="x")],
    ids=["enum", "max", "match", "deny_match"],
)
def test_constrained_rule_refuses_non_literal(word: Word, rule: ValueRule) -> None:
    got = check_value(rule, word, "value")
    assert got is not None and "is not a literal value" in got
