"""Interactive terminal sessions: a login shell on a PTY per session id.

Mcp Ssh pushes terminal output as events; an MCP client reading only tool results would never
see it. Here a reader thread buffers everything the shell prints, and each
``mcp_ssh_mcp_writeToTerminal`` returns the output that followed the write: it waits for the
first output (up to ``FIRST_OUTPUT_S``, so a slow or busy host is not mistaken for a quiet one),
then until the shell has been quiet for ``SETTLE_S`` (at most ``MAX_WAIT_S`` after that first
output). Output that comes later waits in the buffer for the next read.

With ``--emulate-mcp-ssh-rewrites`` a session also does what Mcp Ssh does (``AutoType``): when
a chunk of output contains ``Password:`` or another trigger, it types the connection's password
and Enter at once, and replaces the next write with the same.
"""

from __future__ import annotations

import codecs
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sshwall.backend.ssh import Stream
from sshwall.errors import UsageError

FIRST_OUTPUT_S = 5.0
"""A read waits this long for the first output before it answers with nothing."""
SETTLE_S = 0.3
"""Once output has come, it is considered complete after this much silence..."""
MAX_WAIT_S = 3.0
"""...or this long after the first output, whichever comes first."""
MAX_BUFFER = 256 * 1024


@dataclass(frozen=True)
class TerminalInfo:
    """One terminal session."""

    session_id: str
    connection_id: str
    term: str
    cols: int
    rows: int


@dataclass(frozen=True)
class AutoType:
    """The emulation of Mcp Ssh typing the connection's password into a terminal by itself."""

    triggers: tuple[str, ...]
    typed: str  # with {password}
    replaces_next_write: bool
    password: Callable[[], str | None]

    def text(self) -> str | None:
        """What is typed now, or None when the connection has no password."""
        password = self.password()
        return self.typed.replace("{password}", password) if password else None


@dataclass(frozen=True)
class TerminalOutput:
    """What a terminal printed since the last read."""

    text: str
    closed: bool


class _Terminal:
    def __init__(self, info: TerminalInfo, stream: Stream, autotype: AutoType | None = None) -> None:
        self.info = info
        self._stream = stream
        self._autotype = autotype
        self._prompted = False  # Mcp Ssh's sudoPasswordPrompt flag
        self._send_lock = threading.Lock()
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
            self._watch(data)

    def _watch(self, data: bytes) -> None:
        """Emulation: a chunk showing a trigger makes the password typed in at once."""
        auto = self._autotype
        if auto is None:
            return
        chunk = data.decode("utf-8", "replace")  # per chunk, as Node's data.toString('utf8')
        if not any(t in chunk for t in auto.triggers):
            return
        self._prompted = True
        typed = auto.text()
        if typed is not None:
            try:
                self._send(typed)
            except OSError:
                pass  # the shell went away; the read loop sees it end

    def _send(self, text: str) -> None:
        with self._send_lock:
            self._stream.sendall(text.encode("utf-8"))

    def write(self, data: str) -> None:
        with self._cond:
            if self._closed:
                raise UsageError(f"terminal {self.info.session_id} has ended")
        auto = self._autotype
        if auto is not None and auto.replaces_next_write and self._prompted:
            self._prompted = False
            typed = auto.text()
            if typed is not None:
                self._send(typed)  # the agent's data is dropped, as Mcp Ssh drops it
                return
        self._send(data)

    def read(self, settle_s: float = SETTLE_S, max_wait_s: float = MAX_WAIT_S,
             first_output_s: float = FIRST_OUTPUT_S) -> TerminalOutput:
        """Wait for output (at most ``first_output_s``), then until the shell is quiet for
        ``settle_s`` (at most ``max_wait_s`` after the first output), then drain."""
        start = time.monotonic()
        with self._cond:
            seen = len(self._buffer)
            # The settle window starts with the first output, not with the call: on a busy host
            # the echo or the command's output can take longer than the window to arrive.
            first_at: float | None = start if seen else None
            last_change = start
            while not self._closed:
                now = time.monotonic()
                if len(self._buffer) != seen:
                    seen, last_change = len(self._buffer), now
                    if first_at is None:
                        first_at = now
                if first_at is None:
                    wait_s = start + first_output_s - now
                else:
                    wait_s = min(last_change + settle_s, first_at + max_wait_s) - now
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

    def open(self, connection_id: str, term: str, cols: int, rows: int, stream: Stream,
             autotype: AutoType | None = None) -> TerminalInfo:
        """Register a freshly opened PTY shell (``autotype``: emulate Mcp Ssh's password typing)."""
        info = TerminalInfo(secrets.token_hex(16), connection_id, term, cols, rows)
        with self._lock:
            self._terminals[info.session_id] = _Terminal(info, stream, autotype)
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
