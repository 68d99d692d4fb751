"""The SDK frontend: the MCP SDK's server serves the client, in whichever era it opens with.

Used for streamable HTTP (``--listen``) and for 2026-07-28 clients on stdio: the SDK answers
``server/discover`` and the per-request ``_meta`` envelope, and every request is handed on to
the frontend core (``sshwall.proxy.frontend``), which the stdio relay shares: the firewall
decides ``tools/call``, ``tools/list`` is filtered, the rest goes to the legacy-era upstream.
With ``sshwall.proxy.sdkelicit`` (how a call that needs approval asks the client's user, in
either era), the only modules of the proxy that import the MCP SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.version import LATEST_HANDSHAKE_VERSION

import sshwall
from sshwall.errors import UpstreamError, UsageError
from sshwall.limits.approvals import ApprovalStore
from sshwall.proxy.approvalroutes import mount_approvals
from sshwall.proxy.firewall import Caller
from sshwall.proxy.frontend import (
    ENVELOPE_PREFIX,
    FrontendCore,
    error_fields,
    intake,
    is_modern,
)
from sshwall.proxy.httpframes import guard_frames
from sshwall.proxy.httplimits import HttpLimits
from sshwall.proxy.httpserve import run_http
from sshwall.proxy.httpsessions import cap_sessions
from sshwall.proxy.jsonrpc import (
    INVALID_REQUEST,
    LineReader,
    Message,
    encode,
    error,
    is_request,
)
from sshwall.proxy.sdkelicit import asking
from sshwall.proxy.sessionowners import own_sessions
from sshwall.proxy.settings import GatewaySettings
from sshwall.proxy.tokens import identity_of, load_tokens, require_token

if TYPE_CHECKING:
    from sshwall.proxy.metrics import Metrics

__all__ = ["build_server", "client_handshake", "is_modern", "serve_http", "serve_sdk", "serve_stdio_modern"]

log = logging.getLogger("sshwall.sdk")

Write = Callable[[bytes], Awaitable[None]]


def client_handshake() -> Message:
    """The initialize params sshwall uses with an upstream on behalf of SDK-served clients."""
    return {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "sshwall", "version": sshwall.__version__},
    }


def _legacy_params(params: Any) -> Any:
    """Params as a legacy upstream expects them: the modern envelope keys removed from _meta, and
    the 2026-07-28 multi-round-trip fields (``inputResponses``, ``requestState``: answers meant
    for sshwall) dropped."""
    if params is None:
        return None
    data = params.model_dump(by_alias=True, mode="json", exclude_none=True) if hasattr(params, "model_dump") else dict(params)
    data.pop("inputResponses", None)
    data.pop("requestState", None)
    meta = data.get("_meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if not k.startswith(ENVELOPE_PREFIX)}
        if meta:
            data["_meta"] = meta
        else:
            data.pop("_meta")
    return data


def _progress_token(params: Any) -> Any:
    """The progress token a request's ``_meta`` carries, if any."""
    meta = getattr(params, "meta", None)
    if isinstance(meta, dict):
        return meta.get("progress_token", meta.get("progressToken"))
    return getattr(meta, "progress_token", None)


def _progress_to(ctx: Any, token: str | int) -> Callable[[Message], Awaitable[None]]:
    """Delivers the upstream's progress to the client of ``ctx`` under its own ``token``."""

    async def deliver(msg: Message) -> None:
        params = msg["params"]
        await ctx.session.send_progress_notification(
            token, params.get("progress", 0), params.get("total"), params.get("message"),
            related_request_id=getattr(ctx, "request_id", None),
        )

    return deliver


