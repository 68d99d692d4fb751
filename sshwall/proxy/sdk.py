"""The SDK frontend: the MCP SDK's server serves the client, in whichever era it opens with.

Used for streamable HTTP (``--listen``) and for 2026-07-28 clients on stdio: the SDK answers
``server/discover`` and the per-request ``_meta`` envelope, and every request is handed on to
the legacy-era upstream (the firewall decides ``tools/call``). The only module of the proxy that
imports the MCP SDK.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.version import LATEST_HANDSHAKE_VERSION

import sshwall
from sshwall.errors import UpstreamError, UsageError
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.httpframes import guard_frames
from sshwall.proxy.httplimits import HttpLimits, http_limits
from sshwall.proxy.httpserve import run_http
from sshwall.proxy.httpsessions import cap_sessions
from sshwall.proxy.jsonrpc import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    UPSTREAM_ERROR,
    FrameError,
    LineReader,
    Message,
    check_client_frame,
    decode,
    encode,
    error,
)
from sshwall.proxy.sessionowners import own_sessions
from sshwall.proxy.tokens import identity_of, load_tokens, require_token
from sshwall.proxy.upstream import RpcError, Upstream

log = logging.getLogger("sshwall.sdk")

ENVELOPE_PREFIX = "io.modelcontextprotocol/"
Write = Callable[[bytes], Awaitable[None]]


def client_handshake() -> Message:
    """The initialize params sshwall uses with an upstream on behalf of SDK-served clients."""
    return {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "sshwall", "version": sshwall.__version__},
    }


def is_modern(msg: Message) -> bool:
    """True for a request carrying the 2026-07-28 per-request envelope (not ``initialize``)."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return (
        msg.get("method") != "initialize"
        and isinstance(meta, dict)
        and any(k.startswith(ENVELOPE_PREFIX) and k.endswith("protocolVersion") for k in meta)
    )


