"""Gateway overhead, measured side by side in one run.

1. stdio: p50/p99 tools/call latency, a client talking straight to a trivial upstream against
   the same client through ``sshwall serve`` (decision, audit record and forwarding included).
2. the same against the built-in backend and a real sshd (executeCommand `true`).
3. streamable HTTP: throughput of 32 concurrent clients through ``sshwall serve --listen``.

    .venv/bin/python bench/proxy.py [--calls N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from sshwall.lab import StdioClient, free_port, start_sshd, stop

HERE = Path(__file__).resolve().parent
TRIVIAL = [sys.executable, str(HERE / "trivial_upstream.py")]
POLICY = HERE.parent / "rules" / "readonly-ops.yaml"


def gateway(upstream: list[str], audit: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(POLICY), "--audit", str(audit), *extra, "--", *upstream]


def timed_calls(client: StdioClient, tool: str, arguments: dict, n: int) -> list[float]:
    for _ in range(20):  # warm up
        client.call(tool, arguments)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        result = client.call(tool, arguments)
        out.append((time.perf_counter() - t) * 1000)
        assert not result.get("isError"), result
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def compare(label: str, direct_argv: list[str], proxied_argv: list[str], tool: str, arguments: dict, n: int) -> None:
    rows = {}
    for name, argv in (("direct", direct_argv), ("sshwall", proxied_argv)):
        client = StdioClient(argv)
        client.initialize()
        try:
            rows[name] = timed_calls(client, tool, arguments, n)
        finally:
            client.close()
    d50, s50 = statistics.median(rows["direct"]), statistics.median(rows["sshwall"])
    print(f"\n{label}: {n} sequential tools/call ({tool})")
    for name, values in rows.items():
        print(f"  {name:8} p50 {statistics.median(values):7.3f} ms   p99 {pct(values, 0.99):7.3f} ms")
    print(f"  added p50 {s50 - d50:+.3f} ms ({s50 / d50:.2f}x)")


async def http_throughput(port: int, clients: int, per_client: int) -> tuple[float, list[float]]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    latencies: list[float] = []

    async def one() -> None:
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                for _ in range(per_client):
                    t = time.perf_counter()
                    await session.call_tool("executeCommand", {"connectionId": "c", "command": "uptime"})
                    latencies.append((time.perf_counter() - t) * 1000)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(one)
    return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--http-clients", type=int, default=32)
    parser.add_argument("--http-calls", type=int, default=20, help="calls per HTTP client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        compare("trivial stdio upstream", TRIVIAL, gateway(TRIVIAL, work / "a1.jsonl"),
                "executeCommand", {"connectionId": "c", "command": "uptime"}, args.calls)

        target, proc = start_sshd(work / "sshd", "bench")
        try:
            backend = [sys.executable, "-m", "sshwall.backend", f"--known-hosts={target.known_hosts_path}"]
            connect = {"host": target.host, "port": target.port, "username": target.user, "privateKey": target.client_key_text}
            rows = {}
            for name, argv in (("direct", backend), ("sshwall", gateway(backend, work / "a2.jsonl"))):
                client = StdioClient(argv)
                client.initialize()
                conn = client.call("connect", connect)["structuredContent"]["connectionId"]
                try:
                    rows[name] = timed_calls(client, "executeCommand", {"connectionId": conn, "command": "true"}, max(50, args.calls // 5))
                finally:
                    client.close()
            d50, s50 = statistics.median(rows["direct"]), statistics.median(rows["sshwall"])
            print("\nbuilt-in backend + real sshd: executeCommand `true`")
            for name, values in rows.items():
                print(f"  {name:8} p50 {statistics.median(values):7.3f} ms   p99 {pct(values, 0.99):7.3f} ms")
            print(f"  added p50 {s50 - d50:+.3f} ms ({(s50 / d50 - 1) * 100:+.1f}%)")
        finally:
            stop(proc)

        port = free_port()
        server = subprocess.Popen([*gateway(TRIVIAL, work / "a3.jsonl", "--listen", f"127.0.0.1:{port}")], stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            elapsed, lat = anyio.run(http_throughput, port, args.http_clients, args.http_calls)
            total = args.http_clients * args.http_calls
            print(f"\nstreamable HTTP, {args.http_clients} concurrent clients x {args.http_calls} calls (trivial upstream)")
            print(f"  {total / elapsed:8.1f} calls/s   p50 {statistics.median(lat):.2f} ms   p99 {pct(lat, 0.99):.2f} ms")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
