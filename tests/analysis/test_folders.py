"""Where each command of a script runs: ``cd`` followed through bash's control flow."""

from __future__ import annotations

import pytest

from sshwall.analysis import analyse
from sshwall.analysis.model import Folder


def folders(source: str) -> list[tuple[str, object]]:
    """(command text, its folder) for every command: a set of cd chains, or None (unknown)."""
    a = analyse(source)
    assert not a.findings, a.findings
    out: list[tuple[str, object]] = []
    for c in a.commands:
        out.append((" ".join(w.text for w in c.argv), _shown(c.folder)))
    return out


def _shown(folder: Folder) -> object:
    if not folder.known:
        return None
    return {tuple("~" if w is None else w.text for w in path) for path in folder.paths}


def folder_of(source: str, command: str) -> object:
    found = [f for text, f in folders(source) if text == command]
    assert len(found) == 1, folders(source)
    return found[0]


START = {()}


@pytest.mark.parametrize(
    ("source", "command", "expected"),
    [
        ("cat a", "cat a", START),
        ("cd /etc && cat passwd", "cat passwd", {("/etc",)}),
        # `;`: a cd that fails leaves the folder as it was
        ("cd /etc; cat passwd", "cat passwd", {("/etc",), ()}),
        ("cd /etc || cat passwd", "cat passwd", START),
        ("cd /a || cat b; cat c", "cat c", {("/a",), ()}),
        ("cd /a && cd b && cat c", "cat c", {("/a", "b")}),
        # copies of the shell: subshell, pipeline, substitution, background, sh -c
        ("(cd /x; cat a); cat b", "cat b", START),
        ("(cd /x; cat a); cat b", "cat a", {("/x",), ()}),
        ("cd /x | cat a; cat b", "cat b", START),
        ("cd /x | cat a; cat b", "cat a", START),
        ("echo $(cd /x); cat b", "cat b", START),
        ("cd /x & cat y", "cat y", START),
        ("cd /x && cat y & cat z", "cat y", {("/x",)}),
        ("cd /x && cat y & cat z", "cat z", START),
        ('sh -c "cd /x && cat y"; cat z', "cat z", START),
        ('sh -c "cd /x && cat y"; cat z', "cat y", {("/x",)}),
        ('cd /a && sh -c "cd b && cat y"', "cat y", {("/a", "b")}),
        # a group is this shell; `! cd` too
        ("{ cd /x; }; cat y", "cat y", {("/x",), ()}),
        ("! cd /x; cat y", "cat y", {("/x",), ()}),
        # cd alone goes home (None shown as ~)
        ("cd && cat z", "cat z", {("~",)}),
        ("cd -P -- /x && cat z", "cat z", {("/x",)}),
        ("pushd /x && cat z", "cat z", {("/x",)}),
    ],
)
def test_cd_moves_the_rest_of_the_list(source: str, command: str, expected: object) -> None:
    assert folder_of(source, command) == expected


@pytest.mark.parametrize(
    ("source", "command"),
    [
        ("cd - && cat y", "cat y"),
        ("popd && cat y", "cat y"),
        ("pushd +1 && cat y", "cat y"),
        ("cd a b && cat y", "cat y"),
        ("command cd /x && cat y", "cat y"),  # a wrapper: not followed
        ("if true; then cd /x; fi; cat y", "cat y"),
        ("for d in /a /b; do cd $d; done; cat y", "cat y"),
        ("while false; do cd /x; done; cat y", "cat y"),
    ],
)
def test_cd_sshwall_does_not_follow_makes_the_folder_unknown(source: str, command: str) -> None:
    assert folder_of(source, command) is None


def test_failed_cd_that_is_not_followed_keeps_the_folder() -> None:
    # `cd -` failing leaves the folder; succeeding goes who knows where.
    assert folder_of("cd - || cat y", "cat y") == START


@pytest.mark.parametrize(
    "source", ["env -C /x cat y", "env --chdir=/x cat y", "sudo -D /x cat y", "sudo -i cat y",
               "chroot /x cat y", "bash -lc 'cat y'"],
)
def test_wrapper_that_changes_folder(source: str) -> None:
    assert folder_of(source, "cat y") is None


def test_wrapper_that_keeps_folder() -> None:
    assert folder_of("cd /x && sudo -n timeout 5 cat y", "cat y") == {("/x",)}


def test_find_exec_runs_in_an_unknown_folder() -> None:
    assert folder_of("cd /x && find . -exec cat {} ;", "cat {}") is None


def test_redirect_keeps_the_folder_the_shell_opens_it_in() -> None:
    a = analyse("{ cd /tmp; cat x; } < secret")
    cat = next(c for c in a.commands if c.name == "cat")
    assert _shown(cat.folder) == {("/tmp",), ()}
    assert _shown(cat.redirects[0].folder) == START  # opened before the group ran
    cd = analyse("cd /x > out").commands[0]
    assert _shown(cd.redirects[0].folder) == START


def test_sh_c_redirects_of_the_outer_shell_keep_its_folder() -> None:
    a = analyse("cd /a && sh -c 'cd /b && cat x < in' < outer")
    cat = next(c for c in a.commands if c.name == "cat")
    by_target = {r.target.text: _shown(r.folder) for r in cat.redirects}  # type: ignore[union-attr]
    assert by_target == {"outer": {("/a",)}, "in": {("/a", "/b")}}


def test_home_word_marks_only_a_leading_home() -> None:
    a = analyse('cat $HOME/x "${HOME}"/y a$HOME $HOME$X $HOMEX')
    assert [w.home for w in a.commands[0].argv[1:]] == [True, True, False, False, False]
