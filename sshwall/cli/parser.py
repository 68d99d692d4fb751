"""Every option of the ``sshwall`` command line, in one place.

``build_parser(selected)`` returns the whole ``sshwall`` parser: each subcommand is listed
with its one-line help, and only the ``selected`` one gets its options, so building the parser
imports nothing a subcommand that does not run would need (``sshwall check`` stays free of the
gateway's, HTTP's and paramiko's imports). A usage mistake raises ``UsageError`` carrying the
usage line and argparse's message; the caller prints it and exits 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from sshwall.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` instead of exiting, so ``main`` returns the code."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage().rstrip()}\n{self.prog}: error: {message}")


# -- argument types (argparse turns ArgumentTypeError into a usage error) ------------------------


def parse_host(text: str) -> tuple[str, int | None]:
    """``name``, ``name:port``, ``v4:port``, ``[v6]:port`` or a bare IPv6 address (``--host``)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"--host {text!r}: write [ADDRESS]:PORT")
        return host, _port(text, rest[1:]) if rest else None
    if text.count(":") > 1:  # a bare IPv6 address
        return text, None
    host, sep, port = text.partition(":")
    if not host:
        raise UsageError(f"--host {text!r}: no host")
    return host, _port(text, port) if sep else None


def _port(text: str, port: str) -> int:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--host {text!r}: the port must be a number within 1-65535")
    return int(port)


def _host(text: str) -> tuple[str, int | None]:
    try:
        return parse_host(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _milliseconds(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of milliseconds, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number (0 or more), got {text!r}")
    return int(text)


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _rules(p: argparse.ArgumentParser, required: bool = False, help: str | None = None) -> None:
    p.add_argument("--rules", type=Path, default=None, required=required, help=help or (
        "policy file (YAML, JSON or PolicyLayer policy.json); default: the embedded readonly-ops"))


# -- the subcommands' options ------------------------------------------------------------------


def _check(p: argparse.ArgumentParser) -> None:
    _rules(p)
    p.add_argument("--tool", default="executeCommand", help="tool the command is given to (default executeCommand)")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="another argument of the call (VALUE is parsed as JSON when it can be)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--batch", type=Path, metavar="IN.jsonl", help="decide each {tool, arguments} line")
    p.add_argument("--cwd", metavar="DIR", default=None,
                   help="the connection's current folder (absolute): relative paths are resolved against it; "
                        "a batch line's own `cwd` key wins (see docs/working-folder.md)")
    p.add_argument("--home", metavar="DIR", default=None,
                   help="the user's home folder (absolute), for `~`, `$HOME` and `cd`; a batch line's `home` key wins")
    p.add_argument("--group", metavar="NAME", default=None,
                   help="the call's connection leads to a host of this host group (its command set applies, "
                        "as in `sshwall serve`); a batch line's own `group` key wins")
    p.add_argument("--identity", default=os.environ.get("SSHWALL_IDENTITY", "local"),
                   help="identity whose grant narrows the decision, as with `sshwall serve` (default: local)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND (words are joined with spaces)")


def _test(p: argparse.ArgumentParser) -> None:
    _rules(p)
    p.add_argument("corpus", nargs="*", type=Path, help="JSONL files of {tool, arguments, expect}")
    p.add_argument("--verbose", "-v", action="store_true", help="list passing cases too")
    p.add_argument("--oracle", action="store_true",
                   help="also run every allowed case in the execution oracle (Linux, root); see docs/oracle.md")
    p.add_argument("--identity", default=None,
                   help="decide the cases as this identity, its grant narrowing them (default: the policy for everyone)")


# The ``--http-*`` options: (flag, type, help) by HttpLimits field.
_HTTP_OPTIONS = {
    "header_timeout_s": ("--http-header-timeout", float, "seconds a client has to send a request's headers"),
    "body_timeout_s": ("--http-body-timeout", float, "seconds a client has to send a request's body"),
    "keepalive_s": ("--http-keepalive", float, "seconds an idle keep-alive connection stays open"),
    "max_connections": ("--http-max-connections", int, "connections open at once (503 beyond)"),
    "session_idle_s": ("--http-session-idle", float, "seconds an idle MCP session lives"),
    "max_sessions": ("--http-max-sessions", int, "MCP sessions open at once (503 beyond)"),
    "max_sessions_per_identity": ("--http-max-sessions-per-identity", int, "MCP sessions per identity (429 beyond)"),
}


def _serve(p: argparse.ArgumentParser) -> None:
    from sshwall.proxy.settings import DEFAULT_MAX_MESSAGE_BYTES, GatewaySettings, HttpLimits

    defaults, http = GatewaySettings(), HttpLimits()
    _rules(p, help="policy file (default: embedded readonly-ops)")
    p.add_argument("--audit", type=Path, default=None, help="append the audit log to this JSONL file")
    p.add_argument("--audit-fsync", action="store_true", help="fsync every audit record (slower, survives power loss)")
    p.add_argument("--listen", metavar="HOST:PORT", help="serve streamable HTTP instead of stdio")
    p.add_argument("--metrics-listen", metavar="HOST:PORT",
                   help="serve Prometheus /metrics on this port of its own, without a token (docs/metrics.md)")
    p.add_argument("--upstream-url", metavar="URL", help="a streamable-HTTP upstream instead of a command")
    p.add_argument("--state", default=os.environ.get("SSHWALL_STATE", "memory://"), metavar="URL",
                   help="rate counters and task registry: memory:// (default), sqlite:///path.db, redis://host:port/0")
    p.add_argument("--tokens", type=Path, metavar="FILE",
                   help="with --listen: `identity: token` lines (or JSON); each request needs Authorization: Bearer TOKEN")
    p.add_argument("--identity", default=os.environ.get("SSHWALL_IDENTITY", "local"),
                   help="identity whose grant the stdio client uses (default: local)")
    p.add_argument("--timeout", type=float, default=defaults.timeout,
                   help=f"seconds an upstream request may take, writing it included (default {defaults.timeout:g})")
    p.add_argument("--restart-after-timeouts", type=_count, default=defaults.restart_after_timeouts, metavar="N",
                   help="kill and restart a stdio upstream after N requests in a row timed out "
                   f"(default {defaults.restart_after_timeouts}; 0: never)")
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="largest client message accepted (default 4 MiB)")
    for name, (flag, kind, text) in _HTTP_OPTIONS.items():
        default = getattr(http, name)
        p.add_argument(flag, dest=f"http_{name}", type=_positive(kind), default=default, metavar="N",
                       help=f"with --listen: {text} (default {default:g})")
    p.add_argument("--backend-arg", action="append", default=[], metavar="ARG",
                   help="option for the built-in backend (repeatable), e.g. --backend-arg=--known-hosts=FILE")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--mode", default="enforce", choices=["enforce", "shadow"],
                   help="shadow: decide and audit every call but forward denied ones too, audited would-deny; "
                        "enforces nothing (docs/shadow-replay.md; default enforce)")
    p.add_argument("upstream", nargs=argparse.REMAINDER, help="-- UPSTREAM_CMD [ARGS...]")


