"""Every ``FindingKind`` is produced from a realistic command through ``analyse``.

A finding is the analyser saying "I cannot vouch for this": the engine denies whatever the
policy says. Each test checks three things: the analysis is not ``ok``, the finding has the
expected kind, and its ``describe()`` text names the construct, so a person (or an agent) reading
the denial can tell what to change.
"""

from __future__ import annotations

import pytest

from sshwall.analysis import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_LENGTH,
    Analysis,
    Finding,
    FindingKind,
    analyse,
)


def _of(a: Analysis, kind: FindingKind) -> list[Finding]:
    return [f for f in a.findings if f.kind is kind]


def assert_finding(source: object, kind: FindingKind, *names: str, **caps: int) -> Analysis:
    """``source`` yields a ``kind`` finding whose description contains every one of ``names``."""
    a = analyse(source, **caps)  # type: ignore[arg-type]
    assert a.ok is False, f"{source!r} should not be ok"
    hits = _of(a, kind)
    assert hits, f"{source!r}: expected a {kind.value} finding, got {[f.kind.value for f in a.findings]}"
    text = " | ".join(f.describe() for f in hits)
    for name in names:
        assert name in text, f"{source!r}: {name!r} not named in {text!r}"
    return a


def nested_sh_c(levels: int, inner: str = "ls") -> str:
    """``sh -c "sh -c \\"...ls...\\""`` nested ``levels`` deep, quoted the way bashlex reads."""
    script = inner
    for _ in range(levels):
        escaped = script.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
        script = f'sh -c "{escaped}"'
    return script


# -- the finding model --------------------------------------------------------------------------


def test_describe_adds_the_offset_only_when_known() -> None:
    assert Finding(FindingKind.EMPTY, "command is empty").describe() == "command is empty"
    assert Finding(FindingKind.CONTROL_CHAR, "control character", 7).describe() == "control character at offset 7"


def test_an_ok_analysis_has_no_findings() -> None:
    a = analyse("ls -la /var/log")
    assert a.ok is True
    assert a.findings == ()
    assert [w.text for w in a.commands[0].argv] == ["ls", "-la", "/var/log"]


# -- EMPTY --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["", " ", "\n", "  \t\n  ", "\t"])
def test_empty_and_whitespace_only(source: str) -> None:
    a = assert_finding(source, FindingKind.EMPTY, "empty")
    assert a.commands == ()


# -- TOO_LONG -----------------------------------------------------------------------------------


def test_over_the_default_length_cap() -> None:
    source = "ls " + "a" * DEFAULT_MAX_LENGTH
    a = assert_finding(source, FindingKind.TOO_LONG, str(DEFAULT_MAX_LENGTH), "bytes")
    assert a.commands == ()


def test_exactly_at_the_length_cap_is_not_too_long() -> None:
    source = "ls " + "a" * (DEFAULT_MAX_LENGTH - 3)
    assert len(source) == DEFAULT_MAX_LENGTH
    assert not _of(analyse(source), FindingKind.TOO_LONG)


