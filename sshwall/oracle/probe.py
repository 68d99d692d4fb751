"""Can the oracle run on this machine? ``unavailable()`` says why not, or None."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from functools import lru_cache

REQUIRED = ("unshare", "strace", "setpriv")
SHM = "/dev/shm"


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """None when the oracle can run here; otherwise the reason, in a sentence."""
    if platform.system() != "Linux":
        return f"the oracle needs Linux namespaces, this is {platform.system()}"
    if platform.machine() not in ("x86_64", "aarch64"):
        return f"the oracle knows pivot_root's syscall number on x86_64 and aarch64 only, not {platform.machine()}"
    if os.geteuid() != 0:
        return "the oracle needs root (namespaces, overlayfs, pivot_root)"
    for tool in REQUIRED:
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: util-linux / strace)"
    if not os.path.isdir(SHM) or not os.access(SHM, os.W_OK):
        return f"{SHM} (a tmpfs for the template layer) is missing or not writable"
    # One real try: namespaces + an overlay over / + pivot_root's preconditions.
    probe = (
        "set -e; d=$(mktemp -d -p /dev/shm); trap 'umount -l $d/m 2>/dev/null; rm -rf $d' EXIT; mkdir $d/l $d/m; "
        "mount -t tmpfs t $d/m; mkdir $d/m/u $d/m/w $d/m/r; "
        "mount -t overlay o -o lowerdir=$d/l:/,upperdir=$d/m/u,workdir=$d/m/w $d/m/r; "
        "test -d $d/m/r/usr; umount $d/m/r"
    )
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--pid", "--fork", "--net", "--uts", "--ipc", "--propagation", "private",
             "sh", "-c", probe],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare failed: {err}"
    if done.returncode != 0:
        return f"namespaces or overlayfs unusable: {(done.stderr or done.stdout).strip()[:300]}"
    try:
        subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf", "true"], check=True,
                       capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as err:
        return f"strace cannot trace here: {err}"
    return None
