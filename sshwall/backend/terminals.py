"""Interactive terminal sessions: a login shell on a PTY per session id.

Mcp Ssh pushes terminal output as events; an MCP client reading only tool results would never
see it. Here a reader thread buffers everything the shell prints, and each
``mcp_ssh_mcp_writeToTerminal`` returns the output that followed the write, once the shell has
been quiet for a moment (or a time cap has passed).
"""

from __future__ import annotations

import codecs
import secrets
import threading
import time
from dataclasses import dataclass

from sshwall.backend.ssh import Stream
from sshwall.errors import UsageError

SETTLE_S = 0.3
"""Output is considered complete after this much silence."""
MAX_WAIT_S = 3.0
"""...or after this long, whichever comes first."""
MAX_BUFFER = 256 * 1024


@dataclass(frozen=True)
class TerminalInfo:
    """One terminal session."""

    session_id: str
    connection_id: str
    term: str
    cols: int
    rows: int

    def describe(self) -> str:
        """Human-readable line."""
        return f"Terminal {self.session_id} on {self.connection_id} ({self.term} {self.cols}x{self.rows})"


@dataclass(frozen=True)
class TerminalOutput:
    """What a terminal printed since the last read."""

    text: str
    closed: bool


class _Terminal:
    def __init__(self, info: TerminalInfo, stream: Stream) -> None:
        self.info = info
        self._stream = stream
        self._cond = threading.Condition()
        self._buffer = bytearray()
        self._dropped = 0
        self._closed = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        threading.Thread(target=self._read_loop, name=info.session_id, daemon=True).start()

    def _read_loop(self) -> None:
        while True:
            try:
                data = self._stream.recv(65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._closed = True
                    self._cond.notify_all()
                    return
                self._buffer += data
                if len(self._buffer) > MAX_BUFFER:  # keep the newest output
                    self._dropped += len(self._buffer) - MAX_BUFFER
                    del self._buffer[: len(self._buffer) - MAX_BUFFER]
                self._cond.notify_all()

    def write(self, data: str) -> None:
        with self._cond:
            if self._closed:
                raise UsageError(f"terminal {self.info.session_id} has ended")
        self._stream.sendall(data.encode("utf-8"))

    def read(self, settle_s: float = SETTLE_S, max_wait_s: float = MAX_WAIT_S) -> TerminalOutput:
        """Wait until the shell is quiet for ``settle_s`` (at most ``max_wait_s``), then drain."""
        last_change = time.monotonic()
        deadline = last_change + max_wait_s
        with self._cond:
            seen = len(self._buffer)
            while not self._closed:
                now = time.monotonic()
                if len(self._buffer) != seen:
                    seen, last_change = len(self._buffer), now
                wait_s = min(last_change + settle_s, deadline) - now
                if wait_s <= 0:
                    break
                self._cond.wait(wait_s)
            data, self._buffer = bytes(self._buffer), bytearray()
            dropped, self._dropped = self._dropped, 0
            closed = self._closed
        text = self._decoder.decode(data, final=closed)
        if dropped:
            text = f"[{dropped} earlier bytes dropped]\n" + text
        return TerminalOutput(text, closed)

    def close(self) -> None:
        self._stream.close()


class TerminalManager:
    """Open terminal sessions by id; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._terminals: dict[str, _Terminal] = {}

    def open(self, connection_id: str, term: str, cols: int, rows: int, stream: Stream) -> TerminalInfo:
        """Register a freshly opened PTY shell."""
        info = TerminalInfo(secrets.token_hex(16), connection_id, term, cols, rows)
        with self._lock:
            self._terminals[info.session_id] = _Terminal(info, stream)
        return info

    def _get(self, session_id: str) -> _Terminal:
        with self._lock:
            terminal = self._terminals.get(session_id)
        if terminal is None:
            raise UsageError(f"unknown terminal session {session_id!r}: see listActiveSessions")
        return terminal

    def read(self, session_id: str) -> TerminalOutput:
        """The output waiting in a session (after it settles); forgets the session once it ended."""
        output = self._get(session_id).read()
        if output.closed:
            with self._lock:
                self._terminals.pop(session_id, None)
        return output

    def write(self, session_id: str, data: str) -> TerminalOutput:
        """Send ``data`` verbatim and return the output that follows."""
        self._get(session_id).write(data)
        return self.read(session_id)

    def close_for(self, connection_id: str) -> int:
        """Close every session of a connection; returns how many."""
        with self._lock:
            doomed = [t for t in self._terminals.values() if t.info.connection_id == connection_id]
            for terminal in doomed:
                del self._terminals[terminal.info.session_id]
        for terminal in doomed:
            terminal.close()
        return len(doomed)

    def close_all(self) -> None:
        """Close every session (at backend shutdown)."""
        with self._lock:
            doomed, self._terminals = list(self._terminals.values()), {}
        for terminal in doomed:
            terminal.close()

    def snapshot(self) -> list[TerminalInfo]:
        """Every open session."""
        with self._lock:
            return [t.info for t in self._terminals.values()]
