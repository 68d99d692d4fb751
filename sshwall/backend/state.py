"""Everything one backend process holds in memory, in one place."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from anyio import to_thread

from sshwall.backend.background import BackgroundTasks
from sshwall.backend.config import BackendConfig
from sshwall.backend.connections import ConnectionRegistry
from sshwall.backend.terminals import TerminalManager
from sshwall.backend.transfers import TransferLog
from sshwall.backend.tunnels import TunnelManager

T = TypeVar("T")


@dataclass(frozen=True)
class BackendState:
    """The backend's configuration and its registries (each one thread-safe)."""

    config: BackendConfig = field(default_factory=BackendConfig)
    connections: ConnectionRegistry = field(default_factory=ConnectionRegistry)
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    transfers: TransferLog = field(default_factory=TransferLog)
    tunnels: TunnelManager = field(default_factory=TunnelManager)
    terminals: TerminalManager = field(default_factory=TerminalManager)

    def release(self, connection_id: str) -> None:
        """Stop everything that runs over a connection (before it is closed)."""
        self.background.stop(connection_id)
        self.tunnels.close_for(connection_id)
        self.terminals.close_for(connection_id)

    def close(self) -> None:
        """Stop all tasks, tunnels and terminals and close every connection (at shutdown)."""
        self.background.stop_all()
        self.tunnels.close_all()
        self.terminals.close_all()
        self.connections.close_all()


async def in_thread(func: Callable[..., T], *args: object) -> T:
    """Run a blocking call (SSH, SFTP, joins) in a worker thread."""
    return await to_thread.run_sync(func, *args)


async def cancellable(func: Callable[..., T], *args: object) -> T:
    """Run a blocking call in a worker thread that stops when the caller is cancelled.

    ``func`` gets a ``cancel`` keyword: a ``threading.Event`` set when the caller is cancelled
    (a client's ``notifications/cancelled``). The caller returns at once; the thread finishes
    its own clean-up (``SshSession.exec`` closes the channel, which ends the remote command).
    """
    cancel = threading.Event()
    try:
        return await to_thread.run_sync(functools.partial(func, *args, cancel=cancel), abandon_on_cancel=True)
    finally:
        cancel.set()
