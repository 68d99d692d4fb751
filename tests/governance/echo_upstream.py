"""A stub stdio MCP upstream that shows what reached it.

Every ``tools/call`` is answered with one text block holding ``{"tool": NAME, "arguments":
{...}}`` as JSON (and the same object as ``structuredContent``), and, when a file is given as the
first command-line argument, appended to that file as one JSON line. So a test sees exactly what
the gateway forwarded, including calls it made on its own (a TTL stop) that no client asked for.

    python tests/governance/echo_upstream.py [RECORD.jsonl]
"""

from __future__ import annotations

import json
import sys

TOOLS = ["executeCommand", "backgroundExecute", "stopBackground", "stopAllBackgroundTasks", "listConnections"]


def main() -> None:
    record = sys.argv[1] if len(sys.argv) > 1 else None
    out = sys.stdout
    for line in sys.stdin:
        msg = json.loads(line)
        if "id" not in msg or "method" not in msg:
            continue
        method = msg["method"]
        params = msg.get("params") or {}
        if method == "initialize":
            result = {"protocolVersion": params.get("protocolVersion", "2025-11-25"),
                      "capabilities": {"tools": {}}, "serverInfo": {"name": "echo", "version": "1"}}
        elif method == "tools/list":
            result = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in TOOLS]}
        elif method == "tools/call":
            seen = {"tool": params.get("name"), "arguments": params.get("arguments")}
            if record:
                with open(record, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(seen) + "\n")
            result = {"content": [{"type": "text", "text": json.dumps(seen)}], "structuredContent": seen}
        else:
            result = {}
        out.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
