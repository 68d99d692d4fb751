"""Path reasoning: normalisation, glob overlap, the dot-file rule, ancestor prefixes."""

from __future__ import annotations

import pytest

from sshwall.engine.paths import (
    ANY,
    ancestor_prefixes,
    escape,
    is_literal,
    is_literal_path,
    normalise,
    overlap,
    segment_overlap,
    split,
    unescape,
)


def ov(arg: str, pattern: str) -> bool:
    """Does the argument ``arg`` (a shell glob) share a path with the policy ``pattern``?"""
    return overlap(normalise(arg, None), normalise(pattern, None))


# -- normalise -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "base", "tilde", "expected"),
    [
        ("/etc/passwd", None, False, ("etc", "passwd")),
        ("/", None, False, ()),
        ("/a/b/", None, False, ("a", "b")),
        # relative paths: under the working folder when known, anywhere when not
        ("a/b", None, False, (ANY, "a", "b")),
        ("a/b", ("srv", "app"), False, ("srv", "app", "a", "b")),
        ("./a", ("srv",), False, ("srv", "a")),
        (".", None, False, (ANY,)),
        # '//' and '.' vanish
        ("/a/./b//c", None, False, ("a", "b", "c")),
        ("//etc///shadow", None, False, ("etc", "shadow")),
        # '..' may climb anywhere (symlinks), so the rest of the path sits under '**'
        ("/a/../b", None, False, (ANY, "b")),
        ("/srv/app/../../etc/shadow", None, False, (ANY, "etc", "shadow")),
        ("../x", None, False, (ANY, "x")),
        ("../x", ("srv", "app"), False, (ANY, "x")),
        ("a/..", ("x",), False, (ANY,)),
        ("/..", None, False, ()),
        # tilde: a live '~' is any home folder; a quoted one is a folder named '~'
        ("~/x", None, True, (ANY, "x")),
        ("~", None, True, (ANY,)),
        ("~root/.ssh", None, True, (ANY, ".ssh")),
        ("~/x", None, False, (ANY, "~", "x")),
        ("~/x", ("home", "u"), False, ("home", "u", "~", "x")),
        # globstar and runs of '*' cross folders
        ("/a/**/b", None, False, ("a", ANY, "b")),
        ("/a/***", None, False, ("a", ANY)),
        ("/a/**/**/b", None, False, ("a", ANY, "b")),
        ("/a/*/b", None, False, ("a", "*", "b")),
    ],
)
def test_normalise(pattern: str, base: tuple[str, ...] | None, tilde: bool, expected: tuple[str, ...]) -> None:
    assert normalise(pattern, base, tilde=tilde) == expected


def test_escaped_slash_does_not_split() -> None:
    assert split("a\\/b/c") == ["a\\/b", "c"]


@pytest.mark.parametrize("text", ["plain", "a*b", "[x]", "q?", "a{b,c}", "back\\slash", "*.c"])
def test_escape_round_trip(text: str) -> None:
    pattern = escape(text)
    assert is_literal(pattern)
    assert unescape(pattern) == text
    assert segment_overlap(pattern, pattern)


def test_is_literal() -> None:
    assert is_literal("shadow")
    assert is_literal("\\*")
    assert not is_literal("*")
    assert not is_literal("sh?dow")
    assert not is_literal("[abc]")
    assert is_literal_path(("etc", "shadow"))
    assert not is_literal_path(("etc", "*"))
    assert not is_literal_path((ANY, "x"))


# -- overlap ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "pattern"),
    [
        ("/etc/shadow", "/etc/shadow"),
        ("/etc/sh*", "/etc/shadow"),
        ("/etc/*", "/etc/shadow"),
        ("/etc/?hadow", "/etc/shadow"),
        ("/etc/s?adow", "/etc/shadow"),
        ("/etc/[rst]hadow", "/etc/shadow"),
        ("/etc/[a-z]hadow", "/etc/shadow"),
        ("/etc/[!x]hadow", "/etc/shadow"),
        ("/etc/sudoers.d", "/etc/sudoers.d/**"),  # '**' matches zero components
        ("/etc/sudoers.d/x", "/etc/sudoers.d/**"),
        ("/etc/*/x", "/etc/sudoers.d/**"),
        ("/etc/sudoers.bak", "/etc/sudoers.*"),
        ("/etc/sudoers.d", "/etc/sudoers.*"),
        ("/home/u/.ssh/id_rsa", "**/id_rsa"),
        ("/home/u/.ssh/id_rsa", "/home/*/.ssh/**"),
        ("/home/u/.s*", "/home/*/.ssh/**"),
        ("/home/u/.ssh", "**/.ssh/**"),
        ("/dev/sda1", "/dev/sd*"),
        ("/a/b", "/a/**/b"),
        ("/a/x/y/b", "/a/**/b"),
        ("/tmp/.*", "**/.env"),
        ("/tmp/.env", "**/.env"),
        ("/srv/app/*.key", "**/*.key"),
        ("/etc/ssl/private/server.key", "**/*.key"),
        # unknown working folder: a relative path may be anywhere
        ("shadow", "/etc/shadow"),
        ("id_rsa", "**/id_rsa"),
        ("../../etc/shadow", "/etc/shadow"),
        ("/srv/../etc/shadow", "/etc/shadow"),
        ("/etc/[!a-c]*", "/etc/dar"),
        ("/x/[ab]", "/x/[!a]"),
        ("/x/[!x]", "/x/[!y]"),
        ("/x/a*", "/x/*b"),
    ],
)
def test_overlaps(arg: str, pattern: str) -> None:
    assert ov(arg, pattern)