def _backend(p: argparse.ArgumentParser) -> None:
    from sshwall.backend.config import DEFAULT_COMMAND_TIMEOUT_MS

    p.add_argument("--listen", metavar="HOST:PORT", type=_listen,
                   help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--known-hosts", metavar="FILE", action="append",
                   help="known_hosts file to trust (repeatable; default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)")
    p.add_argument("--host-key", metavar="HOST:PORT=SHA256:...", action="append",
                   help="pin a host key fingerprint (repeatable); a pin overrides known_hosts")
    p.add_argument("--insecure-accept-any-host-key", action="store_true",
                   help="accept hosts that are neither pinned nor in known_hosts (logged as a warning on every such "
                   "connect); a known key that differs is still refused")
    p.add_argument("--download-dir", metavar="DIR", type=Path, default=None,
                   help="where downloadFile saves when no localPath is given (default ~/Downloads)")
    p.add_argument("--command-timeout", metavar="MS", type=_milliseconds, default=DEFAULT_COMMAND_TIMEOUT_MS,
                   help="executeCommand timeout when the call gives none, and each background run's "
                   f"(default {DEFAULT_COMMAND_TIMEOUT_MS})")
    p.add_argument("--emulate-mcp-ssh-rewrites", action="store_true",
                   help="UNSAFE, for tests: do what the real Mcp Ssh does (paste the connection's password, else the "
                   "one saved for the id, into sudo commands, run tmux follow-up commands, type the password into "
                   "terminals whose output shows Password:); unlike the real server, a password-only reconnect also "
                   "authenticates with the id's old key (a test convenience: the real server uses the call's own "
                   "credentials)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="sshwall's log level")


def _audit(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    check = sub.add_parser("verify", help="check the hash chain; report the first broken or missing record")
    check.add_argument("file", type=Path, nargs="+", help="the log; several files (oldest first) are checked as one chain")
    check.add_argument("--series", action="store_true",
                       help="FILE is the current log: also check its rotated files (FILE.N, FILE-DATE, .gz), oldest first")
    check.add_argument("--head", action="store_true", help="also print the hash of the last record")
    show = sub.add_parser("tail", help="show recent records readably")
    show.add_argument("file", type=Path)
    show.add_argument("-n", type=_count, default=10, metavar="N", help="how many records (default 10)")
    show.add_argument("--follow", "-f", action="store_true", help="keep showing records as they are written")


def _verify(p: argparse.ArgumentParser) -> None:
    _rules(p, required=True, help="policy file with a hosts: section")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per host and port")
    p.add_argument("--user", help="login name for --key (default: the group's only allowed user)")
    p.add_argument("--key", type=Path, help="private key to log in with and run the group's canary")
    p.add_argument("--host", action="append", default=[], metavar="NAME[:PORT]", type=_host,
                   help="also check this host (repeatable; without a port: its group's ports, else 22)")
    p.add_argument("--timeout", type=_positive(float), default=5.0, metavar="S", help="per connection (default 5)")


def _approvals(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    actions = {
        "list": "the pending requests (--all: every state)",
        "show": "one request in full: everything an approver needs to decide",
        "approve": "say yes: the waiting call goes on",
        "deny": "say no: the waiting call is refused",
    }
    for name, text in actions.items():
        a = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name != "list":
            a.add_argument("id", metavar="ID", help="the request's id (as `sshwall approvals list` shows it)")
        a.add_argument("--state", default=os.environ.get("SSHWALL_STATE", "memory://"), metavar="URL",
                       help="the gateway's --state: sqlite:///path.db or redis://host:port/0 (default $SSHWALL_STATE)")
        a.add_argument("--json", action="store_true", help="print JSON")
        if name == "list":
            a.add_argument("--all", action="store_true", help="every request, answered and ended ones too")
        if name in ("approve", "deny"):
            a.add_argument("--as", dest="approver", default=os.environ.get("SSHWALL_APPROVER"), metavar="IDENTITY",
                           help="who answers: one of the policy's approvers (default $SSHWALL_APPROVER)")
            a.add_argument("--note", default=None, metavar="TEXT", help="a note kept with the answer")


def _policy(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    show = sub.add_parser("show", help="print the merged policy: every layer it extends, includes expanded",
                          description="Print the policy with every layer it extends merged in and each command set's "
                                      "include expanded (YAML; --json for JSON). The output loads back as the same "
                                      "policy (docs/layering.md).")
    _rules(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    diff = sub.add_parser("diff", help="what changes from policy A to policy B; exit 0 equal, 1 different",
                          description="Print what changes from policy A to policy B, by tool, command set, program, "
                                      "host group, grant, limit and every other field (added / removed / changed, "
                                      "with the changed fields). Exit 0 when they are equal (the same revision), "
                                      "1 when they differ, 2 on bad usage or a bad policy.")
    diff.add_argument("a", metavar="A", type=Path, help="the policy before (a file, layers merged)")
    diff.add_argument("b", metavar="B", type=Path, help="the policy after")
    diff.add_argument("--json", action="store_true", help="print JSON: equal, both revisions, the changes")


def _replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", type=Path, metavar="AUDIT.jsonl", help="the audit log whose calls are decided again")
    _rules(p, required=True, help="the policy to decide them under (YAML, JSON or PolicyLayer policy.json)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _demo(p: argparse.ArgumentParser) -> None:
    _rules(p, help="policy to demonstrate (default: embedded readonly-ops)")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its options, and the module whose ``run`` does it."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    module: str
    label: str
    """How its error messages start."""
    failure_exit: int = 2
    """The exit code of an sshwall error other than bad usage or a bad policy."""


COMMANDS: dict[str, Command] = {
    "check": Command("decide one command, or a batch of tool calls", _check, "sshwall.cli.check", "sshwall", 1),
    "test": Command("run the policy's own examples, and a corpus", _test, "sshwall.cli.policytest", "sshwall", 1),
    "serve": Command("serve the firewall in front of an SSH MCP server (stdio or --listen HTTP)", _serve,
                     "sshwall.cli.serve", "sshwall serve"),
    "backend": Command("the built-in SSH MCP server (no policy checks: put sshwall in front of it)", _backend,
                       "sshwall.cli.backend", "sshwall backend"),
    "audit": Command("verify or tail an audit log", _audit, "sshwall.cli.audit", "sshwall audit"),
    "verify": Command("check a policy's hosts against the real machines: reachability, host keys, algorithms, canary",
                      _verify, "sshwall.cli.verify", "sshwall verify"),
    "approvals": Command("list, show, approve or deny the calls waiting for approval", _approvals,
                         "sshwall.cli.approvals", "sshwall approvals"),
    "policy": Command("show a policy with its layers merged, or diff two policies", _policy,
                      "sshwall.cli.policycmd", "sshwall policy", 1),
    "replay": Command("decide an audit log's calls again under another policy: what changes (exit 1: allowed now denied)",
                      _replay, "sshwall.cli.replay", "sshwall replay"),
    "demo": Command("a scripted agent session through the gateway against a throwaway sshd", _demo,
                    "sshwall.cli.demo", "sshwall demo"),
}
"""The subcommands, in the order ``sshwall --help`` lists them."""

_DESCRIPTIONS = {
    "serve": "Serve the firewall in front of an SSH MCP server.",
    "backend": "Built-in SSH MCP server speaking Mcp Ssh's 23 tools over paramiko. "
               "It does no policy checking: put sshwall in front of it.",
    "audit": "Check or read an sshwall audit log.",
    "verify": "Check a policy's hosts against the real machines.",
    "approvals": "The queue of calls waiting for a human's approval (docs/approval.md).",
    "policy": "Show a policy as merged from its layers, or what changes between two policies (docs/layering.md).",
}


def build_parser(selected: str | None = None) -> Parser:
    """The ``sshwall`` parser; only the ``selected`` subcommand gets its options."""
    parser = Parser(prog="sshwall", description="An argument-validating firewall for AI agents' SSH access.")
    sub = parser.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=_DESCRIPTIONS.get(name, command.help))
        if name == selected:
            command.arguments(p)
    return parser
