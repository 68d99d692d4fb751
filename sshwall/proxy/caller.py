"""Who is calling: one small value, in a module of its own so that the pure path of a call
(``Firewall.preview``, what ``sshwall check`` decides by) names it without loading the rate
caps and task registry (``sshwall.limits``) that the limit guard needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who is calling: the identity whose grant applies, the MCP session, the bound host."""

    identity: str = "local"
    session: str = "stdio"
    host: str | None = None


__all__ = ["Caller"]
