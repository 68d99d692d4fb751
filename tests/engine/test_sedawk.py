"""sed scripts may only print and transform; awk programs may not run commands or write files."""

from __future__ import annotations

import pytest

from sshwall.engine.sedawk import check_awk, check_sed

# -- sed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "p",
        "1,5p",
        "10q",
        "$p",
        "/error/p",
        "/start/,/end/p",
        "\\,usr,p",
        "1~2p",
        "0~4p",
        "=",
        "l",
        "s/a/b/",
        "s/a/b/g",
        "s/a/b/gp",
        "s/a/b/2",
        "s/a/b/I",
        "s|/usr|/opt|g",
        "s/a\\/b/c/",
        "s/x/y/;p",
        "y/abc/xyz/",
        "/x/{p;q}",
        "1!G;h;$!d",
        "$!{N};P;D",
        "/^#/d",
        "/foo/!p",
        "a hello",
        "b end; :end",
        "# a comment\np",
        "",
    ],
)
def test_sed_print_only_scripts_are_allowed(script: str) -> None:
    assert check_sed(script) is None


@pytest.mark.parametrize(
    ("script", "word"),
    [
        ("w /tmp/out", "`w` writes a file"),
        ("1w out", "`w` writes a file"),
        ("/x/w out", "`w` writes a file"),
        ("/x/!w out", "`w` writes a file"),
        ("p;w out", "`w` writes a file"),
        ("W out", "`W` writes a file"),
        ("r /etc/shadow", "`r` reads a file"),
        ("1r /etc/shadow", "`r` reads a file"),
        ("R /etc/shadow", "`R` reads a file"),
        ("e id", "`e` runs a command"),
        ("1e", "`e` runs a command"),
        ("y/a/b/;e", "`e` runs a command"),
        ("s/a/b/e", "flag `e` runs the pattern space as a command"),
        ("s/.*/id/e", "flag `e` runs"),
        ("s/a/b/ge", "flag `e`"),
        ("s/a/b/w /tmp/x", "flag `w` writes a file"),
        ("s/x/y/gw out", "flag `w` writes a file"),
        ("s|a|b|w out", "flag `w` writes a file"),
        ("s/a/b/ ; w f", "`w` writes a file"),
        ("/x/{s/a/b/e}", "flag `e`"),
    ],
)
def test_sed_dangerous_commands_are_denied(script: str, word: str) -> None:
    problem = check_sed(script)
    assert problem is not None
    assert word in problem


@pytest.mark.parametrize(
    "script",
    ["s/a/b", "s/a", "k", "s/a/b/q", "/unterminated", "1,", "v", "s\\a\\b\\"],
)
def test_sed_unreadable_scripts_are_denied(script: str) -> None:
    assert check_sed(script) is not None


# -- awk ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "program",
    [
        "{print $1}",
        "{print}",
        "$3 > 100 {print $1}",
        "NR > 1 && $2 >= 5 {print $1, $2}",
        "NR>1{print $1 >= 2}",
        "{ if ($1 > 5) print $2 }",
        "{print ($1 > 2)}",
        "{print $1, ($2 > 3)}",
        "{x = $1 > 2; print x}",
        'BEGIN{FS=":"} $1=="root" {print $7}',
        "/a|b/ {print}",
        '{print "a|b > c"}',
        "{n += $2} END {printf \"%d\\n\", n}",
        "length($0) > 80",
        '{s = "system"; print s}',
        "# system(\"id\")\n{print}",
        "{print $1 / 2}",
        "{a[$1]++} END {for (k in a) print k, a[k]}",
    ],
)
def test_awk_reading_programs_are_allowed(program: str) -> None:
    assert check_awk(program) is None


@pytest.mark.parametrize(
    ("program", "word"),
    [
        ('{system("id")}', "`system` runs a command"),
        ("BEGIN { system(\"rm -rf /\") }", "`system`"),
        ('{ "date" | getline d }', "pipe `|`"),
        ("{ getline line < \"/etc/shadow\" }", "`getline`"),
        ("BEGIN { while ((getline line) > 0) n++ }", "`getline`"),
        ('{print | "sh"}', "pipe `|`"),
        ('{print |& "cat"}', "pipe `|`"),
        ('{print > "/tmp/x"}', "output redirection `>`"),
        ('{print $1 >> "f"}', "output redirection `>>`"),
        ('{printf "%s", $1 > "f"}', "output redirection `>`"),
        ('{printf("%s", $1) > "f"}', "output redirection `>`"),
        ('{print "x" > $2}', "output redirection `>`"),
        ("{print $1 > 2}", "output redirection `>`"),
        ('{ if (x) print > "f" }', "output redirection `>`"),
        ('@include "lib.awk"', "`@`"),
        ('@load "filefuncs"', "`@`"),
    ],
)
def test_awk_commands_and_writes_are_denied(program: str, word: str) -> None:
    problem = check_awk(program)
    assert problem is not None
    assert word in problem


def test_awk_unreadable_program_is_denied() -> None:
    problem = check_awk('{print "unterminated}')
    assert problem is not None and "cannot be checked" in problem
