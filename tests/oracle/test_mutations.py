"""Mutations of allowed commands, built from the programs' real options, run in the oracle.

The quick pass: ``BUDGET`` mutations (deterministic, spread over every program the policy
allows), each decided by sshwall; every allowed one runs in the execution oracle, and any
violation the unmutated seed did not commit fails the test. The figures ("mutations: tried N,
allowed M, run K, violations V") appear in the terminal summary of ``pytest -q``.
``bench/oracle.py`` runs the full set.

Environment: ``SSHWALL_ORACLE_BUDGET`` (default 600: the test then stays under ~3 minutes on a
busy 2-core machine), ``SSHWALL_ORACLE_SEED``, ``SSHWALL_ORACLE_POLICY``. Under ``CI=true`` an
unavailable oracle (no root, no namespaces) fails; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sshwall.oracle.mutate import (
    DANGEROUS_VALUES,
    decide,
    generate,
    load_seeds,
    mutations_of,
    programs_of,
    run_mutations,
)
from sshwall.policy import load_policy
from tests.oracle.oracle_support import require_oracle

REPO = Path(__file__).resolve().parents[2]
POLICY_PATH = Path(os.environ.get("SSHWALL_ORACLE_POLICY", REPO / "rules" / "readonly-ops.yaml"))
CORPUS = REPO.parent / "shared" / "corpus" / "readonly-ops.jsonl"
BUDGET = int(os.environ.get("SSHWALL_ORACLE_BUDGET", "600"))
SEED = int(os.environ.get("SSHWALL_ORACLE_SEED", "0"))
POLICY = load_policy(POLICY_PATH)


def test_allowed_mutations_are_harmless(oracle_report: list[str]) -> None:
    """Zero violations over the quick pass."""
    require_oracle()
    from sshwall.oracle import Oracle

    start = time.monotonic()
    mutations = generate(load_seeds(POLICY, CORPUS), POLICY, BUDGET, SEED)
    with Oracle(timeout=5.0) as oracle:
        tally = run_mutations(POLICY, mutations, oracle)
    oracle_report.append(f"{tally.line()} (budget {BUDGET}, seed {SEED}, {time.monotonic() - start:.0f} s, "
                         f"{tally.run / tally.seconds_running if tally.seconds_running else 0:.1f} runs/s)")
    for f in tally.seed_findings:
        oracle_report.append(f"  seed violates: {f.mutation.command!r}: {f.violations[0][0]} {f.violations[0][1][:120]}")
    lines = [f"{f.mutation.command!r} [{', '.join(sorted({k for k, _ in f.violations}))}] "
             f"({f.mutation.flag} {f.mutation.how}; {f.mechanism}): {f.violations[0][1][:200]}"
             for f in tally.findings]
    assert not tally.errors, f"{len(tally.errors)} sandbox errors (nothing measured):\n" + "\n".join(tally.errors[:20])
    assert not tally.findings, f"{len(lines)} allowed mutations are not harmless:\n" + "\n".join(lines)


# -- the generator itself (no oracle needed) ------------------------------------------------


def test_generation_is_deterministic_and_within_budget() -> None:
    seeds = ["ls -la /var/log", "date -u", "git log -1", "ps -ef | head -n 5", "journalctl -k"]
    a = generate(seeds, POLICY, 300, seed=7)
    b = generate(seeds, POLICY, 300, seed=7)
    assert [m.command for m in a] == [m.command for m in b]
    assert [m.command for m in a] != [m.command for m in generate(seeds, POLICY, 300, seed=8)]
    assert len(a) == 300 and len({m.command for m in a}) == 300
    assert {m.program for m in a} == {"ls", "date", "git", "ps", "head", "journalctl"}, "round-robin"


def test_seeds_cover_the_corpus_and_the_examples() -> None:
    seeds = load_seeds(POLICY, CORPUS)
    assert "df -h" in seeds  # a policy example expecting allow
    assert "ls -la /var/log" in seeds  # a per-program seed
    assert not any(s.startswith("rm ") for s in seeds), "deny cases are never seeds"


def test_forms_of_an_optional_value_and_a_next_word() -> None:
    """date's -I[FMT] gets attached, bare and 'next word' forms; --date= gets both value forms."""
    cmds = {m.command for m in mutations_of("date -u", POLICY)}
    assert "date -I/tmp/oracle-scratch/out -u" in cmds
    assert "date -I -u" in cmds
    assert "date -I /root/.ssh/id_ed25519 -u" in cmds
    assert "date --date=/etc/cron.d/x -u" in cmds and "date --date /etc/cron.d/x -u" in cmds
    assert "date -u --date /etc/cron.d/x" in cmds, "after operands too"
    assert any(c.startswith("date -I --") for c in cmds), "an optional value followed by another option"
    assert "date --i -u" in cmds, "the shortest unique prefix of --iso-8601"


def test_clusters_no_forms_and_pipelines() -> None:
    ls = {m.command for m in mutations_of("ls -la /var/log", POLICY)}
    assert "ls -laR /var/log" in ls and "ls -Rla /var/log" in ls
    git = {m.command for m in mutations_of("git log -1", POLICY)}
    assert "git log --no-stat -1" in git or "git log -1 --no-stat" in git
    piped = {m.command for m in mutations_of("ps -ef | head -n 5", POLICY)}
    assert any(c.endswith("| head -n 5") and c.startswith("ps ") for c in piped)
    assert any(c.startswith("ps -ef | head ") and c != "ps -ef | head -n 5" for c in piped)


def test_dangerous_values_are_used_and_decided() -> None:
    cmds = [m.command for m in mutations_of("sort /etc/passwd", POLICY)]
    assert any("--output=/etc/cron.d/x" in c for c in cmds)
    assert not decide(POLICY, "sort /etc/passwd --output=/etc/cron.d/x")
    assert all(v in " ".join(cmds) for v in DANGEROUS_VALUES)


def test_programs_of_lists_wrappers_and_pipeline_members() -> None:
    assert programs_of("sudo -n journalctl -u x | grep y") == frozenset({"sudo", "journalctl", "grep"})
