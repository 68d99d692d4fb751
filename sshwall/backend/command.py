"""``sshwall backend``: the built-in SSH MCP server's command line.

    sshwall backend [--listen HOST:PORT] [--known-hosts FILE]... [--host-key HOST:PORT=SHA256:...]...
                    [--insecure-accept-any-host-key] [--download-dir DIR] [--command-timeout MS]
                    [--log-level LEVEL]

Without ``--listen`` it serves MCP over stdio. Logs go to stderr only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import anyio

from sshwall.backend.config import DEFAULT_COMMAND_TIMEOUT_MS, BackendConfig, default_download_dir
from sshwall.backend.hostkeys import HostKeyPolicy
from sshwall.errors import UsageError

log = logging.getLogger("sshwall.backend")


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of milliseconds, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sshwall backend``."""
    parser = argparse.ArgumentParser(
        prog="sshwall backend",
        description="Built-in SSH MCP server speaking Mcp Ssh's 23 tools over paramiko. "
        "It does no policy checking: put sshwall in front of it.",
    )
    parser.add_argument("--listen", metavar="HOST:PORT", type=_listen,
                        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    parser.add_argument("--known-hosts", metavar="FILE", action="append",
                        help="known_hosts file to trust (repeatable; default: ~/.ssh/known_hosts "
                        "and /etc/ssh/ssh_known_hosts)")
    parser.add_argument("--host-key", metavar="HOST:PORT=SHA256:...", action="append",
                        help="pin a host key fingerprint (repeatable); a pin overrides known_hosts")
    parser.add_argument("--insecure-accept-any-host-key", action="store_true",
                        help="accept hosts that are neither pinned nor in known_hosts (logged as a "
                        "warning on every such connect); a known key that differs is still refused")
    parser.add_argument("--download-dir", metavar="DIR", type=Path, default=None,
                        help="where downloadFile saves when no localPath is given (default ~/Downloads)")
    parser.add_argument("--command-timeout", metavar="MS", type=_positive,
                        default=DEFAULT_COMMAND_TIMEOUT_MS,
                        help="executeCommand timeout when the call gives none, and each "
                        f"background run's (default {DEFAULT_COMMAND_TIMEOUT_MS})")
    parser.add_argument("--emulate-mcp-ssh-rewrites", action="store_true",
                        help="UNSAFE, for tests: do what the real Mcp Ssh does (paste the connection's "
                        "password, else the one saved for the id, into sudo commands, run tmux follow-up "
                        "commands, type the password into terminals whose output shows Password:); unlike "
                        "the real server, a password-only reconnect also authenticates with the id's old key "
                        "(a test convenience: the real server uses the call's own credentials)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"], help="sshwall's log level")
    return parser


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s sshwall-backend %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries stay at WARNING even with --log-level debug: the SDK's debug logs would show
    # raw requests, and connect's arguments carry secrets.
    root.setLevel(logging.WARNING)
    logging.getLogger("sshwall").setLevel(level.upper())


def main(argv: list[str]) -> int:
    """Run the backend until its client goes away; returns the exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        policy = HostKeyPolicy.build(args.known_hosts, args.host_key, args.insecure_accept_any_host_key)
    except UsageError as exc:
        print(f"sshwall backend: {exc}", file=sys.stderr)
        return 2
    if policy.accept_any:
        log.warning("--insecure-accept-any-host-key: hosts that are not pinned or known will be "
                    "accepted WITHOUT verification (man-in-the-middle possible)")
    config = BackendConfig(
        host_keys=policy,
        download_dir=args.download_dir or default_download_dir(),
        command_timeout_ms=args.command_timeout,
        emulate_rewrites=args.emulate_mcp_ssh_rewrites,
    )
    from sshwall.backend import server  # the MCP SDK loads only when a server is wanted

    try:
        if args.listen is None:
            anyio.run(server.run_stdio, config)
        else:
            anyio.run(server.run_http, config, *args.listen)
    except KeyboardInterrupt:
        return 130
    return 0