def build_server(core: FrontendCore, caller_of: Callable[[Any], Caller]) -> Server[Any]:
    """An SDK server mirroring the upstream's identity and capabilities, over ``core``."""
    init = core.upstream.initialize_result or {}
    info = init.get("serverInfo") or {}
    caps = init.get("capabilities") or {}

    async def forward(method: str, params: Any, result_type: type[Any], ctx: Any = None) -> Any:
        legacy = _legacy_params(params)
        theirs, ours = _progress_token(params), None
        if isinstance(theirs, (str, int)) and ctx is not None and isinstance(legacy, dict):
            # The upstream sees a token of ours: clients sharing it never get each other's progress.
            ours = core.track(_progress_to(ctx, theirs))
            legacy["_meta"] = {**legacy.get("_meta", {}), "progressToken": ours}
        caller, asked = caller_of(ctx), None
        if method == "tools/call":  # a call that needs approval may ask the client's user
            caller, asked = asking(caller, ctx, params)
        try:
            raw = await core.request(method, legacy, caller, getattr(ctx, "request_id", None))
        except Exception as err:
            if not isinstance(err, MCPError):
                if not isinstance(err, UpstreamError):
                    log.exception("request %s failed", method)
                raise MCPError(*error_fields(err)) from None
            raise
        finally:
            core.forget(ours)
        if asked is not None and asked.is_pending(raw):  # sshwall's own question (2026-07-28)
            return types.InputRequiredResult.model_validate(raw, by_name=False)
        return result_type.model_validate(raw if raw is not None else {}, by_name=False)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        result: types.ListToolsResult = await forward("tools/list", params, types.ListToolsResult, ctx)
        return result

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        result: types.CallToolResult | types.InputRequiredResult = await forward("tools/call", params, types.CallToolResult, ctx)
        if isinstance(result, types.CallToolResult) and result.result_type != "complete":
            # Only sshwall asks the client for input: an upstream's result never claims to.
            result = result.model_copy(update={"result_type": "complete"})
        return result

    handlers: dict[str, Any] = {}
    if "tools" in caps:
        handlers.update(on_list_tools=list_tools, on_call_tool=call_tool)
    if "resources" in caps:
        handlers.update(
            on_list_resources=lambda ctx, p: forward("resources/list", p, types.ListResourcesResult, ctx),
            on_list_resource_templates=lambda ctx, p: forward("resources/templates/list", p, types.ListResourceTemplatesResult, ctx),
            on_read_resource=lambda ctx, p: forward("resources/read", p, types.ReadResourceResult, ctx),
        )
    if "prompts" in caps:
        handlers.update(
            on_list_prompts=lambda ctx, p: forward("prompts/list", p, types.ListPromptsResult, ctx),
            on_get_prompt=lambda ctx, p: forward("prompts/get", p, types.GetPromptResult, ctx),
        )
    if "completions" in caps:
        handlers.update(on_completion=lambda ctx, p: forward("completion/complete", p, types.CompleteResult, ctx))
    return Server(
        str(info.get("name") or "sshwall"),
        version=str(info.get("version") or sshwall.__version__),
        instructions=init.get("instructions"),
        **handlers,
    )


