"""The strace parser and the judge on recorded log lines (no sandbox, no root needed)."""

from __future__ import annotations

from pathlib import Path

from sshwall.oracle.canaries import CANARY_PATHS, is_protected, make_canaries
from sshwall.oracle.judge import Context, Judge, lower_stat
from sshwall.oracle.trace import parse, unescape

LOG = """\
10 execve("/usr/bin/setpriv", ["setpriv", "--bounding-set", "-sys_admin", "--", "/bin/bash", "-c", "x"], 0x1 /* 9 vars */) = 0
10 execve("/bin/bash", ["/bin/bash", "-c", "x"], 0x2 /* 9 vars */) = 0
10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, child_tidptr=0x7f) = 11
11 execve("/usr/bin/find", ["find", "/srv"], 0x3 /* 9 vars */) = 0
11 openat(AT_FDCWD</srv/app>, ".env", O_RDONLY|O_CLOEXEC <unfinished ...>
12 kill(99, SIGTERM <unfinished ...>
11 <... openat resumed>) = 4</srv/app/.env>
12 <... kill resumed>) = 0
11 openat(AT_FDCWD</root>, "/root/.ssh", O_RDONLY|O_DIRECTORY) = 5</root/.ssh>
11 openat(AT_FDCWD</root>, "/root/.ssh/id_ecdsa", O_RDONLY) = -1 ENOENT (No such file or directory)
11 openat(AT_FDCWD</root>, "/root/.ssh/id_rsa.pub", O_RDONLY) = 3</root/.ssh/id_rsa.pub>
11 clone(child_stack=NULL, flags=SIGCHLD) = 13
13 execve("/usr/bin/id", ["id"], 0x4 /* 9 vars */) = 0
13 connect(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("10.0.0.1")}, 16) = -1 ENETUNREACH (Network is unreachable)
13 connect(3<socket:[2]>, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
13 connect(3<socket:[3]>, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
13 sethostname("evil", 4)            = -1 EPERM (Operation not permitted) (INJECTED)
13 kill(0, SIGKILL) = 0
13 kill(13, 0) = 0
13 sendmsg(3<socket:[4]>, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_iov=[{iov_base=[{nlmsg_len=40, nlmsg_type=RTM_NEWADDR, nlmsg_flags=NLM_F_REQUEST}, {ifa_family=AF_INET}, [{nla_type=IFA_LOCAL}, inet_addr("10.1.1.1")]]}], msg_flags=0}, 0) = 40
"""


def _judge(programs: frozenset[str] | None = frozenset({"find"})) -> Judge:
    canaries, secret = make_canaries("t")
    judge = Judge(Context(canaries, secret, 99, programs, Path("/nonexistent-template")), parse(LOG))
    judge.judge_trace()
    return judge


def test_unfinished_lines_are_joined_and_paths_resolved() -> None:
    trace = parse(LOG)
    opens = [c for c in trace.calls if c.name == "openat"]
    assert opens[0].path() == "/srv/app/.env" and opens[0].ok
    assert trace.parent == {11: 10, 13: 11}
    kills = [c for c in trace.calls if c.name == "kill"]
    assert kills[0].args == "99, SIGTERM" and kills[0].result == "0"


def test_unescape() -> None:
    assert unescape(r"a\"b\\c\x41\n\101") == 'a"b\\cA\nA'


def test_judge_kinds() -> None:
    got = {(v.kind, v.detail.split(":")[0]) for v in _judge().violations}
    assert ("canary-read", "find opened canary /srv/app/.env") in got
    assert ("protected-read", "find opened protected /root/.ssh/id_ecdsa") in got  # attempt counts
    assert ("exec", "ran 'id' (not in the analysis)") in got  # setpriv and the shell are not counted
    assert ("connect", "connect to 10.0.0.1") in got
    assert ("state", "signalled the decoy process") in got
    assert ("state", "refused state-changing syscall sethostname") in got
    assert ("state", "signalled the tracer's process group") in got
    assert ("state", "rtnetlink RTM_NEWADDR (network configuration change)") in got
    details = " ".join(v.detail for v in _judge().violations)
    assert "::1" not in details and "nscd" not in details and "id_rsa.pub" not in details
    assert "/root/.ssh>" not in details  # a directory listing is not a read
    assert "10.1.1.1" not in details  # an address inside a netlink message is not a destination
    assert "kill(13, 0)" not in details


def test_execs_and_no_exec_check() -> None:
    judge = _judge(programs=None)
    assert judge.execs == ["bash", "find", "id"]
    assert not any(v.kind == "exec" for v in judge.violations)


def test_protected_patterns() -> None:
    assert [p for p in CANARY_PATHS if not is_protected(p)] == []
    assert is_protected("/proc/1/environ") and is_protected("/home/bob/.ssh/id_ed25519")
    assert not is_protected("/root/.ssh/id_ed25519.pub") and not is_protected("/etc/passwd")


def test_lower_stat_falls_back_to_the_host(tmp_path: Path) -> None:
    assert lower_stat(tmp_path, "/etc/passwd") is not None
    assert lower_stat(tmp_path, "/etc/no-such-file-here") is None
