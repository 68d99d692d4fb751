"""``sshwall backend`` (and ``python -m sshwall.backend``): the built-in SSH MCP server.

    sshwall backend [--listen HOST:PORT] [--known-hosts FILE]... [--host-key HOST:PORT=SHA256:...]...
                    [--insecure-accept-any-host-key] [--download-dir DIR] [--command-timeout MS]
                    [--log-level LEVEL]

Without ``--listen`` it serves MCP over stdio. Logs go to stderr only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

from sshwall.backend.config import BackendConfig, default_download_dir
from sshwall.backend.hostkeys import HostKeyPolicy

log = logging.getLogger("sshwall.backend")


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s sshwall-backend %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries stay at WARNING even with --log-level debug: the SDK's debug logs would show
    # raw requests, and connect's arguments carry secrets.
    root.setLevel(logging.WARNING)
    logging.getLogger("sshwall").setLevel(level.upper())


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the backend until its client goes away; a bad ``--host-key`` raises UsageError."""
    _configure_logging(args.log_level)
    policy = HostKeyPolicy.build(args.known_hosts, args.host_key, args.insecure_accept_any_host_key)
    if policy.accept_any:
        log.warning("--insecure-accept-any-host-key: hosts that are not pinned or known will be "
                    "accepted WITHOUT verification (man-in-the-middle possible)")
    config = BackendConfig(
        host_keys=policy,
        download_dir=args.download_dir or default_download_dir(),
        command_timeout_ms=args.command_timeout,
        emulate_rewrites=args.emulate_mcp_ssh_rewrites,
    )
    import anyio

    from sshwall.backend import server  # the MCP SDK loads only when a server is wanted

    try:
        if args.listen is None:
            anyio.run(server.run_stdio, config)
        else:
            anyio.run(server.run_http, config, *args.listen)
    except KeyboardInterrupt:
        return 130
    return 0
