"""The oracle's results: one ``Run`` per command, with the ``Violation``s it committed."""

from __future__ import annotations

from dataclasses import dataclass

# Every kind a Violation can have, in the order reports list them.
KINDS = ("write", "canary-read", "protected-read", "canary-output", "exec", "connect", "state", "timeout")


@dataclass(frozen=True)
class Violation:
    """One harmful thing a command did in the sandbox.

    ``kind`` is one of ``KINDS``; ``detail`` says what and where, with the evidence (a path, the
    strace line, the address).
    """

    kind: str
    detail: str


@dataclass(frozen=True)
class Run:
    """What one command did when the oracle ran it as ``bash -c COMMAND``.

    ``exit_code`` is None when the run was killed (``timed_out``) or the sandbox failed.
    ``execs`` lists the basenames of every program successfully executed, in order, the shell
    first (the oracle's own helpers are left out).
    """

    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    violations: tuple[Violation, ...]
    execs: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the run committed no violation."""
        return not self.violations


@dataclass(frozen=True)
class Expectation:
    """What a command may do in the sandbox besides reading: what sshwall claims about it.

    ``programs``: every program basename it may run (None: not checked); ``state_writes``:
    fnmatch globs of files its programs maintain themselves (their specs say so);
    ``connectors``: programs that may connect beyond loopback (``network: any`` in their specs).
    """

    programs: frozenset[str] | None = None
    state_writes: tuple[str, ...] = ()
    connectors: frozenset[str] = frozenset()
