"""A tiny stdio MCP server standing in for an upstream that misbehaves, for the fault tests.

    python fake_upstream.py [--record FILE] [--noisy]

It answers ``initialize``, ``ping`` and ``tools/list`` (``executeCommand`` and
``listConnections``, named as in Mcp Ssh so that a policy's profile covers them). What
``executeCommand`` does depends on its ``command`` argument:

- ``echo TEXT``: answers ``TEXT`` (plus ``pid=N`` so a test can see a restart);
- ``exit``: the process exits at once, without answering (an upstream dying mid-call);
- ``sleep N``: answers after N seconds (time for a test to kill the process meanwhile);
- ``hang``: never answers this request (other requests are still served);
- ``progress``: first sends ``notifications/progress`` for the call's ``progressToken``;
- ``ask``: first asks the client ``roots/list`` (a request from server to client) and answers
  with what the client answered (its result, or its error);
- ``notify``: first sends ``notifications/tools/list_changed`` (a notification of its own);
- ``fail``: answers with a JSON-RPC error that carries ``data``.

``--noisy`` prints plain-text log lines on stdout next to the JSON-RPC stream, as Mcp Ssh does
(at start, before answers, at shutdown), plus lines that are JSON but not JSON-RPC.
``--record FILE`` appends ``start PID`` when the process starts and every frame it receives,
one JSON per line, so a test can see what the gateway sent (a cancellation, a replayed
handshake).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

TOOLS = [
    {
        "name": "executeCommand",
        "description": "fake: echo, exit, sleep or hang",
        "inputSchema": {
            "type": "object",
            "properties": {"connectionId": {"type": "string"}, "command": {"type": "string"}},
            "required": ["connectionId", "command"],
        },
    },
    {"name": "listConnections", "description": "fake: no connections", "inputSchema": {"type": "object"}},
]

_out = threading.Lock()
_asked: dict[object, tuple[threading.Event, list[dict[str, Any]]]] = {}  # our requests to the client
_noisy = "--noisy" in sys.argv
_record = sys.argv[sys.argv.index("--record") + 1] if "--record" in sys.argv else None


def log_line(text: str) -> None:
    """A plain-text line on stdout, as Mcp Ssh prints them."""
    if _noisy:
        with _out:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def send(msg: dict[str, Any]) -> None:
    with _out:
        if _noisy:
            sys.stdout.write("[mcp-ssh] 正在发送响应 (sending a response)\n")
        sys.stdout.write(json.dumps(msg, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def record(text: str) -> None:
    if _record:
        with open(_record, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def text_result(msg_id: Any, text: str) -> None:
    send({"jsonrpc": "2.0", "id": msg_id, "result": {"content": [{"type": "text", "text": text}]}})


def call_tool(msg_id: Any, params: dict[str, Any]) -> None:
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "listConnections":
        text_result(msg_id, "当前没有保存的连接")
        return
    if name != "executeCommand":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {
            "content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True}})
        return
    command = str(args.get("command", ""))
    if command == "exit":
        os._exit(3)
    if command == "hang":
        return
    if command == "progress":
        token = (params.get("_meta") or {}).get("progressToken")
        if token is not None:
            send({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": 1, "total": 2, "message": "half way"}})
        text_result(msg_id, f"progressed with token {token!r}")
        return
    if command == "ask":
        event, box = threading.Event(), []
        _asked[f"ask-{msg_id}"] = (event, box)
        send({"jsonrpc": "2.0", "id": f"ask-{msg_id}", "method": "roots/list"})
        if not event.wait(1.5):
            text_result(msg_id, "no answer from the client")
            return
        answer = box[0].get("result", box[0].get("error"))
        text_result(msg_id, "client said " + json.dumps(answer, sort_keys=True))
        return
    if command == "notify":
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        text_result(msg_id, "notified")
        return
    if command == "fail":
        send({"jsonrpc": "2.0", "id": msg_id, "error": {
            "code": -32042, "message": "fake failure", "data": {"why": "asked to fail", "n": 1}}})
        return
    if command.startswith("sleep "):
        time.sleep(float(command.split()[1]))
        text_result(msg_id, "slept")
        return
    if command.startswith("echo "):
        text_result(msg_id, f"{command[5:]}\npid={os.getpid()}")
        return
    text_result(msg_id, f"ran {command}")


def handle(msg: dict[str, Any]) -> None:
    method, msg_id = msg.get("method"), msg.get("id")
    if method is None and msg_id in _asked:  # the client's answer to our request
        event, box = _asked.pop(msg_id)
        box.append(msg)
        event.set()
        return
    if method is None or msg_id is None:
        return  # a notification or another response: nothing to answer
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {
            "protocolVersion": (msg.get("params") or {}).get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-upstream", "version": "0.0.1"},
        }})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": msg_id, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        threading.Thread(target=call_tool, args=(msg_id, msg.get("params") or {}), daemon=True).start()
    else:
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"no method {method}"}})


def main() -> None:
    record(f"start {os.getpid()}")
    log_line("MCP SSH 服务器已启动 (a plain-text start-up line)")
    log_line('{"level":"info","msg":"JSON, but not JSON-RPC"}')
    log_line("[1, 2, 3]")
    for raw in sys.stdin:
        if not raw.strip():
            continue
        record(raw.strip())
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if isinstance(msg, dict):
            handle(msg)
    log_line("MCP SSH 服务器正在关闭 (a plain-text shutdown line)")


if __name__ == "__main__":
    main()
