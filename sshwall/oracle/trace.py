"""Parse an ``strace -f -y`` log into the events the judge reads.

Only the syscalls ``server.TRACED`` names appear. Lines split by another thread
(``<unfinished ...>`` / ``<... resumed>``) are joined first. ``-y`` decorates every fd with its
path (``3</etc/passwd>``) and ``AT_FDCWD`` with the caller's cwd, which resolves relative paths
without replaying chdir.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^([a-z_0-9]+)\((.*)\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)(.*)$", re.S)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DECOR = re.compile(r"^(?:AT_FDCWD|-?\d+)<([^>]*)>")
_RESULT_PATH = re.compile(r"^<(.*)>")
_INET = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=(@?)"((?:[^"\\]|\\.)*)"')
_NETLINK_CHANGE = re.compile(r"nlmsg_type=(RTM_(?:NEW|DEL|SET)[A-Z]+)")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", '"': '"', "\\": "\\"}

OPENS = frozenset({"open", "openat", "openat2", "creat", "open_by_handle_at"})
SIGNALS = frozenset({"kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal"})
NETWORK = frozenset({"connect", "sendto", "sendmsg", "sendmmsg"})
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
CHANGES = frozenset({"truncate", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir",
                     "mkdirat", "mknod", "mknodat", "chmod", "fchmodat", "fchmodat2", "chown", "lchown",
                     "fchownat", "link", "linkat", "symlink", "symlinkat"})


def unescape(text: str) -> str:
    """Undo strace's string escapes (``\\n``, ``\\x41``, octal)."""
    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        if s[0] == "x" and len(s) == 3:
            return chr(int(s[1:], 16))
        if s[0].isdigit():
            return chr(int(s, 8))
        return _SIMPLE.get(s, s)
    return _ESCAPE.sub(one, text)


@dataclass(frozen=True)
class Call:
    """One completed syscall: who made it, with what, and what it returned."""

    pid: int
    name: str
    args: str
    result: str
    tail: str
    line: str

    @property
    def ok(self) -> bool:
        """True when the call succeeded (a non-negative result)."""
        return not self.result.startswith("-") and self.result != "?"

    @property
    def injected(self) -> bool:
        """True when strace refused the call (a state-changing syscall)."""
        return "(INJECTED)" in self.tail

    def strings(self) -> list[str]:
        """The string literals among the arguments, unescaped."""
        return [unescape(s) for s in _STRING.findall(self.args)]

    def result_path(self) -> str | None:
        """The path ``-y`` printed for a returned fd, if any."""
        m = _RESULT_PATH.match(self.tail)
        return m.group(1) if m else None

    def dirfd_path(self) -> str | None:
        """The path of the first (dirfd) argument, as ``-y`` decorated it."""
        m = _DECOR.match(self.args)
        return m.group(1) if m else None

    def path(self) -> str | None:
        """The absolute path the call named: the fd's real path when one was returned."""
        real = self.result_path() if self.ok else None
        if real and real.startswith("/"):
            return real
        strings = self.strings()
        if not strings:
            return None
        target = strings[0]
        if not target.startswith("/"):
            base = self.dirfd_path() or "/"
            target = os.path.join(base, target)
        return os.path.normpath(target)

    def addresses(self) -> list[str]:
        """IPv4/IPv6 addresses in a socket address argument."""
        return [a or b for a, b in _INET.findall(self.args)]

    def unix_path(self) -> str | None:
        """The AF_UNIX path (``@name`` for an abstract socket)."""
        m = _UNIX.search(self.args)
        return None if m is None else m.group(1) + unescape(m.group(2))

    def netlink_change(self) -> str | None:
        """An rtnetlink message type that would change links, addresses or routes."""
        m = _NETLINK_CHANGE.search(self.args)
        return m.group(1) if m else None

    def first_ints(self) -> list[int]:
        """The leading integer arguments (pids, signal numbers are symbolic: see ``signal``)."""
        out = []
        for part in self.args.split(", "):
            part = re.sub(r"<[^>]*>$", "", part)
            if re.fullmatch(r"-?\d+", part):
                out.append(int(part))
            else:
                break
        return out


@dataclass
class Trace:
    """All calls of one run, in log order, and the process tree strace saw."""

    calls: list[Call] = field(default_factory=list)
    root_pid: int | None = None
    parent: dict[int, int] = field(default_factory=dict)


def parse(text: str) -> Trace:
    """Parse a whole log (missing or garbled lines are skipped, never fatal)."""
    trace = Trace()
    pending: dict[int, str] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if trace.root_pid is None:
            trace.root_pid = pid
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        if rest.startswith("<... "):
            head = pending.pop(pid, "")
            rest = head + rest.split("resumed>", 1)[-1]
        c = _CALL.match(rest)
        if not c:
            continue
        call = Call(pid, c.group(1), c.group(2), c.group(3), c.group(4).strip(), rest)
        trace.calls.append(call)
        if call.name in FORKS and call.ok and call.result.isdigit():
            trace.parent[int(call.result)] = pid
    return trace
