"""The template layer: what makes the sandbox look like a web server with secrets on it.

The template is an overlay lower layer stacked above the machine's root (``lowerdir=T:/``). It
lives on a tmpfs (``/dev/shm``) because overlayfs refuses layers nested in one another on the
same filesystem. Folders whose host content is irrelevant or private (``/root``, ``/home``,
``/tmp``, ``/run``, ``/var/log``, ...) are *opaque* here, so the sandbox sees only the fixture;
``/run`` and ``/tmp`` must be, or a host daemon's socket there would be reachable through the
overlay (a network namespace does not isolate filesystem sockets).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import struct
import subprocess
import tarfile
import time
from pathlib import Path

from sshwall.oracle.canaries import Canary
from sshwall.oracle.journal import write_journals
from sshwall.oracle.server import HOSTNAME

SCRATCH = "/tmp/oracle-scratch"
OPAQUE = ("/root", "/home", "/tmp", "/run", "/var/tmp", "/var/log", "/srv", "/var/www", "/var/backups",
          "/var/spool/cron", "/var/lib/rancher", "/var/lib/kubelet", "/etc/kubernetes", "/etc/letsencrypt",
          "/etc/wireguard", "/etc/openvpn", "/etc/credstore", "/etc/credstore.encrypted", "/etc/ssl/private",
          "/etc/sudoers.d", "/etc/nginx")
# Host-specific top-level entries a server would not have (and that are none of the command's
# business): hidden with whiteouts.
HIDDEN = ("/work", "/old_root", "/farm", "/container_info.json", "/pyenv-installer", "/mnt/sandboxing")

NGINX_CONF = """user www-data;
worker_processes auto;
events { worker_connections 768; }
http {
    keepalive_timeout 65;
    proxy_read_timeout 30s;
    access_log /var/log/nginx/access.log;
    error_log /var/log/nginx/error.log;
    server { listen 80 default_server; root /var/www/html; server_name _; }
}
"""


def _write(root: Path, path: str, text: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0,
           mtime: float | None = None) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        target.write_text(text)
    else:
        target.write_bytes(text)
    os.chown(target, uid, gid)
    os.chmod(target, mode)
    if mtime is not None:
        os.utime(target, (mtime, mtime))


def _opaque(root: Path, path: str) -> None:
    target = root / path.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    host = Path(path)
    if host.is_dir():
        st = host.stat()
        os.chmod(target, st.st_mode & 0o7777)
        os.chown(target, st.st_uid, st.st_gid)
    os.setxattr(target, "trusted.overlay.opaque", b"y")


def _whiteout(root: Path, path: str) -> None:
    if not os.path.lexists(path):
        return
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(target, 0o600 | 0o020000, os.makedev(0, 0))


def _logs(root: Path, now: float) -> None:
    stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(now - 600))
    syslog = "".join(
        f"{stamp} {HOSTNAME} {src}: {msg}\n" for src, msg in (
            ("systemd[1]", "Started nginx.service - A high performance web server."),
            ("kernel", "[ 1.234] EXT4-fs (vda): mounted filesystem with ordered data mode"),
            ("app[812]", "error: upstream timed out (110: Connection timed out)"),
            ("CRON[901]", "(root) CMD (run-parts /etc/cron.hourly)"),
            ("app[812]", "ERROR: payment webhook returned 502"),
        ) * 20)
    _write(root, "/var/log/syslog", syslog, 0o640, 0, 4)
    _write(root, "/var/log/auth.log", f"{stamp} {HOSTNAME} sshd[700]: Accepted publickey for ops from 10.0.0.5\n" * 5, 0o640, 0, 4)
    _write(root, "/var/log/app.log", "".join(f"2024-05-0{i % 9 + 1} level=info msg=\"request ok\"\n" for i in range(40)))
    access = "".join(f"10.0.0.{i % 7} - - [01/Jan/2025:10:00:{i % 60:02d} +0000] \"GET /{i % 3} HTTP/1.1\" 200 512\n"
                     for i in range(200))
    _write(root, "/var/log/nginx/access.log", access, 0o640, 33, 4)
    _write(root, "/var/log/nginx/error.log", "2025/01/01 10:00:00 [error] 812#812: *1 upstream timed out\n" * 30, 0o640, 33, 4)
    old = now - 30 * 86400
    _write(root, "/var/log/syslog.2.gz", gzip.compress(syslog.encode()), 0o640, 0, 4, mtime=old)
    _write(root, "/var/log/nginx/access.log.2.gz", gzip.compress(access.encode()), 0o640, 33, 4, mtime=old)
    # Compressed copies for zcat/bzcat/xzcat/zgrep, a plain tar for tar -t.
    _write(root, "/var/log/oracle.gz", gzip.compress(syslog.encode()), 0o640, 0, 4)
    _write(root, "/var/log/oracle.bz2", bz2.compress(syslog.encode()), 0o640, 0, 4)
    _write(root, "/var/log/oracle.xz", lzma.compress(syslog.encode()), 0o640, 0, 4)
    _write(root, "/var/log/wtmp", _utmp_records(now), 0o664, 0, 43)
    _write(root, "/var/log/btmp", b"", 0o660, 0, 43)
    _write(root, "/var/log/lastlog", b"", 0o664, 0, 43)
    _write(root, "/run/utmp", _utmp_records(now)[:384], 0o664, 0, 43)


def _utmp_records(now: float) -> bytes:
    """Two login records in glibc's struct utmp layout (384 bytes each), for last/who/uptime."""
    out = b""
    for n, (user, host) in enumerate((("ops", "10.0.0.5"), ("alice", "10.0.0.9"))):
        out += struct.pack("hi32s4s32s256shhiii4i20s", 7, 1000 + n, f"pts/{n}".encode(), f"ts/{n}".encode(),
                           user.encode(), host.encode(), 0, 0, 0, int(now) - 3600 * (n + 1), 0, 0, 0, 0, 0, b"")
    return out


