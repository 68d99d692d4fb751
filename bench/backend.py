"""executeCommand through the built-in backend vs the same command over plain paramiko.

    .venv/bin/python bench/backend.py [-n 200] [--command 'echo hi']

Starts its own throwaway sshd (tests/support/sshd.py), then, alternating call by call so both
sides see the same machine load:
- direct: ``exec_command`` on one open paramiko connection (TCP_NODELAY, as the backend sets),
  read stdout/stderr, exit status;
- backend: ``executeCommand`` through ``python -m sshwall.backend`` with a real MCP client over
  stdio (JSON-RPC, validation, worker thread, the backend's own paramiko connection).
Prints the median and p90 round trip of each and their ratio (target: median ratio <= 1.5).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.mcp_client import stdio_backend  # noqa: E402
from tests.support.sshd import SshdFactory  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="measured calls per side (default 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--command", default="echo hi")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sshwall-bench-") as tmp:
        factory = SshdFactory(Path(tmp) / "sshd")
        try:
            server = factory.start("bench")
            client = server.open_client()
            # The backend sets TCP_NODELAY on its SSH socket; do the same here so the figures
            # compare the backend's overhead, not a socket option.
            transport = client.get_transport()
            assert transport is not None
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log = Path(tmp) / "backend.log"
            with stdio_backend(["--known-hosts", str(server.known_hosts_path), "--log-level", "warning"], log) as backend:
                cid = backend.connect(server)
                call = {"connectionId": cid, "command": args.command}

                def direct_once() -> float:
                    start = time.perf_counter()
                    _, stdout, stderr = client.exec_command(args.command)
                    stdout.read()
                    stderr.read()
                    stdout.channel.recv_exit_status()
                    return time.perf_counter() - start

                def backend_once() -> float:
                    start = time.perf_counter()
                    reply = backend.call("executeCommand", call)
                    elapsed = time.perf_counter() - start
                    assert not reply.is_error, reply.text
                    return elapsed

                for _ in range(args.warmup):
                    direct_once()
                    backend_once()
                direct: list[float] = []
                proxied: list[float] = []
                for _ in range(args.n):  # alternate so both sides share the same load
                    direct.append(direct_once())
                    proxied.append(backend_once())
            client.close()
        finally:
            factory.close()

    d_med, b_med = statistics.median(direct), statistics.median(proxied)
    d_p90, b_p90 = _pct(direct, 0.9), _pct(proxied, 0.9)
    print(f"executeCommand round trip, {args.n} calls each, command {args.command!r}")
    print(f"  plain paramiko exec_command : median {d_med * 1000:7.2f} ms   p90 {d_p90 * 1000:7.2f} ms")
    print(f"  sshwall backend over stdio  : median {b_med * 1000:7.2f} ms   p90 {b_p90 * 1000:7.2f} ms")
    print(f"  ratio backend/direct        : median {b_med / d_med:5.2f}x     p90 {b_p90 / d_p90:5.2f}x"
          f"   (target <= 1.5x)")
    print(f"  backend overhead            : median {(b_med - d_med) * 1000:+7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
