"""The gateway process of ``sshwall serve``: ``run(settings)`` until the client goes away.

Its command line is parsed by ``sshwall.cli`` into a ``GatewaySettings``. Without an upstream
command the built-in backend (``sshwall backend``) is the upstream; the client side is stdio
unless ``settings.listen`` is given.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sshwall.audit import AuditLog
from sshwall.engine import load_checked
from sshwall.errors import SshwallError
from sshwall.limits import open_state
from sshwall.policy import default_policy_path
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.frontend import FrontendCore
from sshwall.proxy.frontend_stdio import process_stdio, serve_stdio
from sshwall.proxy.jsonrpc import Message
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.settings import BUILTIN_BACKEND, GatewaySettings
from sshwall.proxy.stdio_upstream import StdioUpstream
from sshwall.proxy.upstream import Upstream
from sshwall.proxy.upstreamhome import upstream_home

log = logging.getLogger("sshwall.serve")


async def run(settings: GatewaySettings) -> int:
    """Run the gateway until the client goes away (stdio) or the process is stopped (HTTP)."""
    policy = load_checked(settings.rules or default_policy_path())
    audit = AuditLog(settings.audit, fsync=settings.audit_fsync) if settings.audit else None
    if audit is not None:
        _reopen_on_sighup(audit)
    # The upstream's own messages go to the frontend core, which is built once the firewall
    # is; the upstream sends nothing before its first request, made after that.
    core: FrontendCore | None = None

    async def from_upstream(msg: Message) -> None:
        if core is not None:
            await core.from_upstream(msg)

    upstream: Upstream
    home: str | None = None  # an upstream the gateway does not start: its home is unknown
    if settings.upstream_url:
        from sshwall.proxy.http_upstream import HttpUpstream

        upstream = HttpUpstream(settings.upstream_url, on_message=from_upstream, timeout=settings.timeout)
    else:
        argv = settings.upstream_argv
        upstream = StdioUpstream(argv, on_message=from_upstream, timeout=settings.timeout,
                                 restart_after_timeouts=settings.restart_after_timeouts,
                                 on_notice=lambda kind, detail: firewall.notice(kind, detail))
        # The built-in backend, started by default or named after -- with this interpreter.
        builtin = argv[:3] == list(BUILTIN_BACKEND)
        home = upstream_home(argv[3:] if builtin else argv, builtin)
        if builtin and "--emulate-mcp-ssh-rewrites" not in argv[3:] and policy.upstream_saved_passwords != "none":
            # The built-in backend saves no password and rewrites nothing unless it emulates Mcp Ssh.
            log.info("built-in backend without --emulate-mcp-ssh-rewrites: it holds no saved passwords")
            policy = policy.model_copy(update={"upstream_saved_passwords": "none"})
    state = await open_state(settings.state)
    firewall = Firewall(policy, upstream.request, audit, LimitGuard(policy, state, time.time), upstream_home=home,
                        approvals=state.approvals, state_url=settings.state)
    core = FrontendCore(firewall, upstream)
    try:
        voided = await firewall.approval_guard.void_stale()
    except SshwallError as err:  # the queue is down: its calls are denied until it is back
        log.warning("cannot look for approval requests of gone gateways: %s", err)
    else:
        if voided:
            log.warning("%d approval request(s) of a gateway that is gone are void now", voided)
    reaper = asyncio.create_task(_reap(firewall))
    try:
        if settings.listen:
            from sshwall.proxy.sdk import serve_sdk

            return await serve_sdk(settings, core)
        reader, write = await process_stdio(settings.max_message_bytes)
        await serve_stdio(core, Caller(identity=settings.identity, session="stdio"), reader, write)
        return 0
    finally:
        reaper.cancel()
        await firewall.void_pending()
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
        except Exception:
            log.exception("reaping expired background tasks failed")

