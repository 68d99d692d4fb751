"""Glob operands next to protected patterns: exact intersection, exceptions, and the evidence.

A glob operand is denied only when some path it can name (bash's expansion: a leading
wildcard never names a dot file; its literal text when it names nothing) is matched by a
protected pattern and by no exception; the deny reason names the pattern, the glob, and the
shortest such path. Checked on fixed cases, through the shipped policy, and against bash over
a planted tree: every protected file bash names is denied (soundness), and every path given as
evidence really is named by bash's expansion once it exists (precision).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sshwall.analysis.words import expand_braces, scan_word
from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.commands import _Checker
from sshwall.engine.globwitness import fallback, intersect
from sshwall.engine.paths import ANY, escape, normalise
from sshwall.errors import WordError
from sshwall.policy import load_policy
from sshwall.policy.commandsets import CommandSet
from tests.engine.test_globs_diff import FILES, PROTECTED, _bash_or_skip, _expand, _reference, words

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_policy(REPO / "rules" / "readonly-ops.yaml")


def meet(arg: str, pattern: str, exceptions: tuple[str, ...] = ()) -> tuple[bool, str | None]:
    found = intersect(normalise(arg, None), normalise(pattern, None), tuple(normalise(e, None) for e in exceptions))
    return found.hit, found.example


@pytest.mark.parametrize(
    ("arg", "pattern", "exceptions", "expected"),
    [
        # a real intersection, and its shortest path
        ("/var/log/error.log*", "**/*.key", (), (True, "/var/log/error.log.key")),
        ("/var/log/nginx/*.log", "**/*.key", (), (False, None)),
        ("/etc/*", "/etc/shadow", (), (True, "/etc/shadow")),
        ("/etc/sha?ow", "/etc/shadow", (), (True, "/etc/shadow")),
        ("/etc/sha[!d]ow", "/etc/shadow", (), (False, None)),
        ("/etc/s[a-i]adow", "/etc/shadow", (), (True, "/etc/shadow")),
        # bash's dot rule: only a literal leading `.` names a dot file
        ("/srv/app/*", "**/.env", (), (False, None)),
        ("/srv/app/?env", "**/.env", (), (False, None)),
        ("/srv/app/[.]env", "**/*.env", (), (False, None)),
        ("/srv/app/[[:punct:]]env", "**/.env", (), (False, None)),
        ("/srv/app/.e*", "**/.env", (), (True, "/srv/app/.env")),
        ("/srv/app/*", "**/*.env", (), (True, "/srv/app/x.env")),  # policy `*` names dot files, the glob not
        # exceptions: a glob wholly inside an exception is no hit
        ("/root/.ssh/*.pub", "/root/.ssh/**", ("**/.ssh/*.pub",), (False, None)),
        ("/root/.ssh/*", "/root/.ssh/**", ("**/.ssh/*.pub",), (True, "/root/.ssh/x")),
        ("/root/.ssh/id_*", "**/.ssh/id_*", ("**/.ssh/*.pub",), (True, "/root/.ssh/id_")),
        # `**` and `.*` are read widely (globstar, bash < 5.2's `.*` naming `..`)
        ("/srv/**/x.key", "/etc/ssl/private/**", (), (False, None)),
        ("/srv/**/x", "/srv/a/b/x", (), (True, "/srv/a/b/x")),
        ("/etc/ssl/.*/shadow", "/etc/shadow", (), (True, "/etc/shadow")),
        # names are never empty, `.` or `..`
        ("/a/*", "/a/.", (), (False, None)),
    ],
)
def test_intersection(arg: str, pattern: str, exceptions: tuple[str, ...], expected: tuple[bool, str | None]) -> None:
    assert meet(arg, pattern, exceptions) == expected


def test_fallback_is_the_literal_word() -> None:
    # `cat /var/log/app[1].log` with no app1.log: bash hands cat the literal name.
    segs = normalise("/var/log/app[1].log", None)
    assert fallback(segs) == ("var", "log", escape("app[1].log"))
    checker = _Checker("t", CommandSet(protected_paths=(escape("/var/log/app[1].log"),)), None)
    assert checker.protected_hit(segs, False) == (escape("/var/log/app[1].log"), "/var/log/app[1].log")
    assert checker.protected_hit(normalise("/var/log/app[2].log", None), False) is None


def decide(command: str) -> tuple[Decision, str]:
    verdict = evaluate(SHIPPED, ToolCall("executeCommand", {"connectionId": "c1", "command": command}))
    return verdict.decision, " ".join(h.reason for h in verdict.hits if h.decision == Decision.DENY)


def test_shipped_policy_reason_names_pattern_glob_and_path() -> None:
    decision, reason = decide("tail -n 50 /var/log/nginx/error.log*")
    assert decision == Decision.DENY
    assert "`/var/log/nginx/error.log*`" in reason and "protected path `**/*." in reason
    assert "(the glob can name `/var/log/nginx/error.log." in reason


@pytest.mark.parametrize(
    "command",
    ["cat /root/.ssh/*.pub", "tail -n 20 /var/log/nginx/*.log", "cat /srv/app/[.]env", "ls /var/log/error.log*",
     "zcat /var/log/syslog.*.gz"],
)
def test_shipped_policy_allows_globs_that_name_no_secret(command: str) -> None:
    assert decide(command)[0] == Decision.ALLOW


@pytest.mark.parametrize(
    "command",
    ["cat /root/.ssh/*", "cat /root/.ssh/id_*", "cat /srv/app/.e*", "cat /etc/sha?ow", "head /etc/ssl/private/*"],
)
def test_shipped_policy_denies_globs_that_name_a_secret(command: str) -> None:
    decision, reason = decide(command)
    assert decision == Decision.DENY and "the glob can name" in reason


EXCEPTIONS = ["**/.ssh/*.pub", "etc/ssl/certs/*"]


def test_glob_hits_agree_with_bash(capsys: pytest.CaptureFixture[str]) -> None:
    """Soundness: a protected, unexcepted file that bash names is denied. Precision: the path
    given as evidence, planted alone in an empty tree, is named by bash's expansion of the word
    and is protected and not excepted by the policy's own patterns."""
    bash = _bash_or_skip()
    with tempfile.TemporaryDirectory(prefix="sshwall-witness-") as top:
        root = Path(top).resolve() / "t"
        for rel in FILES:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("x\n")
        prefix = escape(str(root))
        protected = [f"{prefix}/{p}" if not p.startswith("**") else p for p in PROTECTED]
        excepted = [f"{prefix}/{p}" if not p.startswith("**") else p for p in EXCEPTIONS]
        ref_p, ref_e = _reference(protected), _reference(excepted)
        checker = _Checker("t", CommandSet(protected_paths=tuple(protected), protected_exceptions=tuple(excepted)), None)
        raw = [w.replace("@ROOT@", str(root)) for w in words(seed=23, count=1200)]
        raw = [w for w in raw if w.startswith("/")]
        tried = denied = sound_bad = 0
        evidence: list[tuple[str, str]] = []
        problems: list[str] = []
        for word, names in zip(raw, _expand(bash, root, "", raw)):
            try:
                scanned = scan_word(word)
            except WordError:
                continue
            alts = expand_braces(scanned.pattern) if scanned.brace else (scanned.pattern,)
            if alts is None or scanned.tilde:
                continue
            tried += 1
            forms = [normalise(a, None) for a in alts]
            hits = [h for h in (checker.protected_hit(f, False) for f in forms) if h is not None]
            # sshwall reads some words wider than bash does, on purpose: `**` may cross folders
            # (globstar; zsh), `..` and `.*` may climb anywhere (symlinks; bash < 5.2), a POSIX
            # class may match any name. Evidence for those is not bash's; it is not checked.
            exact = not any(ANY in f for f in forms) and not any(c in word for c in ("[[:", "[[=", "[[."))
            denied += bool(hits)
            for name in names:
                path = os.path.normpath(name)
                if any(rx.fullmatch(path) for _, rx in ref_p) and not any(rx.fullmatch(path) for _, rx in ref_e) \
                        and not hits:
                    sound_bad += 1
                    problems.append(f"{word!r} names protected {path!r}; sshwall allows it")
            for pattern, example in hits:
                if exact and example is not None:
                    evidence.append((word, example))
                    rx = dict(ref_p)[pattern]
                    if not rx.fullmatch(example) or any(r.fullmatch(example) for _, r in ref_e):
                        problems.append(f"{word!r}: evidence {example!r} is not what {pattern!r} protects")
        # Each piece of evidence planted alone: bash must name it (nullglob off: a word that
        # names nothing stays literal, which is the evidence when it is the literal fallback).
        for word, example in evidence:
            shutil.rmtree(root)
            target = Path(example)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x\n")
            named = {os.path.normpath(n) for n in _expand(bash, root.parent, "", [word])[0]}
            if example not in named:
                problems.append(f"{word!r}: evidence {example!r} planted alone, bash names {sorted(named)[:3]}")
        with capsys.disabled():
            print(f"\n[glob evidence vs bash] words {tried} / denied {denied} / evidence checked "
                  f"{len(evidence)} / problems {len(problems)}")
        assert not problems, "\n".join(problems[:20])


def test_witness_search_is_bounded() -> None:
    # a huge bracket range is not searched: it may match (fail closed)
    assert meet("/x/[\u0001-\uffff]", "/x/y")[0] is True



def test_glob_paths_per_command_are_bounded() -> None:
    """Each glob path costs an exact search against the catalogue: past the cap, the command
    is denied with a reason, never searched on (a long command of globs cannot stall the gateway)."""
    from sshwall.engine.commands import MAX_GLOB_SEARCHES
    from sshwall.policy import load_policy

    policy = load_policy(Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml")
    few = "tail " + " ".join(f"/var/log/app{i}*.log" for i in range(MAX_GLOB_SEARCHES))
    many = "tail " + " ".join(f"/var/log/app{i}*.log" for i in range(MAX_GLOB_SEARCHES + 1))
    assert evaluate(policy, ToolCall("executeCommand", {"connectionId": "c", "command": few})).decision == Decision.ALLOW
    verdict = evaluate(policy, ToolCall("executeCommand", {"connectionId": "c", "command": many}))
    assert verdict.decision == Decision.DENY
    assert any(f"more than {MAX_GLOB_SEARCHES} glob paths in one command" in r for r in verdict.reasons)
