"""``scan_word`` and ``expand_braces``: quote removal, live pattern characters, expansion flags.

Path rules depend on ``Word.pattern`` naming exactly the characters the shell still expands, so
these tests pin which characters are live (unquoted) and which are escaped (quoted).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sshwall.analysis import FindingKind, Word, analyse, expand_braces
from sshwall.analysis.words import MAX_BRACE_EXPANSION, expands_braces, scan_word
from sshwall.errors import WordError


def glob_matches(name: str, pattern: str) -> bool:
    """Shell-glob match where a backslash makes the next character literal (``fnmatch`` has no
    escapes)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), name, re.DOTALL) is not None


def W(text: str, pattern: str | None = None, **flags: bool) -> Word:
    return Word(text=text, pattern=text if pattern is None else pattern, **flags)


# -- quote removal ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("rm", "rm"),
        ("r''m", "rm"),
        ('"r"m', "rm"),
        ("\\rm", "rm"),
        ("'a b'", "a b"),
        ('"a b"', "a b"),
        ("a\\ b", "a b"),
        ("'a'\"b\"c", "abc"),
        ("''", ""),
        ('""', ""),
        ("'a\\b'", "a\\b"),  # no escapes inside single quotes
        ('"a\\b"', "a\\b"),  # backslash before an ordinary character stays inside double quotes
        ('"a\\"b"', 'a"b'),
        ('"a\\\\b"', "a\\b"),
        ('"\\$x"', "$x"),
        ('"\\`x"', "`x"),
        ("\\$x", "$x"),
        ("\"'\"", "'"),
        ("'\"'", '"'),
        ("a\\\\b", "a\\b"),
    ],
)
def test_quote_removal(raw: str, text: str) -> None:
    w = scan_word(raw)
    assert w.text == text
    assert w.literal


@pytest.mark.parametrize("raw", ["r''m", '"r"m', "\\rm", "'rm'", '"rm"', "r\\m"])
def test_quoted_spellings_of_rm_are_all_rm(raw: str) -> None:
    assert scan_word(raw) == W("rm")
    a = analyse(f"{raw} -rf /")
    assert a.ok
    assert a.commands[0].name == "rm"


def test_words_in_an_analysis_have_their_quotes_removed() -> None:
    a = analyse("grep -e 'a b' \"c d\" e\\ f")
    assert [w.text for w in a.commands[0].argv] == ["grep", "-e", "a b", "c d", "e f"]


# -- line continuation --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "text"), [("a\\\nb", "ab"), ('"a\\\nb"', "ab"), ("l\\\ns", "ls")])
def test_line_continuation_is_removed(raw: str, text: str) -> None:
    assert scan_word(raw).text == text


def test_line_continuation_inside_single_quotes_is_kept() -> None:
    assert scan_word("'a\\\nb'").text == "a\\\nb"


def test_line_continuation_in_a_command() -> None:
    a = analyse("l\\\ns -la \\\n /var/log")
    assert a.ok
    assert [w.text for w in a.commands[0].argv] == ["ls", "-la", "/var/log"]


# -- pattern: which characters are live ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "pattern", "glob"),
    [
        ("*.log", "*.log", True),
        ("'*'.log", "\\*.log", False),
        ('"*".log', "\\*.log", False),
        ("\\*.log", "\\*.log", False),
        ("a?b", "a?b", True),
        ("'a?b'", "a\\?b", False),
        ("[ab]", "[ab]", True),
        ('"[ab]"', "\\[ab\\]", False),
        ("/var/log/*/'*'", "/var/log/*/\\*", True),
        ("'a,b'", "a\\,b", False),
        ("'a\\b'", "a\\\\b", False),
        ("plain/path", "plain/path", False),
    ],
)
def test_pattern_escapes_quoted_specials_and_keeps_unquoted_ones_live(raw: str, pattern: str, glob: bool) -> None:
    w = scan_word(raw)
    assert w.pattern == pattern
    assert w.glob is glob


def test_a_quoted_star_matches_only_itself() -> None:
    quoted, live = scan_word("'/etc/*'"), scan_word("/etc/*")
    assert glob_matches("/etc/*", quoted.pattern)
    assert not glob_matches("/etc/shadow", quoted.pattern)
    assert glob_matches("/etc/shadow", live.pattern)
    assert glob_matches("/etc/*", live.pattern)


def test_a_quoted_glob_is_literal_and_an_unquoted_one_is_not() -> None:
    assert scan_word("'*'").literal
    assert not scan_word("*").literal


def test_a_lone_open_bracket_is_not_a_glob() -> None:
    # `[` alone (the test command) has no closing bracket: nothing for the shell to match.
    assert scan_word("[").literal
    a = analyse("[ -f /etc/passwd ]")
    assert a.ok
    assert a.commands[0].name == "["