async def serve_http(server: Server[Any], listen: str, max_bytes: int, tokens: dict[str, str] | None = None,
                     limits: HttpLimits | None = None, default_identity: str = "local",
                     approvals: ApprovalStore | None = None, metrics: Metrics | None = None) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until cancelled, within ``limits``; with
    ``approvals``, also its queue at /approvals (``sshwall.proxy.approvalroutes``); with
    ``metrics``, ``GET /metrics`` (``sshwall.proxy.metrics``: behind the token check like /mcp,
    so with ``--tokens`` a scrape needs a valid bearer token)."""
    limits = limits or HttpLimits()
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--listen {listen!r}: write HOST:PORT")
    host = host.strip("[]")
    app: Any = server.streamable_http_app(host=host, max_request_body_size=max_bytes,
                                          session_idle_timeout=limits.session_idle_s, max_sessions=limits.max_sessions)
    live = getattr(getattr(server, "_session_manager", None), "_server_instances", None)
    if not isinstance(live, dict):  # fail closed: without it the session caps cannot be kept
        raise UsageError("this MCP SDK does not expose its open sessions; sshwall cannot cap them")
    # Inside out: session caps (needs the frame's method), the frame guard (reads the body),
    # then the owner check, the approval queue's routes and the token check (sshwall.proxy.
    # sessionowners, .approvalroutes, .tokens): /approvals never reaches the MCP layers.
    app = cap_sessions(app, live.keys, default_identity, limits.max_sessions_per_identity, limits.max_sessions,
                       limits.session_idle_s)
    app = guard_frames(app, max_bytes, limits.body_timeout_s)
    if tokens:
        # A session is used only by the identity that opened it (sshwall.proxy.sessionowners).
        app = own_sessions(app)
    if approvals is not None:  # without tokens nobody is identified: the routes answer 403
        app = mount_approvals(app, approvals, limits.body_timeout_s)
    if metrics is not None:  # inside the token check: with --tokens, a scrape needs a token too
        from sshwall.proxy.metrics import mount_metrics

        metrics.track_sessions("http", lambda: len(live))
        app = mount_metrics(app, metrics)
    if tokens:
        app = require_token(app, tokens)
    await run_http(app, host, int(port), limits)


async def serve_stdio_modern(core: FrontendCore, caller: Caller, first: Message, reader: LineReader, write: Write) -> None:
    """Serve a 2026-07-28 client on stdio whose first message ``first`` the intake already read.

    One client on the connection: the upstream's notifications reach it as they came, like the
    relay's; its requests are refused (the 2026-07-28 era has no server-to-client requests).
    """
    await core.upstream.initialize(client_handshake())
    server = build_server(core, lambda ctx: caller)
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)

    async def to_client(msg: Message) -> None:
        if is_request(msg):
            await core.refuse(msg, "the 2026-07-28 era has no requests from server to client")
        else:
            await write(encode(msg))

    async def admit(raw: Message) -> None:
        try:
            msg = types.jsonrpc_message_adapter.validate_python(raw, by_name=False)
        except ValueError as err:
            await write(encode(error(raw.get("id"), INVALID_REQUEST, f"not an MCP message: {str(err)[:300]}")))
            return
        await read_send.send(SessionMessage(msg))

    async def pump_in() -> None:
        async with read_send:
            await admit(first)
            while True:
                try:
                    frame = intake(await reader.next_frame())
                except EOFError:
                    return
                if frame.reply is not None:
                    await write(encode(frame.reply))
                elif frame.message is not None:
                    await admit(frame.message)

    async def pump_out() -> None:
        async with write_recv:
            async for item in write_recv:
                await write((item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode())

    core.peer = to_client
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump_out)
            tg.start_soon(pump_in)
            await server.run(read_recv, write_send, server.create_initialization_options())
            tg.cancel_scope.cancel()
    finally:
        core.peer = None


async def serve_sdk(settings: GatewaySettings, core: FrontendCore, metrics: Metrics | None = None) -> int:
    """``sshwall serve --listen``: the SDK frontend over streamable HTTP (``metrics``: served
    at /metrics)."""
    if settings.listen is None:
        raise UsageError("the HTTP frontend needs --listen HOST:PORT")
    tokens = load_tokens(settings.tokens) if settings.tokens else None
    # Several identities on one upstream: ids are kept apart (sshwall.proxy.identityguard).
    core.firewall.identities.shared = bool(tokens) and len(tokens or {}) > 1
    await core.upstream.initialize(client_handshake())

    def caller_of(ctx: Any) -> Caller:
        session = getattr(getattr(ctx, "session", None), "session_id", None) or "http"
        return Caller(identity=identity_of(ctx, settings.identity), session=str(session))

    server = build_server(core, caller_of)
    guard = core.firewall.approval_guard
    if tokens:  # approvers are identified by their tokens: the queue is reachable at /approvals
        guard.queue_reachable = True
    await serve_http(server, settings.listen, settings.max_message_bytes, tokens, settings.http, settings.identity,
                     approvals=guard.store, metrics=metrics)
    return 0
