"""``sshwall serve``: the command line turned into ``GatewaySettings``, and the gateway run.

    sshwall serve --rules FILE [--audit FILE] [--listen HOST:PORT] -- UPSTREAM_CMD [ARGS...]

Without an upstream command the built-in backend (``sshwall backend``) is the upstream;
``--backend-arg`` passes options to it. The client side is stdio unless ``--listen`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import fields
from typing import TextIO

from sshwall.proxy.gateway import run as run_gateway
from sshwall.proxy.settings import GatewaySettings, HttpLimits


def settings_of(args: argparse.Namespace) -> GatewaySettings:
    """The settings the parsed ``sshwall serve`` options say (raises UsageError on a bad mix)."""
    upstream = list(args.upstream)
    if upstream and upstream[0] == "--":
        upstream = upstream[1:]
    return GatewaySettings(
        rules=args.rules, audit=args.audit, audit_fsync=args.audit_fsync, listen=args.listen,
        metrics_listen=args.metrics_listen,
        upstream_url=args.upstream_url, upstream=tuple(upstream), backend_args=tuple(args.backend_arg),
        state=args.state, tokens=args.tokens, identity=args.identity, timeout=args.timeout,
        restart_after_timeouts=args.restart_after_timeouts, max_message_bytes=args.max_message_bytes,
        http=HttpLimits(**{f.name: getattr(args, f"http_{f.name}") for f in fields(HttpLimits)}),
        log_level=args.log_level, mode=args.mode,
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve until the client goes away (stdio) or the process is stopped (HTTP)."""
    settings = settings_of(args)
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="sshwall %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run_gateway(settings))
    except KeyboardInterrupt:
        return 0
