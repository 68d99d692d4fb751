"""sshwall: an argument-validating firewall for AI agents' SSH access over MCP."""

from __future__ import annotations

__version__ = "0.1.0"
