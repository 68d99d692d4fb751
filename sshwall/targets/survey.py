"""Checking a policy's hosts against the real machines (what ``sshwall verify`` reports).

For each host and port: does the policy allow it (``match``), is it reachable, is its host key
the pinned one (``pins``, read-only: verify never records TOFU keys), which algorithms does it
offer, and optionally: can the given key log in, and does the group's canary command (which the
policy must itself allow) succeed. Credentials are only sent to a host whose key passed.

Whether the policy allows the canary is the engine's to say, and the engine sits beside this
package, not below it: the caller passes that judgement in (``VerifyOptions.canary_check``;
``sshwall verify`` passes the engine's, ``sshwall.cli.verify.canary_verdict``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sshwall.errors import TargetError
from sshwall.policy.hosts import HostGroup
from sshwall.policy.model import Policy
from sshwall.targets import sshkeys
from sshwall.targets.hostkey import HostKey
from sshwall.targets.match import Resolver, Target, match_host, system_resolve, user_problem
from sshwall.targets.pins import KeyCheck, assess_host_key, tofu_store

StepStatus = Literal["ok", "failed", "denied", "skipped"]

# Algorithms current OpenSSH no longer enables by default: reported, never failed on.
WEAK = {
    "kex": ("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1"),
    "host_key": ("ssh-dss", "ssh-rsa"),
    "ciphers": ("3des-cbc", "blowfish-cbc", "cast128-cbc", "arcfour", "arcfour128", "arcfour256",
                "aes128-cbc", "aes192-cbc", "aes256-cbc", "rijndael-cbc@lysator.liu.se"),
    "macs": ("hmac-md5", "hmac-md5-96", "hmac-sha1-96", "hmac-md5-etm@openssh.com",
             "hmac-md5-96-etm@openssh.com", "hmac-sha1-96-etm@openssh.com", "hmac-ripemd160",
             "hmac-ripemd160@openssh.com"),
}


@dataclass(frozen=True)
class Step:
    """One optional step (login, canary): its status and what happened."""

    status: StepStatus
    detail: str = ""
    exit_status: int | None = None
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class HostReport:
    """Everything ``verify`` found out about one host and port."""

    host: str
    port: int
    group: str | None
    address: str | None
    policy_problem: str | None
    reachable: bool
    error: str | None = None
    key_check: KeyCheck | None = None
    algorithms: dict[str, list[str]] | None = None
    algorithms_error: str | None = None
    user: str | None = None
    login: Step = field(default_factory=lambda: Step("skipped"))
    canary_command: str | None = None
    canary: Step = field(default_factory=lambda: Step("skipped"))

    @property
    def weak(self) -> list[str]:
        """Offered algorithms that OpenSSH considers weak."""
        algos = self.algorithms or {}
        return [a for kind, names in WEAK.items() for a in algos.get(kind, []) if a in names]

    @property
    def ok(self) -> bool:
        """True when nothing failed: allowed, reachable, key accepted, login and canary fine."""
        return (
            self.policy_problem is None
            and self.reachable
            and self.key_check is not None
            and self.key_check.problem is None
            and self.login.status != "failed"
            and self.canary.status not in ("failed", "denied")
        )

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape of one host."""
        kc = self.key_check
        return {
            "host": self.host,
            "port": self.port,
            "group": self.group,
            "address": self.address,
            "ok": self.ok,
            "policy": {"allowed": self.policy_problem is None, "problem": self.policy_problem},
            "reachable": self.reachable,
            "error": self.error,
            "host_key": None if kc is None else {
                "type": kc.offered.key_type,
                "fingerprint": kc.offered.fingerprint,
                "status": kc.status,
                "source": kc.source,
                "expected": list(kc.expected),
                "problem": kc.problem,
            },
            "algorithms": self.algorithms,
            "algorithms_error": self.algorithms_error,
            "weak_algorithms": self.weak,
            "user": self.user,
            "login": _step_json(self.login),
            "canary": {"command": self.canary_command, **_step_json(self.canary)},
        }


def _step_json(step: Step) -> dict[str, Any]:
    return {"status": step.status, "detail": step.detail, "exit_status": step.exit_status,
            "stdout": step.stdout, "stderr": step.stderr}


