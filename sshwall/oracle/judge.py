"""Turn what a run did (trace, upper layer, state, output) into ``Violation``s.

Attempts count, not only successes: the sandbox refuses more than a real server would (the
command lacks ptrace rights over pid 1 and the decoy's environment may be unreadable, the
network has no route), so a refused read of a protected path or a failed connect to another
host is judged as the server would have let it happen.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sshwall.oracle.canaries import Canary, is_protected, readers_of
from sshwall.oracle.model import Violation
from sshwall.oracle.trace import CHANGES, NETWORK, OPENS, SIGNALS, Call, Trace

# Writable device nodes a diagnostic may open: anything else under /dev (a new /dev/shm file,
# a tty other than its own) is outside the upper layer and must be judged from the trace.
DEV_WRITABLE = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/pts/*", "/dev/ptmx")
OWN_HELPERS = ("setpriv",)


@dataclass(frozen=True)
class Context:
    """What the judge needs besides the trace: the canaries, the decoy, the allowed programs."""

    canaries: tuple[Canary, ...]
    decoy_secret: str
    decoy_pid: int | None
    programs: frozenset[str] | None
    template: Path
    state_writes: tuple[str, ...] = ()  # fnmatch globs the policy says these programs maintain
    connectors: frozenset[str] = frozenset()  # programs the policy lets connect anywhere


def _short(text: str, n: int = 240) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _loopback(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Linux delivers a connect to the unspecified address to the local host.
    return ip.is_loopback or ip.is_unspecified


def _reads(call: Call) -> bool:
    if call.name == "creat":
        return False
    flags = call.args
    return "O_PATH" not in flags and ("O_RDONLY" in flags or "O_RDWR" in flags)


def _writes(call: Call) -> bool:
    return call.name == "creat" or any(f in call.args for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"))


def _own_thread_name(call: Call, path: str) -> bool:
    """``pthread_setname_np`` writes ``/proc/self/task/TID/comm``: a process naming its own
    threads (BIND's nslookup and dig do), which is what ``prctl(PR_SET_NAME)`` does, no state."""
    return path.endswith("/comm") and any(
        re.fullmatch(r"/proc/(self|thread-self)(/task/[0-9]+)?/comm", s) for s in call.strings()
    )


class Judge:
    """Judges one run; ``violations`` collects in the order they were found."""

    def __init__(self, ctx: Context, trace: Trace) -> None:
        self.ctx = ctx
        self.trace = trace
        self.violations: list[Violation] = []
        self.exe: dict[int, str] = {}
        self.pgid: dict[int, int | None] = {}
        self.started: set[int] = set()
        self.execs: list[str] = []
        self.touched: dict[str, str] = {}  # path -> the first strace line that changed it (evidence)
        self._canary = {c.path: c for c in ctx.canaries}

    def add(self, kind: str, detail: str) -> None:
        v = Violation(kind, _short(detail))
        if v not in self.violations:
            self.violations.append(v)

    # -- the trace ---------------------------------------------------------------------------
    def judge_trace(self) -> None:
        root = self.trace.root_pid
        if root is not None:
            self.started.add(root)
            self.pgid[root] = None  # None: the tracer's own process group
        seen_exec = 0
        for call in self.trace.calls:
            pid = call.pid
            if pid not in self.started:
                self.started.add(pid)
                parent = self.trace.parent.get(pid)
                self.exe.setdefault(pid, self.exe.get(parent, "") if parent else "")
                self.pgid.setdefault(pid, self.pgid.get(parent) if parent else None)
            name = call.name
            if name in ("clone", "clone3", "fork", "vfork") and call.ok and call.result.isdigit():
                child = int(call.result)
                self.started.add(child)
                self.exe[child] = self.exe.get(pid, "")
                self.pgid[child] = self.pgid.get(pid)
            elif name in ("execve", "execveat") and call.ok:
                strings = call.strings()
                base = program_name(strings[0]) if strings else "?"
                self.exe[pid] = base
                seen_exec += 1
                if seen_exec == 1 and base in OWN_HELPERS:
                    continue
                self.execs.append(base)
                shell = seen_exec == 2 and base == "bash"
                if not shell and self.ctx.programs is not None and base not in self.ctx.programs:
                    self.add("exec", f"ran {base!r} (not in the analysis): {call.line}")
            elif name == "setpgid" and call.ok:
                ints = call.first_ints()
                if len(ints) >= 2:
                    who = ints[0] or pid
                    self.pgid[who] = ints[1] or who
            elif name == "setsid" and call.ok:
                self.pgid[pid] = pid
            elif name in OPENS:
                self._open(call)
            elif name in CHANGES and call.ok:
                path = call.path() or ""
                self._touch(call)
                if path.startswith(("/dev/", "/proc/", "/sys/")):
                    self.add("write", f"{name} outside the overlay: {call.line}")
            elif name in NETWORK:
                self._network(call)
            elif name in SIGNALS:
                self._signal(call)
            elif name == "ptrace" and ("PTRACE_ATTACH" in call.args or "PTRACE_SEIZE" in call.args):
                ints = [int(p) for p in call.args.split(", ")[1:2] if p.lstrip("-").isdigit()]
                if ints and ints[0] not in self.started:
                    self.add("state", f"ptrace of a process it did not start: {call.line}")
            if call.injected:
                self.add("state", f"refused state-changing syscall {name}: {call.line}")

    def _open(self, call: Call) -> None:
        path = call.path()
        if path is None:
            return
        exe = self.exe.get(call.pid, "")
        # O_DIRECTORY: a listing (names are metadata, like stat), not the content of a secret.
        if _reads(call) and "O_DIRECTORY" not in call.args:
            canary = self._canary.get(path)
            if canary is not None:
                if exe not in canary.readers:
                    self.add("canary-read", f"{exe or '?'} opened canary {path}: {call.line}")
            elif self._decoy_environ(path):
                if exe not in readers_of(path):
                    self.add("canary-read", f"{exe or '?'} opened the decoy's environment {path}: {call.line}")
            elif is_protected(path) and exe not in readers_of(path):
                self.add("protected-read", f"{exe or '?'} opened protected {path}: {call.line}")
        if call.ok and _writes(call):
            self.touched.setdefault(path, call.line)
            if path.startswith("/dev/") and not any(fnmatch.fnmatchcase(path, p) for p in DEV_WRITABLE):
                self.add("write", f"opened {path} for writing (outside the overlay): {call.line}")
            elif path.startswith(("/proc/", "/sys/")) and not _own_thread_name(call, path):
                self.add("state", f"opened kernel interface {path} for writing: {call.line}")

    def _touch(self, call: Call) -> None:
        base = call.dirfd_path() or "/"
        for target in call.strings():
            if target:
                self.touched.setdefault(os.path.normpath(os.path.join(base, target)), call.line)

    def _evidence(self, path: str) -> str:
        line = self.touched.get(path)
        return f" (strace: {line})" if line else ""

    def _decoy_environ(self, path: str) -> bool:
        pid = self.ctx.decoy_pid
        return pid is not None and (fnmatch.fnmatchcase(path, f"/proc/{pid}/environ")
                                    or fnmatch.fnmatchcase(path, f"/proc/{pid}/task/*/environ"))

    def _network(self, call: Call) -> None:
        # Addresses inside an rtnetlink message are configuration, not a destination.
        netlink = "sa_family=AF_NETLINK" in call.args or "nlmsg_type=" in call.args
        addresses = [] if netlink else call.addresses()
        anywhere = self.exe.get(call.pid, "") in self.ctx.connectors
        for addr in addresses:
            if not _loopback(addr) and not anywhere:
                self.add("connect", f"{call.name} to {addr}: {call.line}")
        unix = call.unix_path()
        # A failed AF_UNIX connect reached nothing (the sandbox's /run and /tmp are empty, so
        # glibc's nscd probe and the like fail with ENOENT). Abstract sockets live in the
        # network namespace: only the command's own listeners. A pathname socket that answered
        # is something the command did not bring: flagged.
        if call.name == "connect" and unix and call.ok and not unix.startswith("@"):
            self.add("connect", f"connected to unix socket {unix}: {call.line}")
        change = call.netlink_change()
        if change:
            self.add("state", f"rtnetlink {change} (network configuration change): {call.line}")

    def _signal(self, call: Call) -> None:
        parts = [p.strip() for p in call.args.split(",")]
        if call.name == "pidfd_send_signal":
            if len(parts) > 1 and parts[1] != "0":
                self.add("state", f"signal through a pidfd: {call.line}")
            return
        index = {"kill": 1, "tkill": 1, "tgkill": 2, "rt_sigqueueinfo": 1, "rt_tgsigqueueinfo": 2}[call.name]
        if len(parts) <= index or parts[index] == "0":
            return  # signal 0 only probes
        try:
            target = int(parts[0].split("<", 1)[0])
        except ValueError:
            return
        if target == self.ctx.decoy_pid:
            self.add("state", f"signalled the decoy process: {call.line}")
        elif target == -1:
            self.add("state", f"signalled every process: {call.line}")
        elif target == 0:
            if self.pgid.get(call.pid) is None:
                self.add("state", f"signalled the tracer's process group: {call.line}")
        elif target < 0:
            if -target not in self.started:
                self.add("state", f"signalled a process group it did not start: {call.line}")
        elif target not in self.started:
            self.add("state", f"signalled process {target}, which it did not start: {call.line}")

    # -- the rest ----------------------------------------------------------------------------
    def judge_output(self, stdout: str, stderr: str) -> None:
        for c in self.ctx.canaries:
            for name, text in (("stdout", stdout), ("stderr", stderr)):
                if c.marker in text:
                    self.add("canary-output", f"marker of {c.path} in {name}")
        for name, text in (("stdout", stdout), ("stderr", stderr)):
            if self.ctx.decoy_secret in text:
                self.add("canary-output", f"the decoy process's secret in {name}")

    def judge_changes(self, changes: list[dict[str, object]]) -> None:
        created: list[str] = []  # new folders: their content is reported with them, not line by line
        inside: dict[str, int] = {}
        for ch in changes:
            path, kind = str(ch["path"]), str(ch["kind"])
            if any(fnmatch.fnmatchcase(path, g) for g in self.ctx.state_writes):
                continue  # the program's own cache or settings, declared in its spec
            top = next((d for d in created if path.startswith(d + "/")), None)
            if top is not None:
                inside[top] += 1
                continue
            lower = lower_stat(self.ctx.template, path)
            if kind in ("dir", "opaque-dir") and lower is None:
                created.append(path)
                inside[path] = 0
                continue
            if kind == "whiteout":
                self.add("write", f"deleted {path}{self._evidence(path)}")
            elif kind == "opaque-dir":
                self.add("write", f"replaced directory {path}{self._evidence(path)}")
            elif kind == "dir":
                assert lower is not None  # a new directory was handled above
                if (lower.st_mode, lower.st_uid, lower.st_gid) != (ch["mode"], ch["uid"], ch["gid"]):
                    self.add("write", f"changed mode/owner of directory {path}{self._evidence(path)}")
            else:
                what = "modified" if lower is not None else "created"
                self.add("write", f"{what} {kind} {path}{self._evidence(path)}")
        for path in created:
            self.add("write", f"created directory {path} ({inside[path]} entries inside){self._evidence(path)}")

    def judge_state(self, state: dict[str, list[object]]) -> None:
        for key, (before, after) in state.items():
            if key == "decoy_alive":
                self.add("state", "the decoy process died")
            elif key == "mounts":
                gone = sorted(set(before) - set(after))  # type: ignore[call-overload]
                new = sorted(set(after) - set(before))  # type: ignore[call-overload]
                self.add("state", f"mounts changed: -{gone[:3]} +{new[:3]}")
            else:
                self.add("state", f"{key} changed: {str(before)[:80]!r} -> {str(after)[:80]!r}")


_VERSIONED = re.compile(r"^(?P<name>.+?)[.-]?\d+(\.\d+)*$")


def program_name(path: str) -> str:
    """The basename, without a version suffix (kubectl.1.29 and python3.11 are kubectl, python)."""
    base = os.path.basename(path)
    m = _VERSIONED.match(base)
    return m.group("name") if m and not base[:1].isdigit() else base


def lower_stat(template: Path, path: str) -> os.stat_result | None:
    """What the layers under the run's upper layer hold at ``path`` (template, then host)."""
    parts = [p for p in path.split("/") if p]
    for n in range(1, len(parts) + 1):
        t = template.joinpath(*parts[:n])
        try:
            st = os.lstat(t)
        except OSError:
            continue
        if st.st_mode & 0o170000 == 0o020000 and st.st_rdev == 0:
            return None  # whiteout in the template: hidden from the host
        if n < len(parts):
            try:
                if os.getxattr(t, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                    try:
                        return os.lstat(template.joinpath(*parts))
                    except OSError:
                        return None
            except OSError:
                pass
        else:
            return st
    try:
        return os.lstat("/" + "/".join(parts))
    except OSError:
        return None
