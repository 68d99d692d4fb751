"""A trivial stdio MCP upstream for benchmarks: answers at once, does nothing.

It speaks the legacy handshake and Mcp Ssh's tool names; every tools/call returns one text block.
"""

from __future__ import annotations

import json
import sys

TOOLS = ["executeCommand", "backgroundExecute", "listConnections", "connect", "disconnect"]


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        msg = json.loads(line)
        if "id" not in msg:
            continue
        method = msg.get("method")
        if method == "initialize":
            result = {"protocolVersion": msg["params"].get("protocolVersion", "2025-11-25"),
                      "capabilities": {"tools": {}}, "serverInfo": {"name": "trivial", "version": "1"}}
        elif method == "tools/list":
            result = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in TOOLS]}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "ok"}]}
        else:
            result = {}
        out.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