@pytest.mark.parametrize(
    ("arg", "pattern"),
    [
        ("/etc/passwd", "/etc/shadow"),
        ("/etc/shadowx", "/etc/shadow"),
        ("/etc/shado", "/etc/shadow"),
        ("/etc/s?", "/etc/shadow"),
        ("/etc/[a-c]hadow", "/etc/shadow"),
        ("/etc/[!a-z]hadow", "/etc/shadow"),
        ("/etc/[!s]hadow", "/etc/shadow"),
        ("/etc/[!a-c]*", "/etc/bar"),
        ("/x/[ab]", "/x/[!ab]"),
        ("/x/a*", "/x/b*"),
        ("/x/**", "/y/z"),
        ("/etc", "/etc/shadow"),  # a folder is not the file in it (recursion is separate)
        ("/home/u/*/id_rsa", "**/.ssh/**"),
        ("/var/log/syslog", "**/.ssh/**"),
    ],
)
def test_no_overlap(arg: str, pattern: str) -> None:
    assert not ov(arg, pattern)


def test_known_working_folder_decides_relative_paths() -> None:
    base = ("srv", "app")
    assert overlap(normalise(".env", base), normalise("**/.env", None))
    assert not overlap(normalise("config", base), normalise("/etc/shadow", None))
    assert overlap(normalise("id_rsa", ("root", ".ssh")), normalise("/root/.ssh/**", None))


def test_escaped_glob_is_literal() -> None:
    # A quoted '*' is a file named '*': it cannot name /etc/shadow.
    assert not overlap(normalise(escape("/etc/*"), None), normalise("/etc/shadow", None))
    assert overlap(normalise("/etc/\\*", None), normalise("/etc/*", None))


# -- the dot-file rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "pattern"),
    [
        ("/home/u/*", "/home/*/.ssh/**"),
        ("/home/u/*/id_rsa", "/home/*/.ssh/**"),
        ("/root/*", "/root/.ssh/**"),
        ("/tmp/*", "/tmp/.env"),
        ("/tmp/?env", "/tmp/.env"),
        ("/tmp/[.]env", "/tmp/.env"),  # bash and dash do not match a leading dot by a bracket
        ("/tmp/[!a]env", "/tmp/.env"),
        ("/home/*/*_history", "**/.*_history"),
        ("/tmp/*", "**/.env"),
    ],
)
def test_leading_wildcard_does_not_match_dot_file(arg: str, pattern: str) -> None:
    assert not ov(arg, pattern)


@pytest.mark.parametrize(
    ("arg", "pattern"),
    [
        ("/home/u/.*", "/home/*/.ssh/**"),
        ("/home/u/.s*", "/home/*/.ssh/**"),
        ("/home/u/.ss?", "/home/*/.ssh/**"),
        ("/tmp/.e*", "/tmp/.env"),
        # a pattern's own '*' stands for any name, dotted or not
        ("/home/alice/.ssh/id_rsa", "/home/*/.ssh/**"),
        # '**' from an unknown folder or '..' may be a dot folder
        ("id_rsa", "**/.ssh/**"),
        ("../id_rsa", "**/.ssh/**"),
        ("/home/**/id_rsa", "**/.ssh/**"),
    ],
)
def test_explicit_dot_or_any_folder_matches_dot_file(arg: str, pattern: str) -> None:
    assert ov(arg, pattern)


# -- ancestor prefixes -----------------------------------------------------------------------


def test_ancestor_prefixes_of_anchored_pattern() -> None:
    assert ancestor_prefixes(normalise("/home/*/.ssh/**", None)) == (
        (),
        ("home",),
        ("home", "*"),
        ("home", "*", ".ssh"),
    )


def test_ancestor_prefixes_skip_prefixes_ending_in_any() -> None:
    assert ancestor_prefixes(normalise("**/.ssh/**", None)) == ((), (ANY, ".ssh"))
    assert ancestor_prefixes(normalise("/proc/**/environ", None)) == ((), ("proc",))


def test_ancestor_prefixes_of_file() -> None:
    assert ancestor_prefixes(normalise("/etc/shadow", None)) == ((), ("etc",))


def test_recursive_reads_hit_through_prefixes() -> None:
    prefixes = ancestor_prefixes(normalise("/home/*/.ssh/**", None))
    for folder, hit in [("/home", True), ("/", True), ("/home/u", True), ("/var", False), ("/home/u/docs", False)]:
        segs = normalise(folder, None)
        assert any(overlap(segs, p) for p in prefixes) is hit, folder


# -- segment_overlap -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("a*", "*b", True),
        ("a*", "b*", False),
        ("[ab]c", "[bc]c", True),
        ("[a]c", "[b]c", False),
        ("[!a]", "a", False),
        ("[!a]", "b", True),
        ("?", "ab", False),
        ("??", "ab", True),
        ("*.log", "syslog", False),
        ("*.log", "*.gz", False),
        ("*.log*", "*.gz", True),
        ("[", "[", True),  # an unclosed bracket is a literal '['
        ("a[", "a\\[", True),
    ],
)
def test_segment_overlap(x: str, y: str, expected: bool) -> None:
    assert segment_overlap(x, y) is expected
    assert segment_overlap(y, x) is expected
