"""The execution oracle: run an allowed command for real in a throwaway server and judge it.

An allowed command is a claim that it is harmless; the oracle measures the claim. It runs
``bash -c COMMAND`` as root in Linux namespaces over a copy-on-write overlay of the machine's
root, with canary secrets planted at protected paths, and reports every write, secret read,
hidden exec, connection, state change and timeout as a ``Violation``. Test-side only: it needs
Linux, root, ``unshare``, ``strace`` and overlayfs (``unavailable()`` says what is missing;
without them ``Oracle()`` raises ``sshwall.errors.OracleUnavailable``).
See docs/oracle.md.
"""

from __future__ import annotations

from sshwall.oracle.canaries import CANARY_PATHS, PROTECTED_PATTERNS
from sshwall.oracle.model import KINDS, Expectation, Run, Violation
from sshwall.oracle.oracle import Oracle
from sshwall.oracle.probe import unavailable

__all__ = ["CANARY_PATHS", "KINDS", "PROTECTED_PATTERNS", "Expectation", "Oracle", "Run", "Violation", "unavailable"]
