"""A fake upstream for the limit guard's in-process tests: it answers the background tools in
Mcp Ssh's own reply texts (see ../shared/mcp-ssh/replies.jsonl) and keeps the timers it set."""

from __future__ import annotations

import asyncio
from typing import Any

from sshwall.errors import UpstreamTimeout


class BackgroundUpstream:
    """Answers like Mcp Ssh; ``timers``: the connections it has a timer for."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.timers: set[str] = set()
        self.time_out_starts = False
        self.time_out_stops = False
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        name, args = params["name"], params.get("arguments") or {}
        self.sent.append((name, args))
        cid = args.get("connectionId", "")
        if name == "backgroundExecute":
            self.entered.set()
            if self.hold is not None:
                await self.hold.wait()
            if self.time_out_starts:
                raise UpstreamTimeout("upstream did not answer tools/call within 1 s")
            self.timers.add(cid)
            text = (f"已在后台启动命令: {args['command']}\n间隔: {args['interval'] / 1000:g}秒\n连接: n\n\n"
                    "使用 stopBackground 工具可停止此后台任务。")
        elif name == "stopBackground":
            if self.time_out_stops:
                raise UpstreamTimeout("upstream did not answer tools/call within 1 s")
            text = f"已停止连接 {cid} 的后台任务" if cid in self.timers else f"连接 {cid} 没有正在运行的后台任务"
            self.timers.discard(cid)
        elif name == "stopAllBackgroundTasks":
            text = f"已停止 {len(self.timers)} 个后台任务"
            self.timers.clear()
        else:
            text = "ok"
        return {"content": [{"type": "text", "text": text}]}

    def stops(self) -> list[str]:
        return [args["connectionId"] for name, args in self.sent if name == "stopBackground"]