def _git_repo(root: Path, now: float) -> None:
    repo = root / "srv/app"
    repo.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "root"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Ops", "GIT_AUTHOR_EMAIL": "ops@example.com", "GIT_COMMITTER_NAME": "Ops",
           "GIT_COMMITTER_EMAIL": "ops@example.com", "LC_ALL": "C"}

    def git(*args: str, when: float) -> None:
        stamp = f"@{int(when)} +0000"
        subprocess.run(["git", "-C", str(repo), *args], env={**env, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
                       check=True, capture_output=True)

    git("init", "-q", "-b", "main", when=now - 86400 * 3)
    files = [
        ("README.md", "# app\n"), (".gitignore", ".env\n.env.*\nconfig/master.key\n"),
        ("app.py", "print('hello')\n"), ("config/settings.py", "TIMEOUT = 30\n"), ("app.py", "print('hello, world')\n"),
    ]
    for n, (name, text) in enumerate(files):
        _write(root, f"/srv/app/{name}", text)
        git("add", name, when=now - 86400 * (3 - n * 0.5))
        git("commit", "-q", "-m", f"change {n}: {name}", when=now - 86400 * (3 - n * 0.5))
    # Work-tree files older than the index, or `git status` re-reads them (racy-git) and
    # may rewrite .git/index: a write the sandbox would rightly flag.
    for path in repo.rglob("*"):
        if ".git" not in path.parts and path.is_file():
            os.utime(path, (now - 7200, now - 7200))
    subprocess.run(["git", "-C", str(repo), "update-index", "--refresh", "-q"], env=env, capture_output=True)
    subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], env=env, capture_output=True)


def _system_files(root: Path, now: float) -> None:
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    names = [line.split(":", 1)[0] for line in passwd.splitlines() if line]
    if "alice" not in names:
        passwd += "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
        group += "alice:x:1000:\n"
    if "www-data" not in names:
        passwd += "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    _write(root, "/etc/passwd", passwd)
    _write(root, "/etc/group", group)
    _write(root, "/etc/hostname", HOSTNAME + "\n")
    _write(root, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost\n")
    _write(root, "/etc/nginx/nginx.conf", NGINX_CONF)
    _write(root, "/etc/nginx/sites-enabled/default", "server { listen 80; location / { proxy_pass http://127.0.0.1:8080; } }\n")
    _write(root, "/var/www/html/index.html", "<html><body>It works</body></html>\n", 0o644, 33, 33)
    _write(root, "/var/spool/cron/crontabs/root", "# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup\n", 0o600, 0, 0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("etc/hostname", "etc/hosts", "etc/nginx/nginx.conf"):
            tar.add(root / name, arcname=name)
    _write(root, "/var/backups/etc.tar.gz", buf.getvalue(), 0o600)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(root / "etc/hostname", arcname="etc/hostname")
    _write(root, "/var/backups/oracle.tar", buf.getvalue(), 0o600)
    _write(root, "/root/.bashrc", "# ~/.bashrc\n")
    _write(root, "/root/.gitconfig", "[user]\n\tname = Ops\n\temail = ops@example.com\n")
    _write(root, "/home/alice/.bashrc", "# ~/.bashrc\n", 0o644, 1000, 1000)


def build_template(root: Path, canaries: tuple[Canary, ...]) -> list[str]:
    """Fill ``root`` (an empty folder on a tmpfs) with the server fixture; returns notes."""
    now = time.time()
    notes: list[str] = []
    for path in OPAQUE:
        _opaque(root, path)
    for path in HIDDEN:
        _whiteout(root, path)
    (root / ".oracle-oldroot").mkdir()
    scratch = root / SCRATCH.lstrip("/")
    scratch.mkdir(parents=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(scratch, 0o1777)
    _system_files(root, now)
    _logs(root, now)
    for c in canaries:
        _write(root, c.path, c.content, c.mode, c.owner, c.owner)
    for home, uid in (("/root", 0), ("/home/alice", 1000)):
        for sub in (".ssh",):
            d = root / home.lstrip("/") / sub
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, uid, uid)
            os.chmod(d, 0o700)
        os.chown(root / home.lstrip("/"), uid, uid)
        os.chmod(root / home.lstrip("/"), 0o700 if uid == 0 else 0o750)
    _git_repo(root, now)
    notes += write_journals(root, now)
    shutil.rmtree(root / "root/.cache", ignore_errors=True)
    return notes