def test_the_length_cap_counts_utf8_bytes_not_characters() -> None:
    source = "echo " + "é" * (DEFAULT_MAX_LENGTH // 2)  # fewer characters than the cap, more bytes
    assert len(source) < DEFAULT_MAX_LENGTH
    assert_finding(source, FindingKind.TOO_LONG, str(DEFAULT_MAX_LENGTH))


def test_a_custom_length_cap() -> None:
    source = "ls -la /var/log/syslog"
    assert_finding(source, FindingKind.TOO_LONG, "22 bytes", "cap of 16", max_length=16)
    assert analyse(source, max_length=len(source)).ok
    assert analyse(source).ok


def test_the_length_cap_applies_before_parsing() -> None:
    # Garbage that would be a parse error is refused for its size first: bashlex never sees it.
    a = analyse("'" * 100, max_length=10)
    assert [f.kind for f in a.findings] == [FindingKind.TOO_LONG]


# -- TOO_DEEP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["(" * 300 + "ls" + ")" * 300, "( " * 300 + "ls" + " )" * 300])
def test_three_hundred_nested_subshells(source: str) -> None:
    a = assert_finding(source, FindingKind.TOO_DEEP, "nesting", str(DEFAULT_MAX_DEPTH))
    assert a.commands == ()  # refused before bashlex could recurse


def test_three_hundred_nested_command_substitutions() -> None:
    source = "echo " + "$(echo " * 300 + "x" + ")" * 300
    assert_finding(source, FindingKind.TOO_DEEP, "nesting")


def test_three_hundred_nested_groups_and_ifs() -> None:
    assert_finding("{ " * 300 + "ls; " + "}; " * 300, FindingKind.TOO_DEEP, "nesting")
    assert_finding("if true; then " * 300 + "ls" + "; fi" * 300, FindingKind.TOO_DEEP, "nesting")


def test_deep_nesting_returns_instead_of_overflowing_the_stack() -> None:
    # Whatever the depth and whatever the caps say, analyse returns a finding: no RecursionError
    # (nor any other exception) escapes, even when bashlex itself would recurse too deep.
    for source in ("(" * 5000 + "ls" + ")" * 5000, "echo " + "$(" * 5000 + ")" * 5000):
        assert not analyse(source).ok
        assert not analyse(source, max_depth=100_000).ok


def test_nesting_within_the_cap_is_fine() -> None:
    a = analyse("( " * 10 + "ls" + " )" * 10)  # spaced: '((' would be an arithmetic command
    assert a.ok
    assert [c.name for c in a.commands] == ["ls"]
    assert "subshell" in a.constructs


def test_a_custom_depth_cap() -> None:
    source = "( ( (ls) ) )"
    assert_finding(source, FindingKind.TOO_DEEP, "cap of 2", max_depth=2)
    assert analyse(source, max_depth=3).ok


def test_nine_nested_sh_c_scripts_are_too_deep() -> None:
    assert analyse(nested_sh_c(8)).ok
    assert_finding(nested_sh_c(9), FindingKind.TOO_DEEP, "nested sh -c")


def test_too_many_nested_wrappers() -> None:
    assert analyse("nohup " * 8 + "ls").ok
    assert_finding("nohup " * 20 + "ls", FindingKind.TOO_DEEP, "wrappers")


def test_keywords_inside_nested_substitutions_do_not_reset_the_depth_count() -> None:
    # 40 nested $( ... ) is over the cap of 32 whatever words stand inside them.
    source = "echo " + "$(ls fi " * 40 + ")" * 40
    assert_finding(source, FindingKind.TOO_DEEP, "nesting")


@pytest.mark.parametrize("closer", ["}", "')'", "\\)", '"}"', "'fi'", "esac"])
def test_closers_inside_words_do_not_reset_the_bracket_depth(closer: str) -> None:
    # `}`, a quoted or escaped `)`, a word `fi`: none of them closes anything here.
    source = "echo " + f"$(echo {closer} " * 40 + ")" * 40
    assert_finding(source, FindingKind.TOO_DEEP, "nesting")


@pytest.mark.parametrize(
    "source",
    [
        "if true; then echo fi; " * 40 + "ls" + "; fi" * 40,
        "while true; do echo done; " * 40 + "ls" + "; done" * 40,
        "{ echo }; " * 40 + "ls; " + "}; " * 40,
        "{\n" * 40 + "ls\n" + "}\n" * 40,
        "if true; then ( " * 20 + "ls" + " ); fi" * 20,
    ],
)
def test_closing_words_do_not_reset_the_keyword_or_group_depth(source: str) -> None:
    assert_finding(source, FindingKind.TOO_DEEP, "nesting")


@pytest.mark.parametrize(
    "source",
    [
        "if true; then " * 30 + "ls" + "; fi" * 30,
        "echo {a,b} {c,d} " * 50,
        "echo ${x} " * 100,
        "ls; " * 2000,
        "awk '{ if (x) { print ((($1))) } }' f",
        "echo '((((((((((((((((((((((((((((((((((((((((('",
    ],
)
def test_wide_but_shallow_commands_are_not_too_deep(source: str) -> None:
    assert not _of(analyse(source), FindingKind.TOO_DEEP)


# -- CONTROL_CHAR -------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\r", "\x7f", "\x08", "\x0b", "\x0c", "\x1f"])
def test_control_characters(char: str) -> None:
    source = f"ls{char} -la"
    a = assert_finding(source, FindingKind.CONTROL_CHAR, repr(char), "offset 2")
    assert a.findings[0].position == 2


def test_ansi_escape_sequence_in_an_argument() -> None:
    assert_finding("echo \x1b[31mred", FindingKind.CONTROL_CHAR, repr("\x1b"))


@pytest.mark.parametrize("source", ["ls\t-la", "ls\n", "ls\npwd", "echo 'a\tb'", "ls\t\t/tmp\n\n"])
def test_tab_and_newline_are_not_control_findings(source: str) -> None:
    assert not _of(analyse(source), FindingKind.CONTROL_CHAR)
    assert analyse(source).ok


# -- PARSE_ERROR --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "echo 'unterminated",
        'echo "unterminated',
        "echo `unterminated",
        "echo $(ls",
        "[[ -f /etc/passwd ]]",
        "[[ $x == y ]]",
        "ls |",
        "ls &&",
        "(ls",
        "ls )",
        "for ((i = 0; i < 3; i++)); do ls; done",
        "a=(1 2 3)",
    ],
)
def test_parse_errors(source: str) -> None:
    a = assert_finding(source, FindingKind.PARSE_ERROR, "cannot parse")
    assert a.commands == ()


