"""Process 1 of one oracle run: builds the sandbox, runs the command under strace, reports.

This file is executed, not imported: ``unshare ... python -I -S inner.py`` starts it as pid 1 of
fresh mount, pid, net, uts, ipc and cgroup namespaces. It uses the standard library only and
imports everything it needs before ``pivot_root`` (after it, the venv may no longer be visible).

Inputs come on inherited file descriptors named in the JSON config (fd given as argv[1]):
stdout/stderr files for the command, the strace log, and the result file. The strace log is
opened by strace through ``/proc/1/fd/N``: the command, whose capabilities are a strict subset
of ours, cannot open that link (ptrace access check), so it cannot rewrite its own trace.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs", "acpi", "scsi")
# Files under /proc that leak kernel memory, consume the kernel log, or expose keyrings.
PROC_MASKED = ("kcore", "kmsg", "keys", "timer_list", "sched_debug", "latency_stats", "kallsyms")
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def bind_readonly(path: str, recursive: bool = False) -> None:
    rec = MS_REC if recursive else 0
    mount(path, path, None, MS_BIND | rec)
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | rec)


def build_dev(dev: str) -> None:
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m")
    for name, major, minor in DEVICES:
        os.mknod(f"{dev}/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"{dev}/{name}", 0o666)
    for link, to in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
        os.symlink(to, f"{dev}/{link}")
    os.mkdir(f"{dev}/pts")
    os.mkdir(f"{dev}/shm")
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m")


def build_proc(proc: str) -> None:
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READONLY:
        if os.path.exists(f"{proc}/{name}"):
            bind_readonly(f"{proc}/{name}", recursive=True)
    for name in PROC_MASKED:
        if os.path.exists(f"{proc}/{name}"):
            mount("/dev/null", f"{proc}/{name}", None, MS_BIND)


def pivot(new_root: str) -> None:
    os.chdir(new_root)
    nr = SYS_PIVOT_ROOT[os.uname().machine]
    _check(_libc.syscall(nr, b".", b".oracle-oldroot"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.oracle-oldroot", MNT_DETACH), "umount old root")


def loopback_up() -> None:
    # SIOCGIFFLAGS / SIOCSIFFLAGS: no need to exec `ip` for one flag.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, req))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))


def drop_bounding(caps: list[int]) -> None:
    """preexec hook: after exec, a root process's capabilities are its bounding set."""
    for cap in caps:
        _libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP


def _serve(listener: socket.socket, routes: dict[str, list[str]]) -> None:
    """A minimal HTTP/1.0 responder (http.server costs ~70 ms of imports on every run)."""
    while True:
        conn, _ = listener.accept()
        try:
            conn.settimeout(2.0)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            parts = data.split(b" ", 2)
            method = parts[0].decode(errors="replace") if parts else ""
            path = parts[1].decode(errors="replace").split("?", 1)[0] if len(parts) > 1 else "/"
            ctype, body = routes.get(path, routes["*"])
            status = "200 OK" if path in routes else "404 Not Found"
            payload = body.encode()
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                    f"Server: nginx\r\nConnection: close\r\n\r\n").encode()
            conn.sendall(head if method == "HEAD" else head + payload)
        except OSError:
            pass
        finally:
            conn.close()


def start_api(ports: list[int], routes: dict[str, list[str]]) -> None:
    """The loopback services (health, metrics, a cluster API), one thread per port."""
    for port in ports:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        listener.listen(16)
        threading.Thread(target=_serve, args=(listener, routes), daemon=True).start()


def net_state() -> str:
    parts = []
    for name in sorted(os.listdir("/sys/class/net")):
        for attr in ("flags", "mtu", "address", "operstate"):
            try:
                with open(f"/sys/class/net/{name}/{attr}") as f:
                    parts.append(f"{name}.{attr}={f.read().strip()}")
            except OSError:
                pass
    # Routing tables without their use counters and cached entries (RTF_CACHE), which a mere
    # connection changes; addresses as listed by fib_trie and if_inet6.
    tables = {"/proc/net/fib_trie": None, "/proc/net/if_inet6": None,
              "/proc/net/route": (0, 1, 2, 3, 6, 7), "/proc/net/ipv6_route": (0, 1, 2, 3, 4, 8, 9)}
    for table, keep in tables.items():
        try:
            with open(table) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        if keep is None:
            parts.extend(lines)
            continue
        for line in lines:
            fields = line.split()
            if table.endswith("ipv6_route") and len(fields) > 8 and int(fields[8], 16) & 0x01000000:
                continue
            parts.append(" ".join(fields[i] for i in keep if i < len(fields)))
    return "\n".join(parts)


def machine_state(decoy: subprocess.Popen[bytes] | None) -> dict[str, object]:
    with open("/proc/self/mountinfo") as f:
        # Drop the mount ids: only what is mounted where, and how, is state.
        mounts = sorted(" ".join(line.split()[4:]) for line in f)
    alive = decoy is not None and decoy.poll() is None
    return {"hostname": socket.gethostname(), "mounts": mounts, "net": net_state(),
            "decoy_alive": alive, "clock_offset": time.time() - time.monotonic()}