# -- expansions: dynamic, tilde, brace ----------------------------------------------------------


@pytest.mark.parametrize("raw", ["$HOME", "${HOME}", "$1", "$@", "$?", "$$", '"$HOME"', "$(id)", "`id`", "a$x", '"a${x}b"'])
def test_expansions_are_dynamic(raw: str) -> None:
    w = scan_word(raw)
    assert w.dynamic
    assert not w.literal
    assert "*" in w.pattern  # an unknown value matches anything


def test_an_expansion_is_a_star_in_the_pattern() -> None:
    assert scan_word("$HOME/.ssh/id_rsa").pattern == "*/.ssh/id_rsa"
    assert scan_word('"/var/$x/log"').pattern == "/var/*/log"


@pytest.mark.parametrize("raw", ["'$HOME'", "\\$HOME", "$", '"$"', "a$", "'$(id)'", "\\`id\\`"])
def test_a_dollar_that_expands_nothing_is_literal(raw: str) -> None:
    assert not scan_word(raw).dynamic


@pytest.mark.parametrize(("raw", "tilde"), [("~", True), ("~/x", True), ("~root/x", True), ("'~'/x", False), ("\\~/x", False), ("x~", False), ('"~"', False)])
def test_tilde_only_when_unquoted_at_the_start(raw: str, tilde: bool) -> None:
    assert scan_word(raw).tilde is tilde


@pytest.mark.xfail(
    strict=True,
    reason="BUG: bash tilde-expands after the '=' of an assignment-like argument (echo a=~/x prints "
    "a=/root/x) but the word is reported literal",
)
def test_tilde_after_the_equals_of_an_assignment_like_argument() -> None:
    a = analyse("echo a=~/x")
    assert not a.commands[0].argv[1].literal


def test_tilde_in_an_assignment_value() -> None:
    a = analyse("X=~/x ls")
    assert a.commands[0].assignments[0][1].tilde


@pytest.mark.parametrize(
    ("raw", "brace"),
    [
        ("{a,b}", True),
        ("x{a,b}y", True),
        ("{1..3}", True),
        ("{a..c}", True),
        ("{a}", False),
        ("{}", False),
        ("{a,b", False),
        ("'{a,b}'", False),
        ('"{a,b}"', False),
        ("\\{a,b}", False),
        ("{a','b}", False),
        ("a,b", False),
    ],
)
def test_brace_flag(raw: str, brace: bool) -> None:
    assert scan_word(raw).brace is brace


def test_quoted_braces_are_escaped_in_the_pattern() -> None:
    assert scan_word("'{a,b}'").pattern == "\\{a\\,b\\}"
    assert scan_word("{a,'b,c'}").pattern == "{a,b\\,c}"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("$'x'", "ansi-c-quote"),
        ('$"x"', "ansi-c-quote"),
        ("${x:-$(id)}", "hidden-substitution"),
        ("${x:-`id`}", "hidden-substitution"),
        ("${x;id}", "hidden-substitution"),
        ("'unterminated", "parse-error"),
        ('"unterminated', "parse-error"),
        ("`unterminated", "parse-error"),
        ("$(unterminated", "parse-error"),
        ("${unterminated", "parse-error"),
    ],
)
def test_word_errors(raw: str, kind: str) -> None:
    with pytest.raises(WordError) as err:
        scan_word(raw)
    assert err.value.kind == kind
    assert err.value.detail
    assert 0 <= err.value.offset <= len(raw)


def test_ansi_c_quoting_inside_double_quotes_is_literal() -> None:
    assert scan_word("\"$'x'\"") == W("$'x'")


# -- expand_braces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expanded"),
    [
        ("{a,b}", ("a", "b")),
        ("x{a,b}y", ("xay", "xby")),
        ("{a,{b,c}}", ("a", "b", "c")),
        ("{a,b}{c,d}", ("ac", "ad", "bc", "bd")),
        ("/etc/{passwd,shadow}", ("/etc/passwd", "/etc/shadow")),
        ("{1..3}", ("1", "2", "3")),
        ("{3..1}", ("3", "2", "1")),
        ("{1..10..3}", ("1", "4", "7", "10")),
        ("{-1..1}", ("-1", "0", "1")),
        ("{a..c}", ("a", "b", "c")),
        ("{a..e..2}", ("a", "c", "e")),
        ("{,a}", ("", "a")),
        ("{a,}", ("a", "")),
        ("plain", ("plain",)),
        ("{a}", ("{a}",)),
        ("{}", ("{}",)),
        ("{a,b", ("{a,b",)),
        ("{1..c}", ("{1..c}",)),
    ],
)
def test_expand_braces(pattern: str, expanded: tuple[str, ...]) -> None:
    assert expand_braces(pattern) == expanded


