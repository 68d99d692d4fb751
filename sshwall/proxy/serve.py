"""``sshwall serve``: the gateway process.

    sshwall serve --rules FILE [--audit FILE] [--listen HOST:PORT] -- UPSTREAM_CMD [ARGS...]

Without an upstream command the built-in backend (``sshwall backend``) is the upstream;
``--backend-arg`` passes options to it. The client side is stdio unless ``--listen`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sshwall.audit import AuditLog
from sshwall.limits import open_state
from sshwall.proxy.governor import Governor
from sshwall.proxy.httplimits import add_http_options
from sshwall.engine import load_checked
from sshwall.policy import default_policy_path
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.errors import SshwallError, UsageError
from sshwall.proxy.jsonrpc import MAX_FRAME_BYTES, FrameError, LineReader, Message, decode
from sshwall.proxy.relay import StdioRelay
from sshwall.proxy.upstream import DEFAULT_RESTART_AFTER_TIMEOUTS, StdioUpstream, Upstream
from sshwall.proxy.upstreamhome import upstream_home

log = logging.getLogger("sshwall.serve")


def build_parser() -> argparse.ArgumentParser:
    """The ``sshwall serve`` options."""
    p = argparse.ArgumentParser(prog="sshwall serve", description="Serve the firewall in front of an SSH MCP server.")
    p.add_argument("--rules", type=Path, default=None, help="policy file (default: embedded readonly-ops)")
    p.add_argument("--audit", type=Path, default=None, help="append the audit log to this JSONL file")
    p.add_argument("--audit-fsync", action="store_true", help="fsync every audit record (slower, survives power loss)")
    p.add_argument("--listen", metavar="HOST:PORT", help="serve streamable HTTP instead of stdio")
    p.add_argument("--upstream-url", metavar="URL", help="a streamable-HTTP upstream instead of a command")
    p.add_argument("--state", default=os.environ.get("SSHWALL_STATE", "memory://"), metavar="URL",
                   help="rate counters and task registry: memory:// (default), sqlite:///path.db, redis://host:port/0")
    p.add_argument("--tokens", type=Path, metavar="FILE",
                   help="with --listen: `identity: token` lines (or JSON); each request needs Authorization: Bearer TOKEN")
    p.add_argument("--identity", default=os.environ.get("SSHWALL_IDENTITY", "local"),
                   help="identity whose grant the stdio client uses (default: local)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds an upstream request may take, writing it included (default 120)")
    p.add_argument("--restart-after-timeouts", type=_count, default=DEFAULT_RESTART_AFTER_TIMEOUTS, metavar="N",
                   help="kill and restart a stdio upstream after N requests in a row timed out "
                   f"(default {DEFAULT_RESTART_AFTER_TIMEOUTS}; 0: never)")
    p.add_argument("--max-message-bytes", type=int, default=4 * 1024 * 1024,
                   help="largest client message accepted (default 4 MiB)")
    add_http_options(p)
    p.add_argument("--backend-arg", action="append", default=[], metavar="ARG",
                   help="option for the built-in backend (repeatable), e.g. --backend-arg=--known-hosts=FILE")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("upstream", nargs=argparse.REMAINDER, help="-- UPSTREAM_CMD [ARGS...]")
    return p


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number (0 or more), got {text!r}")
    return int(text)


def upstream_argv(args: argparse.Namespace) -> list[str]:
    """The upstream command: the one given, or the built-in backend."""
    cmd = list(args.upstream)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return cmd or [sys.executable, "-m", "sshwall.backend", *args.backend_arg]


async def serve(args: argparse.Namespace) -> int:
    """Run the gateway until the client goes away (stdio) or the process is stopped (HTTP)."""
    if args.upstream_url and args.upstream:
        raise UsageError("give either --upstream-url or an upstream command after --, not both")
    policy = load_checked(args.rules or default_policy_path())
    audit = AuditLog(args.audit, fsync=args.audit_fsync) if args.audit else None
    if audit is not None:
        _reopen_on_sighup(audit)
    # Where the upstream's own messages go: the relay, or the SDK frontend's router.
    route: list[Callable[[Message], Awaitable[None]]] = []

    async def from_upstream(msg: Message) -> None:
        if route:
            await route[0](msg)

    upstream: Upstream
    home: str | None = None  # an upstream the gateway does not start: its home is unknown
    if args.upstream_url:
        from sshwall.proxy.http_upstream import HttpUpstream

        upstream = HttpUpstream(args.upstream_url, on_message=from_upstream, timeout=args.timeout)
    else:
        argv = upstream_argv(args)
        upstream = StdioUpstream(argv, on_message=from_upstream, timeout=args.timeout,
                                 restart_after_timeouts=args.restart_after_timeouts,
                                 on_notice=lambda kind, detail: firewall.notice(kind, detail))
        builtin = argv[:3] == [sys.executable, "-m", "sshwall.backend"]
        home = upstream_home(argv[3:] if builtin else argv, builtin)
        if builtin and "--emulate-mcp-ssh-rewrites" not in argv[3:] and policy.upstream_saved_passwords != "none":
            # The built-in backend saves no password and rewrites nothing unless it emulates Mcp Ssh.
            log.info("built-in backend without --emulate-mcp-ssh-rewrites: it holds no saved passwords")
            policy = policy.model_copy(update={"upstream_saved_passwords": "none"})
    state = await open_state(args.state)
    firewall = Firewall(policy, upstream.request, audit, Governor(policy, state, time.time), upstream_home=home)
    reaper = asyncio.create_task(_reap(firewall))
    try:
        if args.listen:
            from sshwall.proxy.sdk import UpstreamRouter, serve_sdk

            router = UpstreamRouter(upstream)
            route.append(router.from_upstream)
            return await serve_sdk(args, firewall, upstream, router)
        reader, write = await _stdio(args)
        try:
            first_frame = await reader.next_frame()
        except EOFError:
            return 0
        first = _try_decode(first_frame)
        if first is not None and _modern(first):
            from sshwall.proxy.sdk import UpstreamRouter, build_server, client_handshake, serve_stdio_modern

            router = UpstreamRouter(upstream)
            route.append(router.from_upstream)
            await upstream.initialize(client_handshake())
            server = build_server(firewall, upstream, lambda ctx: Caller(identity=args.identity, session="stdio"), router)
            await serve_stdio_modern(server, first, reader, write)
            return 0
        relay = StdioRelay(firewall, upstream, write, Caller(identity=args.identity, session="stdio"))
        route.append(relay.from_upstream)
        await relay.handle_frame(first_frame)
        await relay.run(reader)
        return 0
    finally:
        reaper.cancel()
        await upstream.close()
        await state.close()
        if audit is not None:
            audit.close()


def _reopen_on_sighup(audit: AuditLog) -> None:
    """``kill -HUP`` (logrotate's postrotate) makes the audit log follow its path at once;
    without it a rotation is still noticed before the next record."""
    import signal

    def reopen() -> None:
        try:
            audit.reopen()
        except SshwallError as err:  # the next append retries, and denies while it fails
            log.error("audit log reopen failed: %s", err)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reopen)
    except (AttributeError, NotImplementedError, RuntimeError):  # no SIGHUP (Windows)
        pass


async def _reap(firewall: Firewall, every_s: float = 1.0) -> None:
    """Stop background tasks whose time to live has passed, once a second."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await firewall.reap_expired()
        except Exception:  # noqa: BLE001 - the reaper must outlive any single failure
            log.exception("reaping expired background tasks failed")


def _modern(msg: Message) -> bool:
    from sshwall.proxy.sdk import is_modern

    return is_modern(msg)


def _try_decode(frame: bytes | None) -> Message | None:
    if not frame:
        return None
    try:
        return decode(frame)
    except FrameError:
        return None


async def _stdio(args: argparse.Namespace) -> tuple[LineReader, Callable[[bytes], Awaitable[None]]]:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    out = sys.stdout.buffer
    lock = asyncio.Lock()

    async def write(data: bytes) -> None:
        async with lock:
            out.write(data)
            out.flush()

    return LineReader(stdin.read, min(args.max_message_bytes, MAX_FRAME_BYTES)), write


def main(argv: list[str]) -> int:
    """Entry point of ``sshwall serve``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="sshwall %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