def upper_changes(upper_fd: int, scratch: str) -> list[dict[str, object]]:
    """Every entry of the upper layer: the run's writes, deletes (whiteouts) and copy-ups."""
    out: list[dict[str, object]] = []
    for top, dirs, files, dfd in os.fwalk(".", dir_fd=upper_fd):
        rel_top = top[1:] or "/"
        for name in dirs + files:
            path = (rel_top.rstrip("/") + "/" + name)
            if path == scratch or path.startswith(scratch + "/"):
                continue
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            kind = "file"
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = "whiteout"
            elif stat.S_ISDIR(st.st_mode):
                kind = "dir"
                try:
                    if os.getxattr(f"/proc/self/fd/{dfd}/{name}", "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                        kind = "opaque-dir"
                except OSError:
                    pass
            elif stat.S_ISLNK(st.st_mode):
                kind = "symlink"
            elif not stat.S_ISREG(st.st_mode):
                kind = "special"
            out.append({"path": path, "kind": kind, "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid})
    return out


def reap() -> None:
    while True:
        try:
            if os.waitpid(-1, 0)[0] <= 0:
                return
        except ChildProcessError:
            return


def main() -> None:
    cfg = json.load(os.fdopen(int(sys.argv[1])))
    result: dict[str, object] = {"ok": False}
    # pid 1 gets only signals it has handlers for; keep Ctrl-C semantics out of the sandbox.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    res_fd = cfg["fds"]["result"]
    try:
        run(cfg, result)
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - the outer side turns this into an unusable run, never a pass
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap()
        with os.fdopen(res_fd, "w") as f:
            json.dump(result, f)


def run(cfg: dict, result: dict[str, object]) -> None:
    t0 = time.monotonic()
    phases: dict[str, float] = {}
    result["phases"] = phases
    fds = cfg["fds"]
    for fd in fds.values():
        os.set_inheritable(fd, False)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    base = cfg["mnt"]
    mount("tmpfs", base, "tmpfs", MS_NOSUID, "mode=700,size=512m")
    upper, work, root = f"{base}/upper", f"{base}/work", f"{base}/root"
    for d in (upper, work, root):
        os.mkdir(d)
    mount("overlay", root, "overlay", 0, f"lowerdir={cfg['template']}:/,upperdir={upper},workdir={work}")
    upper_fd = os.open(upper, os.O_PATH | os.O_DIRECTORY)
    build_dev(f"{root}/dev")
    build_proc(f"{root}/proc")
    mount("sysfs", f"{root}/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    pivot(root)
    phases["mounts"] = time.monotonic() - t0
    name = cfg["hostname"].encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")
    loopback_up()
    caps = cfg["drop_caps"]
    # Bounds per process, inherited by everything started below: a runaway allocation fails
    # instead of pushing the machine into swap or the OOM killer; no core files.
    resource.setrlimit(resource.RLIMIT_AS, (cfg["max_memory"], cfg["max_memory"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    decoy = subprocess.Popen(cfg["decoy_argv"], executable=cfg["decoy_exe"], env=cfg["decoy_env"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd="/", preexec_fn=lambda: drop_bounding(caps), start_new_session=True)
    result["decoy_pid"] = decoy.pid
    # Threads only after the last fork with a preexec hook (fork + threads + Python code in
    # the child can deadlock on a lock another thread held).
    start_api(cfg["api_ports"], cfg["api_routes"])
    before = machine_state(decoy)
    phases["ready"] = time.monotonic() - t0
    argv = ["strace", "-o", f"/proc/1/fd/{fds['trace']}", *cfg["strace_args"], "--",
            "setpriv", "--bounding-set", cfg["setpriv_drop"], "--", "/bin/bash", "-c", cfg["command"]]
    cwd = cfg["cwd"] if os.path.isdir(cfg["cwd"]) else "/"
    result["cwd_missing"] = cwd != cfg["cwd"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=cfg["env"], stdin=subprocess.DEVNULL,
                            stdout=fds["stdout"], stderr=fds["stderr"], close_fds=True)
    try:
        code: int | None = proc.wait(timeout=cfg["timeout"])
        result["timed_out"] = False
    except subprocess.TimeoutExpired:
        # Freeze everything (decoy included) so the state we read is the state it left.
        os.kill(-1, signal.SIGSTOP)
        code = None
        result["timed_out"] = True
    result["elapsed"] = time.monotonic() - started
    if code is not None and code < 0:
        code = 128 - code
    result["exit_code"] = code
    after = machine_state(decoy)
    result["state"] = {k: [before[k], after[k]] for k in before if before[k] != after[k]
                       and not (k == "clock_offset" and abs(float(after[k]) - float(before[k])) < 1.0)}  # type: ignore[arg-type]
    os.kill(-1, signal.SIGKILL)
    reap()
    result["changes"] = upper_changes(upper_fd, cfg["scratch"])
    phases["done"] = time.monotonic() - t0


if __name__ == "__main__":
    main()
