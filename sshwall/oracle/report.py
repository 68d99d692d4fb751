"""``sshwall test --oracle``: run every case the policy allows in the oracle, print a table.

Exit codes: 0 no violation, 1 at least one violation, 2 the oracle cannot run here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from sshwall.analysis import analyse
from sshwall.engine import Decision
from sshwall.engine.examples import ExampleResult
from sshwall.oracle.model import Expectation, Run
from sshwall.policy import Policy

EXIT_OK, EXIT_VIOLATION, EXIT_UNAVAILABLE = 0, 1, 2
# A run that times out is run once more with this limit: a slow command (find / walking a big
# disk under strace) ends, an endless one does not.
SLOW_LIMIT = 60.0


def programs_of(command: str) -> frozenset[str]:
    """The program basenames the analysis lists for ``command``: programs and their wrappers."""
    names: set[str] = set()
    for cmd in analyse(command).commands:
        if cmd.argv:
            names.add(os.path.basename(cmd.argv[0].text))
        for wrapper in cmd.wrappers:
            if wrapper.argv:
                names.add(os.path.basename(wrapper.argv[0].text))
    return frozenset(names)


def expectation(command: str, policy: Policy | None = None, tool: str = "executeCommand") -> Expectation:
    """What ``command`` may do by sshwall's own account: the analysis' programs, and what the
    policy's specs of those programs declare (``runs``, ``state_writes``, ``network: any``)."""
    programs = set(programs_of(command))
    writes: list[str] = []
    connectors: set[str] = set()
    rule = policy.tools.get(tool) if policy is not None else None
    cs = policy.commands.get(rule.commands or "") if policy is not None and rule is not None else None
    for name in sorted(programs):
        spec = cs.programs.get(name) if cs is not None else None
        if spec is None:
            continue
        programs.update(spec.runs)
        writes.extend(spec.state_writes)
        if spec.network == "any":
            connectors.add(name)
    return Expectation(frozenset(programs), tuple(writes), frozenset(connectors))


@dataclass(frozen=True)
class OracleCase:
    """One allowed command and where it came from (``examples`` or a corpus file)."""

    suite: str
    tool: str
    command: str


def allowed_commands(policy: Policy, suites: Iterable[tuple[str, list[ExampleResult]]]) -> list[OracleCase]:
    """Every case sshwall decided ``allow`` whose tool carries a shell command, de-duplicated."""
    out: dict[str, OracleCase] = {}
    for suite, results in suites:
        for r in results:
            if r.verdict.decision != Decision.ALLOW:
                continue
            prof = policy.profile.tools.get(r.example.tool)
            if prof is None:
                continue
            for arg in prof.args_of_kind("command"):
                command = r.example.arguments.get(arg)
                if isinstance(command, str) and command not in out:
                    out[command] = OracleCase(suite, r.example.tool, command)
    return list(out.values())


def run_cases(cases: Sequence[OracleCase], out: TextIO, policy: Policy | None = None, timeout: float = 5.0) -> int:
    """Run each case in one Oracle; print a violation table and a summary line."""
    from sshwall.oracle import Oracle, unavailable  # the sandbox is optional: import it late

    reason = unavailable()
    if reason is not None:
        out.write(f"sshwall test --oracle: the oracle cannot run here: {reason}\n")
        return EXIT_UNAVAILABLE
    runs: list[tuple[OracleCase, Run]] = []
    started = time.monotonic()
    with Oracle(timeout=timeout) as oracle:
        for note in oracle.notes:
            out.write(f"oracle note: {note}\n")
        for case in cases:
            expect = expectation(case.command, policy, case.tool)
            run = oracle.run(case.command, expect=expect)
            if run.timed_out and {v.kind for v in run.violations} == {"timeout"}:
                run = oracle.run(case.command, expect=expect, timeout=SLOW_LIMIT)  # slow, or endless?
            runs.append((case, run))
    elapsed = time.monotonic() - started
    bad = [(c, r) for c, r in runs if r.violations]
    out.write(f"== oracle: {len(runs)} allowed commands run, {len(bad)} with violations\n")
    if bad:
        out.write(f"{'kind':14} {'command':40} detail\n")
        for case, run in bad:
            for v in run.violations:
                shown = case.command if len(case.command) <= 40 else case.command[:37] + "..."
                out.write(f"{v.kind:14} {shown:40} {v.detail[:160]}\n")
    total = sum(len(r.violations) for _, r in runs)
    rate = len(runs) / elapsed if elapsed > 0 else 0.0
    out.write(f"oracle: {len(runs)} run, {total} violations ({rate:.1f} runs/s)\n")
    return EXIT_VIOLATION if bad else EXIT_OK
