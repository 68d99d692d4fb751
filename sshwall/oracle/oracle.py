"""``Oracle``: run a command the way the remote shell would, in a throwaway server, and judge it.

Per Oracle: one template layer (the server fixture with its canaries) on ``/dev/shm`` and one pids
cgroup. Per run: ``unshare`` starts ``inner.py`` as pid 1 of new namespaces; it mounts a fresh
tmpfs for the upper layer, so runs are independent and everything (mounts, processes, writes)
disappears with the namespace. This side only reads the files the run left and judges them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from types import TracebackType

from sshwall.errors import OracleUnavailable
from sshwall.oracle import server
from sshwall.oracle.canaries import make_canaries
from sshwall.oracle.cgroup import PidsCgroup
from sshwall.oracle.fixture import SCRATCH, build_template
from sshwall.oracle.judge import Context, Judge, program_name
from sshwall.oracle.model import Expectation, Run, Violation
from sshwall.oracle.probe import unavailable
from sshwall.oracle.trace import parse

INNER = Path(__file__).with_name("inner.py")
# Processes of the sandbox itself under the pids limit: unshare, pid 1, the decoy, strace.
OVERHEAD_PROCS = 4
MAX_OUTPUT = 1 << 20
# Address space per process (RLIMIT_AS): Go programs (kubectl, docker) reserve some GB of it.
MAX_MEMORY = 8 << 30


class Oracle:
    """A sandbox factory: ``with Oracle() as o: o.run("df -h")``.

    ``timeout`` bounds each run (a read-only diagnostic ends on its own); ``max_procs`` bounds
    the processes a command may have at once. ``notes`` lists what the fixture or limits could
    not provide on this machine.
    """

    def __init__(self, *, timeout: float = 5.0, max_procs: int = 64) -> None:
        reason = unavailable()
        if reason is not None:
            raise OracleUnavailable(reason)
        self.timeout = timeout
        self.max_procs = max_procs
        self.notes: list[str] = []
        self._base: Path | None = None
        self._cgroup: PidsCgroup | None = None
        self._finalizer: weakref.finalize | None = None
        self.canaries, self.decoy_secret = make_canaries()
        # Linux python (not a venv under /root or /work, which the sandbox hides) for pid 1.
        self._python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.realpath(sys.executable)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Oracle:
        self._ensure()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _ensure(self) -> Path:
        if self._base is None:
            base = Path(tempfile.mkdtemp(prefix="sshwall-oracle-", dir="/dev/shm"))
            try:
                for sub in ("template", "mnt", "runs"):
                    (base / sub).mkdir()
                os.chmod(base, 0o700)
                self.notes += build_template(base / "template", self.canaries)
            except BaseException:
                shutil.rmtree(base, ignore_errors=True)
                raise
            self._base = base
            self._cgroup = PidsCgroup(self.max_procs + OVERHEAD_PROCS)
            if self._cgroup.path is None:
                self.notes.append(f"no process limit ({self._cgroup.reason}): the time limit bounds fork bombs")
            # An Oracle never closed (a test that forgot `with`) still leaves nothing behind
            # at interpreter exit: 25 MB of tmpfs and a cgroup are machine state.
            self._finalizer = weakref.finalize(self, _cleanup, base, self._cgroup)
        return self._base

    def close(self) -> None:
        """Remove the template and the cgroup. Safe to call twice."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._cgroup = None
        self._base = None

    @property
    def template(self) -> Path:
        """The template layer's folder (exists between enter and close)."""
        return self._ensure() / "template"

    # -- one run -----------------------------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        cwd: str = "/root",
        programs: frozenset[str] | None = None,
        expect: Expectation | None = None,
        timeout: float | None = None,
    ) -> Run:
        """Run ``bash -c command`` as root in ``cwd`` inside a fresh sandbox and judge it.

        ``programs``: the basenames sshwall's analysis found in the command; any other program
        executed is an "exec" violation (None: execs are not checked). ``expect`` says the same
        and more, from the policy (``sshwall.oracle.report.expectation``): the helpers the
        programs run, the files they maintain, who may connect anywhere. ``timeout`` overrides
        the Oracle's for this run.
        """
        if expect is None:
            expect = Expectation(programs)
        base = self._ensure()
        rundir = Path(tempfile.mkdtemp(dir=base / "runs"))
        try:
            return self._run(command, cwd, expect, rundir, self.timeout if timeout is None else timeout)
        finally:
            shutil.rmtree(rundir, ignore_errors=True)

    def _run(self, command: str, cwd: str, expect: Expectation, rundir: Path, limit: float) -> Run:
        assert self._base is not None and self._cgroup is not None
        names = ("stdout", "stderr", "trace", "result")
        files = {n: open(rundir / n, "w+b") for n in names}  # noqa: SIM115 - closed in the finally below
        try:
            fds = {n: f.fileno() for n, f in files.items()}
            cfg = {
                "fds": fds, "mnt": str(self._base / "mnt"), "template": str(self._base / "template"),
                "command": command, "cwd": cwd, "timeout": limit, "env": {**server.COMMAND_ENV, "PWD": cwd},
                "hostname": server.HOSTNAME, "scratch": SCRATCH, "api_ports": server.API_PORTS,
                "api_routes": server.api_routes(), "strace_args": server.strace_args(),
                "drop_caps": [n for n, _ in server.DROP_CAPS if n <= _cap_last()],
                "setpriv_drop": ",".join(f"-{name}" for n, name in server.DROP_CAPS if n <= _cap_last()),
                "decoy_argv": ["app-worker", "infinity"], "decoy_exe": "/usr/bin/sleep",
                "decoy_env": server.decoy_env(self.decoy_secret), "max_memory": MAX_MEMORY,
            }
            (rundir / "config.json").write_text(json.dumps(cfg))
            cfg_r = os.open(rundir / "config.json", os.O_RDONLY)
            argv = ["unshare", "--mount", "--pid", "--fork", "--net", "--uts", "--ipc", "--cgroup",
                    "--kill-child", "--propagation", "private", self._python, "-I", "-S", str(INNER), str(cfg_r)]
            hits = self._cgroup.hits()
            try:
                # The shell joins the pids cgroup, then becomes unshare: everything forked later
                # is inside (a preexec_fn would cost a full fork of this process per run).
                done = subprocess.run(self._cgroup.wrap(argv), pass_fds=(cfg_r, *fds.values()),
                                      stdin=subprocess.DEVNULL, capture_output=True, timeout=limit + 30)
                inner_err = done.stderr.decode(errors="replace")
            except subprocess.TimeoutExpired:
                inner_err = "the sandbox itself did not finish (killed)"
            finally:
                os.close(cfg_r)
            out = {n: _read(f) for n, f in files.items()}
        finally:
            for f in files.values():
                f.close()
        try:
            result = json.loads(out["result"] or "{}")
        except json.JSONDecodeError:
            result = {}
        stdout = out["stdout"]
        # strace's own diagnostics share the command's stderr; they are not the command's.
        stderr = "".join(line for line in out["stderr"].splitlines(keepends=True) if not line.startswith("strace: "))
        if not result.get("ok"):
            # A sandbox failure is never a pass: it is reported as a violation the caller sees.
            why = result.get("error") or inner_err.strip()[-400:] or "no result"
            return Run(command, None, stdout, stderr, False, (Violation("state", f"sandbox failed: {why}"),), ())
        ctx = Context(
            self.canaries, self.decoy_secret, result.get("decoy_pid"),
            None if expect.programs is None else frozenset(map(program_name, expect.programs)),
            self._base / "template", expect.state_writes, frozenset(map(program_name, expect.connectors)),
        )
        judge = Judge(ctx, parse(out["trace"]))
        judge.judge_trace()
        judge.judge_output(stdout, out["stderr"])  # unfiltered: a marker on a "strace: " line still counts
        judge.judge_changes(result.get("changes", []))
        judge.judge_state(result.get("state", {}))
        timed_out = bool(result.get("timed_out"))
        if timed_out:
            judge.add("timeout", f"still running after {limit:g} s (killed)")
        if self._cgroup.hits() > hits:
            judge.add("timeout", f"hit the process limit ({self.max_procs} processes)")
        return Run(command, result.get("exit_code"), stdout, stderr, timed_out, tuple(judge.violations),
                   tuple(judge.execs))


def _cleanup(base: Path, cgroup: PidsCgroup) -> None:
    cgroup.close()
    shutil.rmtree(base, ignore_errors=True)


def _read(f: object) -> str:
    f.seek(0)  # type: ignore[attr-defined]
    return f.read(MAX_OUTPUT * 16).decode(errors="replace")  # type: ignore[attr-defined]


def _cap_last() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40
