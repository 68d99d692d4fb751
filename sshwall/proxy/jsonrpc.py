"""JSON-RPC 2.0 frames as plain dicts: decoding with size and depth bounds, and building replies.

The gateway reads only what the firewall needs (method, id, tool name, arguments) and passes
everything else through as it came.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sshwall.errors import FrameError

Message = dict[str, Any]
MAX_FRAME_BYTES = 16 * 1024 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UPSTREAM_ERROR = -32000  # implementation-defined server error: the upstream failed


def decode(line: bytes | str, max_bytes: int = MAX_FRAME_BYTES) -> Message:
    """Decode one frame, or raise ``FrameError`` saying precisely what is wrong."""
    if len(line) > max_bytes:
        raise FrameError(INVALID_REQUEST, f"message of {len(line)} bytes is over the limit of {max_bytes}")
    try:
        msg = json.loads(line)
    except RecursionError:
        raise FrameError(PARSE_ERROR, "message nests too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FrameError(PARSE_ERROR, f"not JSON: {err}") from None
    if not isinstance(msg, dict):
        raise FrameError(INVALID_REQUEST, f"a message is a JSON object, not {type(msg).__name__}")
    msg_id = msg.get("id")
    if msg.get("jsonrpc") != "2.0":
        raise FrameError(INVALID_REQUEST, 'missing "jsonrpc": "2.0"', msg_id)
    if "method" in msg:
        if not isinstance(msg["method"], str):
            raise FrameError(INVALID_REQUEST, "method must be a string", msg_id)
        if "params" in msg and not isinstance(msg["params"], (dict, list)):
            raise FrameError(INVALID_REQUEST, "params must be an object or an array", msg_id)
    elif "result" not in msg and "error" not in msg:
        raise FrameError(INVALID_REQUEST, "neither a request, a notification nor a response", msg_id)
    bad_id = isinstance(msg_id, bool) or not isinstance(msg_id, (str, int, type(None)))
    if "id" in msg and (bad_id or (msg_id is None and "method" in msg)):
        raise FrameError(INVALID_REQUEST, "id must be a string or an integer")
    return msg


def encode(msg: Message) -> bytes:
    """One frame, newline-terminated (the stdio transport's framing)."""
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def is_request(msg: Message) -> bool:
    """A request has a method and an id."""
    return "method" in msg and "id" in msg


GUARDED_METHODS = frozenset({"tools/call", "tools/list"})
"""Methods the gateway reads (decides or filters) rather than passes through."""


def check_client_frame(msg: Message) -> None:
    """Refuse a client frame the firewall could be bypassed with; raises ``FrameError``.

    A ``tools/call`` is decided only as a request: sent as a notification (no id) it would
    reach the upstream unchecked, so it is refused. Method names are matched exactly, as the
    protocol defines them; a name that only differs from a guarded one by case, spaces or
    slashes (``Tools/Call``, ``tools/call ``) is refused rather than passed to an upstream that
    might be more lenient.
    """
    method = msg.get("method")
    if not isinstance(method, str):
        return
    if method not in GUARDED_METHODS and _folded(method) in GUARDED_METHODS:
        raise FrameError(METHOD_NOT_FOUND, f"method {method[:100]!r} is not {_folded(method)!r}: method names are matched exactly",
                         msg.get("id"))
    if method == "tools/call" and "id" not in msg:
        raise FrameError(INVALID_REQUEST, "tools/call must be a request with an id; sent as a notification it is refused")


def _folded(method: str) -> str:
    return "/".join(part.strip() for part in method.casefold().strip().strip("/").split("/"))


def error(msg_id: Any, code: int, message: str, data: Any = None) -> Message:
    """A JSON-RPC error response."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": err}


def result(msg_id: Any, value: Any) -> Message:
    """A JSON-RPC success response."""
    return {"jsonrpc": "2.0", "id": msg_id, "result": value}


def tool_error(text: str, structured: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``tools/call`` result the model can read: ``isError: true`` with one text block."""
    out: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
    if structured is not None:
        out["structuredContent"] = structured
    return out


class LineReader:
    """Newline-framed reading with a size bound that never buffers more than the bound.

    An over-long frame is dropped up to its newline and reported as ``None`` from
    ``next_frame`` (so the caller can answer it with an error and go on).
    """

    def __init__(self, read: Callable[[int], Awaitable[bytes]], max_bytes: int = MAX_FRAME_BYTES) -> None:
        self._read = read
        self._max = max_bytes
        self._buf = bytearray()
        self._eof = False

    async def next_frame(self) -> bytes | None:
        """The next frame without its newline; ``None`` for an over-long one; EOFError at the end."""
        overflow = False
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                frame = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                if overflow or len(frame) > self._max:
                    return None
                return frame
            if len(self._buf) > self._max:
                overflow = True
                self._buf.clear()
            if self._eof:
                if self._buf and not overflow:
                    frame = bytes(self._buf)
                    self._buf.clear()
                    return frame
                raise EOFError
            chunk = await self._read(65536)
            if not chunk:
                self._eof = True
            self._buf += chunk