def _legacy_params(params: Any) -> Any:
    """Params as a legacy upstream expects them: the modern envelope keys removed from _meta."""
    if params is None:
        return None
    data = params.model_dump(by_alias=True, mode="json", exclude_none=True) if hasattr(params, "model_dump") else dict(params)
    meta = data.get("_meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if not k.startswith(ENVELOPE_PREFIX)}
        if meta:
            data["_meta"] = meta
        else:
            data.pop("_meta")
    return data


class UpstreamRouter:
    """Delivers what the upstream sends on its own to the SDK-served client it belongs to.

    Progress goes to the client whose request carries the token. The upstream's own requests
    (roots, sampling, elicitation) are answered with an error: the SDK frontend has no way to
    put them to the right client. Other notifications are logged and dropped.
    """

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._progress: dict[Any, Any] = {}

    def track(self, params: Any, ctx: Any) -> Any:
        """Remember which client a request's progress token belongs to; returns the token."""
        meta = getattr(params, "meta", None)
        if isinstance(meta, dict):
            token = meta.get("progress_token", meta.get("progressToken"))
        else:
            token = getattr(meta, "progress_token", None)
        if token is not None:
            self._progress[token] = ctx
        return token

    def forget(self, token: Any) -> None:
        """The request is answered: its progress token is done."""
        self._progress.pop(token, None)

    async def from_upstream(self, msg: Message) -> None:
        """Route one upstream-initiated message."""
        method = msg.get("method")
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if "id" in msg:
            await self.upstream.respond(error(msg["id"], METHOD_NOT_FOUND, f"sshwall's SDK frontend cannot pass {method} to a client"))
            return
        if method == "notifications/progress" and params.get("progressToken") in self._progress:
            ctx = self._progress[params["progressToken"]]
            await ctx.session.send_progress_notification(
                params["progressToken"], params.get("progress", 0), params.get("total"), params.get("message"),
                related_request_id=getattr(ctx, "request_id", None),
            )
            return
        log.debug("upstream notification %s not passed on (SDK frontend)", method)


def build_server(firewall: Firewall, upstream: Upstream, caller_of: Callable[[Any], Caller], router: UpstreamRouter) -> Server[Any]:
    """An SDK server mirroring the upstream's identity and capabilities, guarded by ``firewall``."""
    init = upstream.initialize_result or {}
    info = init.get("serverInfo") or {}
    caps = init.get("capabilities") or {}

    async def forward(method: str, params: Any, result_type: type[Any], ctx: Any = None) -> Any:
        token = router.track(params, ctx)
        try:
            raw = await upstream.request(method, _legacy_params(params))
        except RpcError as err:
            raise MCPError(int(err.error.get("code", UPSTREAM_ERROR)), str(err.error.get("message", "")), err.error.get("data")) from None
        except UpstreamError as err:
            raise MCPError(UPSTREAM_ERROR, f"sshwall: upstream failed: {err}") from None
        finally:
            router.forget(token)
        return result_type.model_validate(raw or {}, by_name=False)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        result: types.ListToolsResult = await forward("tools/list", params, types.ListToolsResult, ctx)
        visible = {t["name"] for t in firewall.visible_tools([{"name": t.name} for t in result.tools], caller_of(ctx).identity)}
        return result.model_copy(update={"tools": [t for t in result.tools if t.name in visible]})

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        token = router.track(params, ctx)
        try:
            raw = await firewall.call_tool(_legacy_params(params), caller_of(ctx), getattr(ctx, "request_id", None))
        except RpcError as err:
            raise MCPError(int(err.error.get("code", UPSTREAM_ERROR)), str(err.error.get("message", ""))) from None
        except UpstreamError as err:
            raise MCPError(UPSTREAM_ERROR, f"sshwall: upstream failed: {err}") from None
        finally:
            router.forget(token)
        return types.CallToolResult.model_validate(raw, by_name=False)

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
                     limits: HttpLimits | None = None, default_identity: str = "local") -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until cancelled, within ``limits``."""
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
    # then the owner check and the token check (sshwall.proxy.sessionowners, .tokens).
    app = cap_sessions(app, live.keys, default_identity, limits.max_sessions_per_identity, limits.max_sessions,
                       limits.session_idle_s)
    app = guard_frames(app, max_bytes, limits.body_timeout_s)
    if tokens:
        # A session is used only by the identity that opened it (sshwall.proxy.sessionowners).
        app = require_token(own_sessions(app), tokens)
    await run_http(app, host, int(port), limits)


async def serve_stdio_modern(server: Server[Any], first: Message, reader: LineReader, write: Write) -> None:
    """Serve a 2026-07-28 client on stdio whose first frame ``first`` was already read."""
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)

    async def admit(raw: Message) -> None:
        try:
            check_client_frame(raw)  # a tools/call as a notification, a look-alike method
            msg = types.jsonrpc_message_adapter.validate_python(raw, by_name=False)
        except FrameError as err:
            await write(encode(error(err.msg_id, err.code, str(err))))
            return
        except ValueError as err:
            await write(encode(error(raw.get("id"), INVALID_REQUEST, f"not an MCP message: {str(err)[:300]}")))
            return
        await read_send.send(SessionMessage(msg))

    async def pump_in() -> None:
        async with read_send:
            await admit(first)
            while True:
                try:
                    frame = await reader.next_frame()
                except EOFError:
                    return
                if frame is None:
                    await write(encode(error(None, INVALID_REQUEST, "message over the size limit; dropped")))
                    continue
                if not frame.strip():
                    continue
                try:
                    raw = decode(frame)
                except FrameError as err:
                    await write(encode(error(err.msg_id, err.code, str(err))))
                    continue
                await admit(raw)

    async def pump_out() -> None:
        async with write_recv:
            async for item in write_recv:
                await write((item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode())

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump_out)
        tg.start_soon(pump_in)
        await server.run(read_recv, write_send, server.create_initialization_options())
        tg.cancel_scope.cancel()


async def serve_sdk(args: argparse.Namespace, firewall: Firewall, upstream: Upstream, router: UpstreamRouter) -> int:
    """``sshwall serve --listen``: the SDK frontend over streamable HTTP."""
    tokens = load_tokens(args.tokens) if args.tokens else None
    # Several identities on one upstream: ids are kept apart (sshwall.proxy.identities).
    firewall.identities.shared = bool(tokens) and len(tokens or {}) > 1
    await upstream.initialize(client_handshake())

    def caller_of(ctx: Any) -> Caller:
        session = getattr(getattr(ctx, "session", None), "session_id", None) or "http"
        return Caller(identity=identity_of(ctx, args.identity), session=str(session))

    server = build_server(firewall, upstream, caller_of, router)
    await serve_http(server, args.listen, args.max_message_bytes, tokens, http_limits(args), args.identity)
    return 0