def test_escaped_braces_and_commas_are_not_expanded() -> None:
    assert expand_braces("\\{a,b\\}") == ("\\{a,b\\}",)
    assert expand_braces("{a\\,b}") == ("{a\\,b}",)
    assert expand_braces(scan_word("'{a,b}'").pattern) == ("\\{a\\,b\\}",)


def test_a_quoted_alternative_keeps_its_escapes() -> None:
    assert expand_braces(scan_word("{a,'*'}").pattern) == ("a", "\\*")


def test_an_alphabetic_sequence_escapes_pattern_characters() -> None:
    # `{Z..a}` runs through [ \ ] ^ _ ` : the pattern-special ones come out escaped.
    out = expand_braces("{Z..a}")
    assert out is not None
    assert "\\[" in out and "\\]" in out and "\\\\" in out and "^" in out


@pytest.mark.parametrize("pattern", ["{1..1000}", "{1..99999999999999999999}", "{a,b}" * 9, "{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}"])
def test_over_the_expansion_cap_returns_none(pattern: str) -> None:
    assert expand_braces(pattern) is None
    assert expands_braces(pattern)


def test_exactly_at_the_expansion_cap() -> None:
    out = expand_braces(f"{{1..{MAX_BRACE_EXPANSION}}}")
    assert out is not None
    assert len(out) == MAX_BRACE_EXPANSION


def test_an_over_cap_brace_word_is_still_flagged_brace() -> None:
    assert scan_word("{1..100000}").brace


@pytest.mark.parametrize(("pattern", "expanded"), [("{01..03}", ("01", "02", "03")), ("{1..03}", ("01", "02", "03")), ("x{08..10}", ("x08", "x09", "x10"))])
def test_zero_padded_sequences_keep_their_width(pattern: str, expanded: tuple[str, ...]) -> None:
    # A lost padding is a protected-path bypass: /srv/backup{01..01} must mean /srv/backup01.
    assert expand_braces(pattern) == expanded


@pytest.mark.parametrize(
    ("pattern", "expanded"),
    [("x{{,}", ("x{", "x{")), ("{{a,b}", ("{a", "{b")), ("/tmp/{x/{a,b}", ("/tmp/{x/a", "/tmp/{x/b"))],
)
def test_an_unmatched_open_brace_does_not_hide_a_later_expansion(pattern: str, expanded: tuple[str, ...]) -> None:
    assert scan_word(pattern).brace
    assert not scan_word(pattern).literal
    assert expand_braces(pattern) == expanded


@pytest.mark.parametrize("raw", ["/etc/shadow{},}", "/etc/{},shadow}", "x{}a,b}", "x{{},a}", "x{},a}{b,c}", "{}{1..2}"])
def test_an_empty_pair_next_to_a_brace_list_is_refused(raw: str) -> None:
    # bash reads a `}` right after `{` as a literal and goes on: /etc/shadow{},} expands to
    # `/etc/shadow}` and `/etc/shadow`. sshwall refuses the construct instead of guessing.
    with pytest.raises(WordError) as err:
        scan_word(raw)
    assert err.value.kind == "unsupported"
    a = analyse(f"cat {raw}")
    assert not a.ok
    assert any(f.kind is FindingKind.UNSUPPORTED and "{}" in f.describe() for f in a.findings), a.findings


@pytest.mark.parametrize("raw", ["{}", "x{}", "{}x", "x{}}", "'{},}'", "\\{},}"])
def test_empty_pairs_bash_does_not_expand_stay_literal(raw: str) -> None:
    # find's `{}` and friends: no separator, nothing to expand.
    w = scan_word(raw)
    assert not w.brace
    assert expand_braces(w.pattern) == (w.pattern,)


BASH = shutil.which("bash")


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@settings(deadline=None, max_examples=60)
@given(
    st.tuples(st.sampled_from(["", "-"]), st.sampled_from(["", "0", "00"]), st.integers(0, 12)),
    st.tuples(st.sampled_from(["", "-"]), st.sampled_from(["", "0", "00"]), st.integers(0, 12)),
    st.sampled_from(["", "..2", "..-3", "..02"]),
)
def test_brace_sequences_expand_as_in_bash(lo: tuple[str, str, int], hi: tuple[str, str, int], step: str) -> None:
    pattern = "x{%s%s%d..%s%s%d%s}y" % (*lo, *hi, step)
    assert BASH is not None
    run = subprocess.run([BASH, "--norc", "-c", "printf '%s\\n' " + pattern], capture_output=True, text=True, timeout=10)
    expected = tuple(run.stdout.split("\n")[:-1])
    assert expand_braces(pattern) == (expected if len(expected) <= MAX_BRACE_EXPANSION else None), pattern
