"""Startup options of the built-in backend (set by its command line, never by a tool call)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sshwall.backend.hostkeys import HostKeyPolicy

DEFAULT_COMMAND_TIMEOUT_MS = 60_000


def default_download_dir() -> Path:
    """Where ``downloadFile`` saves without ``localPath``: ``~/Downloads``, as Mcp Ssh does."""
    return Path.home() / "Downloads"


@dataclass(frozen=True)
class BackendConfig:
    """Everything the backend needs to know before the first tool call."""

    host_keys: HostKeyPolicy = field(default_factory=HostKeyPolicy)
    download_dir: Path = field(default_factory=default_download_dir)
    command_timeout_ms: int = DEFAULT_COMMAND_TIMEOUT_MS
    """executeCommand's timeout when the call gives none, and each background run's."""
    emulate_rewrites: bool = False
    """Do what the real Mcp Ssh does to commands (password into sudo, tmux follow-ups): tests only."""