CanaryCheck = Callable[[Policy, HostGroup, str], str | None]
"""Why the policy would not let a canary command run on a group's hosts, or ``None`` when it allows it."""


def _no_canary_check(policy: Policy, group: HostGroup, command: str) -> str | None:
    """Without a judge, no canary runs (fail closed)."""
    return "no policy check was given for the canary command"


@dataclass(frozen=True)
class VerifyOptions:
    """What ``verify`` was asked to do beyond reachability and host keys."""

    user: str | None = None
    key: str | Path | None = None
    timeout: float = 5.0
    resolve: Resolver = system_resolve
    fetch: Callable[[str, int, float], HostKey] = sshkeys.fetch_host_key
    canary_check: CanaryCheck = _no_canary_check


def verify_host(policy: Policy, host: str, port: int, opts: VerifyOptions) -> HostReport:
    """Check one host and port (see the module docstring)."""
    m = match_host(policy, host, port, opts.resolve)
    group = policy.hosts.get(m.group) if m.group else None
    user = opts.user or (group.users[0] if group is not None and len(group.users) == 1 else None)
    problem = m.problem
    if problem is None and m.group is not None and user is not None:
        problem = user_problem(policy, m.group, user)
    address = m.addresses[0] if m.addresses else host
    report = HostReport(host, port, m.group, address, problem, reachable=False, user=user,
                        canary_command=group.canary if group is not None else None)
    try:
        key = opts.fetch(address, port, opts.timeout)
    except TargetError as err:
        return replace(report, error=str(err))
    target = Target(host, port, user or "")
    if group is None:
        check = KeyCheck("unchecked", key, source="no host group")
    else:
        check = assess_host_key(group, key, target, tofu_store(policy, read_only=True),
                                mode=policy.host_key_check, group_name=m.group)
    algorithms, algorithms_error = None, None
    try:
        algorithms = sshkeys.server_algorithms(address, port, opts.timeout)
    except TargetError as err:
        algorithms_error = str(err)
    login, canary = _login(policy, group, check, problem, address, port, user, opts)
    return replace(report, reachable=True, key_check=check, algorithms=algorithms,
                   algorithms_error=algorithms_error, login=login, canary=canary)


def _login(policy: Policy, group: HostGroup | None, check: KeyCheck, problem: str | None, address: str,
           port: int, user: str | None, opts: VerifyOptions) -> tuple[Step, Step]:
    """The login step and the canary step."""
    canary_cmd = group.canary if group is not None else None
    refusal = opts.canary_check(policy, group, canary_cmd) if group is not None and canary_cmd else None

    def not_run(reason: str) -> Step:
        # A canary the policy refuses is reported as such whether or not a login happens.
        if refusal:
            return Step("denied", refusal)
        return Step("skipped", reason if canary_cmd else "no canary declared")

    why_not = (
        "no --key" if opts.key is None
        else "the policy denies this target" if problem is not None
        else "host key not accepted: no credentials sent" if check.problem is not None
        else "no user: give --user (the group allows several users, or any)" if user is None
        else None
    )
    if why_not is not None or opts.key is None or user is None:
        return Step("skipped", why_not or ""), not_run("no --key" if opts.key is None else "no login")
    pinned = (check.offered.fingerprint,)  # the key just checked: a server switched in between is refused
    timeout = max(opts.timeout, 10.0)
    try:
        sshkeys.try_login(address, port, user, opts.key, None, timeout, expected_fingerprints=pinned)
    except TargetError as err:
        return Step("failed", str(err)), not_run("login failed")
    login = Step("ok", f"as {user}")
    if canary_cmd is None or refusal:
        return login, not_run("")
    try:
        status, out, err_text = sshkeys.try_login(address, port, user, opts.key, canary_cmd, timeout,
                                                  expected_fingerprints=pinned)
    except TargetError as err:
        return login, Step("failed", str(err))
    return login, Step("ok" if status == 0 else "failed", f"exit {status}", status, out, err_text)


def verify_targets(policy: Policy, targets: Sequence[tuple[str, int]], opts: VerifyOptions) -> list[HostReport]:
    """``verify_host`` for each target, a few at a time, in the given order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(lambda t: verify_host(policy, t[0], t[1], opts), targets))