@pytest.mark.parametrize("value", [None, b"ls -la", 42, ["ls"]])
def test_non_string_input_is_a_parse_error(value: object) -> None:
    assert_finding(value, FindingKind.PARSE_ERROR, type(value).__name__, "not a string")


# -- UNSUPPORTED --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("echo $((1+2))", "arithmetic"),
        ("echo $[1+2]", "arithmetic"),
        ("case $1 in start) ls;; esac", "pattern"),
        ("case $1 in esac", "case"),
        ("select x in a b; do ls; done", "select"),
        ("coproc ls", "coproc"),
        ("time ls", "time"),
    ],
)
def test_constructs_bashlex_does_not_implement(source: str, named: str) -> None:
    assert_finding(source, FindingKind.UNSUPPORTED, "unsupported shell construct", named)


@pytest.mark.parametrize(
    "source",
    [
        "((ls))",
        "(( ls + TZ ))",
        "TZ=a[\\$\\(id\\)]; (( ls + TZ ))",
        "ls | ((x))",
        "if ((x)); then ls; fi",
        "echo $( ((ls)) )",
        "echo `((ls))`",
        "cat <( ((ls)) )",
        "sh -c '((ls))'",
        "{ ((ls)); }",
    ],
)
def test_arithmetic_command_is_unsupported(source: str) -> None:
    # bashlex reads `((...))` as two subshells; bash evaluates it as arithmetic, which expands
    # variable values as code (TZ='a[$(id)]' runs id).
    assert_finding(source, FindingKind.UNSUPPORTED, "arithmetic command")


def test_nested_subshells_with_a_space_are_still_subshells() -> None:
    # `( (ls) )` is two subshells in bash, unlike `((ls))`: it must keep working.
    a = analyse("( (ls) )")
    assert a.ok
    assert [c.name for c in a.commands] == ["ls"]


# -- UNKNOWN_NODE -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["! ;", "!;", "if ! ; then ls; fi"])
def test_a_node_kind_the_walker_does_not_know(source: str) -> None:
    # bash accepts `! ;` (a negated empty pipeline); bashlex gives the walker a bare 'operator'.
    assert_finding(source, FindingKind.UNKNOWN_NODE, "unknown shell construct", "operator")


# -- ANSI_C_QUOTE -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("echo $'\\x41'", "ANSI-C"),
        ("rm $'-rf' /", "ANSI-C"),
        ("ls > $'x'", "ANSI-C"),
        ("X=$'a' ls", "ANSI-C"),
        ("sudo $'rm' -rf /", "ANSI-C"),
        ('echo $"hello"', "locale"),
    ],
)
def test_ansi_c_and_locale_quoting(source: str, named: str) -> None:
    assert_finding(source, FindingKind.ANSI_C_QUOTE, named, "$")


@pytest.mark.parametrize(
    "source",
    ["echo '$'", 'echo "$"', 'echo "a$"', "echo a$", "echo \"$'x'\"", "echo \\$'x'", "echo '$'\"x\"", "echo $ x"],
)
def test_dollar_that_is_not_ansi_c_quoting(source: str) -> None:
    assert not _of(analyse(source), FindingKind.ANSI_C_QUOTE)


# -- HIDDEN_SUBSTITUTION ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "marker"),
    [
        ("echo ${x:-$(id)}", "$("),
        ("echo ${x:-`id`}", "`"),
        ("echo ${x;id}", ";"),
        ("echo ${x|id}", "|"),
        ("echo ${x&id}", "&"),
        ("echo ${x:-<(id)}", "<("),
        ("cat ${x:->/etc/passwd}", ">"),
        ('echo "${x:-$(id)}"', "$("),
        ("ls ${HOME:-$(rm -rf /)}", "$("),
    ],
)
def test_parameter_expansion_hiding_a_substitution_or_operator(source: str, marker: str) -> None:
    assert_finding(source, FindingKind.HIDDEN_SUBSTITUTION, "parameter expansion", f"'{marker}'")


