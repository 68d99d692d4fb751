"""The gateway process of ``sshwall serve``: ``run(settings)`` until the client goes away.

Its command line is parsed by ``sshwall.cli`` into a ``GatewaySettings``. Without an upstream
command the built-in backend (``sshwall backend``) is the upstream; the client side is stdio
unless ``settings.listen`` is given. The policy reloads when its files change and on SIGHUP
(``sshwall.proxy.reload``, docs/reload.md).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable

from sshwall.audit import AuditLog
from sshwall.engine.examples import load_checked_layers
from sshwall.errors import SshwallError, UsageError
from sshwall.limits import open_state
from sshwall.policy import Policy, default_policy_path
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.frontend import FrontendCore
from sshwall.proxy.frontend_stdio import process_stdio, serve_stdio
from sshwall.proxy.jsonrpc import Message
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.reload import PolicyReloader
from sshwall.proxy.settings import BUILTIN_BACKEND, GatewaySettings
from sshwall.proxy.stdio_upstream import StdioUpstream
from sshwall.proxy.telemetry import Telemetry
from sshwall.proxy.upstream import Upstream
from sshwall.proxy.upstreamhome import upstream_home

log = logging.getLogger("sshwall.serve")


async def run(settings: GatewaySettings) -> int:
    """Run the gateway until the client goes away (stdio) or the process is stopped (HTTP)."""
    rules = settings.rules or default_policy_path()
    loaded = load_checked_layers(rules)
    policy = loaded.policy
    _check_mode(settings, policy)  # `shadow: never` refuses before anything starts
    audit = AuditLog(settings.audit, fsync=settings.audit_fsync) if settings.audit else None
    on_hup: list[Callable[[], None]] = []  # SIGHUP: the audit log follows its path, the policy reloads
    _on_sighup(audit, on_hup)
    # The upstream's own messages go to the frontend core, which is built once the firewall
    # is; the upstream sends nothing before its first request, made after that.
    core: FrontendCore | None = None

    async def from_upstream(msg: Message) -> None:
        if core is not None:
            await core.from_upstream(msg)

    upstream: Upstream
    adjust: Callable[[Policy], Policy] = _as_is  # what the gateway does to each policy it loads
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
        if builtin and "--emulate-mcp-ssh-rewrites" not in argv[3:]:
            # The built-in backend saves no password and rewrites nothing unless it emulates Mcp Ssh.
            if policy.upstream_saved_passwords != "none":
                log.info("built-in backend without --emulate-mcp-ssh-rewrites: it holds no saved passwords")
            adjust = _no_saved_passwords
    policy = adjust(policy)
    state = await open_state(settings.state)
    firewall = Firewall(policy, upstream.request, audit, LimitGuard(policy, state, time.time), upstream_home=home,
                        approvals=state.approvals, state_url=settings.state, mode=settings.mode)
    core = FrontendCore(firewall, upstream)
    try:  # metrics and traces (docs/metrics.md), before the first call
        telemetry = await Telemetry.start(settings, firewall)
    except BaseException:
        await state.close()
        raise
    try:
        voided = await firewall.approval_guard.void_stale()
    except SshwallError as err:  # the queue is down: its calls are denied until it is back
        log.warning("cannot look for approval requests of gone gateways: %s", err)
    else:
        if voided:
            log.warning("%d approval request(s) of a gateway that is gone are void now", voided)
    reaper = asyncio.create_task(_reap(firewall))
    reloader = PolicyReloader(firewall, rules, load_checked_layers, adjust, loaded.files)
    watcher = asyncio.create_task(reloader.watch())
    hups: set[asyncio.Task[bool]] = set()

    def reload_on_hup() -> None:
        task = asyncio.ensure_future(reloader.reload("SIGHUP"))
        hups.add(task)
        task.add_done_callback(hups.discard)

    on_hup.append(reload_on_hup)
    try:
        if settings.listen:
            from sshwall.proxy.sdk import serve_sdk

            return await serve_sdk(settings, core, telemetry.metrics)
        reader, write = await process_stdio(settings.max_message_bytes)
        with telemetry.session("stdio"):
            await serve_stdio(core, Caller(identity=settings.identity, session="stdio"), reader, write)
        return 0
    finally:
        on_hup.clear()
        reaper.cancel()
        watcher.cancel()
        for hup in list(hups):
            hup.cancel()
        await firewall.void_pending()
        await upstream.close()
        await state.close()
        await telemetry.close()
        if audit is not None:
            audit.close()


def _check_mode(settings: GatewaySettings, policy: Policy) -> None:
    """Refuse ``--mode shadow`` under a policy that says ``shadow: never``; in shadow mode, say
    loudly (stderr, at any log level) that nothing is enforced."""
    if settings.mode != "shadow":
        return
    if policy.shadow == "never":
        raise UsageError("--mode shadow: the policy says `shadow: never` (it may only be enforced)")
    print("sshwall serve: SHADOW MODE: NOTHING IS ENFORCED. Every call is decided and audited, and denied "
          "calls are forwarded all the same (audited `would-deny`, every record `mode: shadow`); for rollout only",
          file=sys.stderr, flush=True)


def _as_is(policy: Policy) -> Policy:
    return policy


def _no_saved_passwords(policy: Policy) -> Policy:
    """A policy as the built-in backend (no saved passwords) needs it."""
    if policy.upstream_saved_passwords == "none":
        return policy
    return policy.model_copy(update={"upstream_saved_passwords": "none"})


def _on_sighup(audit: AuditLog | None, then: list[Callable[[], None]]) -> None:
    """``kill -HUP`` (logrotate's postrotate) makes the audit log follow its path at once
    (without it a rotation is still noticed before the next record), then runs ``then`` (the
    policy reload, ``sshwall.proxy.reload``)."""
    import signal

    def hup() -> None:
        try:
            if audit is not None:
                audit.reopen()
        except SshwallError as err:  # the next append retries, and denies while it fails
            log.error("audit log reopen failed: %s", err)
        for step in list(then):
            step()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hup)
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