@pytest.mark.parametrize("source", ["echo ${HOME}", "echo ${x:-default}", "echo ${#x}", "echo ${x//a/b}"])
def test_plain_parameter_expansions_are_not_hidden_substitutions(source: str) -> None:
    a = analyse(source)
    assert a.ok
    assert "parameter" in a.substitutions


# -- HEREDOC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["cat <<EOF\nhello\nEOF\n", "cat <<EOF\n$(id)\nEOF\n", "cat <<-EOF\n\thi\n\tEOF\n", "cat <<EOF\nx\nEOF"],
)
def test_unquoted_here_documents(source: str) -> None:
    a = assert_finding(source, FindingKind.HEREDOC, "here-document")
    assert a.commands[0].redirects[0].op in ("<<", "<<-")


def test_quoted_here_documents_are_refused_too() -> None:
    # bashlex cannot read a quoted delimiter at all; whatever the finding, it denies.
    assert not analyse("cat <<'EOF'\nhello\nEOF\n").ok


# -- DYNAMIC_COMMAND_NAME -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("$a", "an expansion"),
        ("${IFS}ls", "an expansion"),
        ("ls${IFS}-la", "an expansion"),
        ("$(echo rm) -rf /", "an expansion"),
        ("`echo rm` -rf /", "an expansion"),
        ('"$cmd" /etc/passwd', "an expansion"),
        ("/bin/r? -rf /", "a glob"),
        ("/bin/r[m] -rf /", "a glob"),
        ("/usr/bin/* /", "a glob"),
        ("{rm,-rf,/}", "a brace expansion"),
        ("/bin/{rm,ls} /", "a brace expansion"),
        ("~/bin/x", "a tilde"),
        ("~root/bin/x", "a tilde"),
    ],
)
def test_command_names_whose_program_is_unknown(source: str, what: str) -> None:
    name = source.split(" ")[0].strip('"')
    assert_finding(source, FindingKind.DYNAMIC_COMMAND_NAME, "command name", what, name)


@pytest.mark.parametrize(
    ("source", "name"),
    [("sudo /bin/r? -rf /", "/bin/r?"), ("timeout 5 $cmd", "$cmd"), ("env -i ~/bin/x", "~/bin/x"), ("sudo $opt ls", "$opt")],
)
def test_dynamic_names_behind_wrappers(source: str, name: str) -> None:
    assert_finding(source, FindingKind.DYNAMIC_COMMAND_NAME, repr(name))


def test_a_non_literal_sh_c_script() -> None:
    assert_finding('sh -c -- "$x"', FindingKind.DYNAMIC_COMMAND_NAME, "sh -c script", "not a literal")


def test_a_dynamic_name_inside_an_sh_c_script() -> None:
    assert_finding("sh -c '~/x'", FindingKind.DYNAMIC_COMMAND_NAME, "in sh -c", "a tilde")


@pytest.mark.parametrize("source", ["'r''m' -rf /", '"rm" -rf /', "\\rm -rf /", "'/bin/r?' x", "'{a,b}'"])
def test_quoted_command_names_are_literal(source: str) -> None:
    # Quotes make every character literal: the name is known, the policy can judge it.
    assert not _of(analyse(source), FindingKind.DYNAMIC_COMMAND_NAME)


# -- FUNCTION_DEFINITION ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("ls() { rm -rf /; }", "ls"),
        (":(){ :|:& };:", ":"),
        ("function f { ls; }", "f"),
        ("function f() { ls; }", "f"),
        ("f() ( ls )", "f"),
        ("cat() { ls; } > /dev/null", "cat"),
    ],
)
def test_function_definitions(source: str, name: str) -> None:
    a = assert_finding(source, FindingKind.FUNCTION_DEFINITION, f"function definition '{name}'")
    assert "function" in a.constructs


def test_a_function_body_is_still_walked() -> None:
    a = analyse("ls() { rm -rf /; }")
    assert [(c.name, c.context) for c in a.commands] == [("rm", ("function",))]


# -- WORD_MISMATCH ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "ours", "theirs"),
    [
        ("echo !'\\}'", "'!\\\\}'", "'!}'"),
        ("echo '\\'*}", "'\\\\*}'", '"\'*}"'),
        ("echo 'a'\"'\"'b'", '"a\'b"', None),
    ],
)
def test_sshwall_and_bashlex_disagree_on_a_word(source: str, ours: str, theirs: str | None) -> None:
    # bashlex mangles backslashes bash keeps; sshwall reads the word itself and refuses to pick.
    names = ["reads as", ours] + ([theirs] if theirs else [])
    assert_finding(source, FindingKind.WORD_MISMATCH, *names)


# -- WRAPPER_SYNTAX -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("sudo -Z ls", "-Z of sudo"),
        ("sudo --frobnicate ls", "--frobnicate of sudo"),
        ("timeout --bogus 5 ls", "--bogus of timeout"),
        ("env -x ls", "-x of env"),
        ("nice --10 ls", "--10 of nice"),
        ("xargs -e rm", "-e of xargs"),
        ("sh -c", "sh -c without a command string"),
        ("bash -lc", "bash -c without a command string"),
        ("sudo sh -c", "sh -c without a command string"),
        ('bash -c "$x"', "'$x' of bash is not a literal"),
        ("sudo -$u ls", "of sudo is not a literal"),
    ],
)
def test_wrapper_command_lines_that_cannot_be_split(source: str, named: str) -> None:
    assert_finding(source, FindingKind.WRAPPER_SYNTAX, named)


def test_a_wrapper_syntax_error_keeps_the_whole_argv() -> None:
    # The wrapper is not unwrapped on a syntax error: the policy sees `sudo` itself.
    a = analyse("sudo -Z rm -rf /")
    assert [w.text for w in a.commands[0].argv] == ["sudo", "-Z", "rm", "-rf", "/"]
    assert a.commands[0].wrappers == ()


# -- findings inside sh -c and substitutions are reported with their origin ---------------------


def test_findings_inside_sh_c_carry_a_prefix() -> None:
    a = analyse('sh -c "echo \\$\'x\'"')  # the script is: echo $'x'
    assert [f.kind for f in a.findings] == [FindingKind.ANSI_C_QUOTE]
    assert a.findings[0].describe().startswith("in sh -c: ")


def test_findings_inside_substitutions() -> None:
    assert_finding("echo $(ls() { id; })", FindingKind.FUNCTION_DEFINITION)
    assert_finding("echo $($x)", FindingKind.DYNAMIC_COMMAND_NAME, "$x")


# -- coverage of the enum itself ----------------------------------------------------------------

EXAMPLES: dict[FindingKind, str] = {
    FindingKind.EMPTY: "  ",
    FindingKind.TOO_LONG: "x" * (DEFAULT_MAX_LENGTH + 1),
    FindingKind.TOO_DEEP: "(" * 300 + ")" * 300,
    FindingKind.CONTROL_CHAR: "ls\x00",
    FindingKind.PARSE_ERROR: "echo 'x",
    FindingKind.UNSUPPORTED: "echo $((1))",
    FindingKind.UNKNOWN_NODE: "! ;",
    FindingKind.ANSI_C_QUOTE: "echo $'x'",
    FindingKind.HIDDEN_SUBSTITUTION: "echo ${x:-$(id)}",
    FindingKind.HEREDOC: "cat <<EOF\nx\nEOF\n",
    FindingKind.DYNAMIC_COMMAND_NAME: "$x",
    FindingKind.FUNCTION_DEFINITION: "f() { ls; }",
    FindingKind.WORD_MISMATCH: "echo !'\\}'",
    FindingKind.WRAPPER_SYNTAX: "sudo -Z ls",
    FindingKind.EVALUATED_WORD: "test -v 'a[$(id)]'",
    FindingKind.SHELL_CODE: "trap id EXIT",
    FindingKind.LOOP: "for f in $(ls); do cat $f; done",
}


@pytest.mark.parametrize("kind", list(FindingKind), ids=lambda k: k.value)
def test_every_finding_kind_has_an_example(kind: FindingKind) -> None:
    assert kind in EXAMPLES, f"add an example (and tests) for the new finding kind {kind.value}"
    a = analyse(EXAMPLES[kind])
    assert not a.ok
    assert kind in {f.kind for f in a.findings}


@pytest.mark.parametrize("source", ['printf "%s\\n" x', 'echo "a\\b"', 'echo "tab\\there"'])
def test_backslashes_bashlex_drops_inside_double_quotes_are_read_as_bash_reads_them(source: str) -> None:
    a = analyse(source)
    assert a.ok, a.findings
    assert "\\" in a.commands[0].argv[1].text
