"""Approval through the queue, end to end: a headless agent's call waits until an operator answers
it from another process.

A real MCP client (the SDK's ``ClientSession``, no elicitation callback: it declares no
elicitation capability) -> ``sshwall serve`` (stdio, legacy era, the built-in backend) -> the
session's real sshd on this machine. The gateway keeps its queue in shared state (a SQLite file,
or a real redis-server); the test answers with ``python -m sshwall.cli approvals ...`` processes,
as an operator in another shell would, and checks on the host's own filesystem whether the
approved command ran (a marker file ``touch`` leaves) and the declined one did not.

The policy here is the test's own (``touch`` of a file under the test's folder is
``decision: prompt``), not the shipped on-call policy: its prompt specs are tested in
tests/policy/test_oncall_approve.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.proxy.gateway import (
    GatewayClient,
    Reply,
    audit_records,
    decisions,
    gateway_env,
    serve_argv,
    start_gateway,
    upstream_command,
)
from tests.support.redis_pytest import start_or_skip
from tests.support.redis_server import RedisServer
from tests.support.sshd import REPO_ROOT, SshdServer

pytestmark = pytest.mark.skipif(upstream_command() is not None,
                                reason="the approval queue tests run the built-in backend")

AGENT = "agent-7"
APPROVERS = ("oncall-lead", "sre")
GO_ON_LIMIT_S = 3.0
"""The waiting call must go on within this after the answer is stored (the design says ~1 s)."""


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("approval-e2e")


@pytest.fixture(scope="module")
def redis(work: Path) -> Iterator[RedisServer]:
    server = start_or_skip(work / "redis")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty shared state: a fresh SQLite file, or a Redis namespace of this test alone."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    server: RedisServer = request.getfixturevalue("redis")
    return server.url(namespace=f"approval-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'state.db'}"


@pytest.fixture
def markers(sshd: SshdServer, tmp_path: Path) -> Path:
    """A folder on the SSH host (this machine) the prompt command may touch files in."""
    folder = tmp_path / "markers"
    sshd.check(f"mkdir -p '{folder}'")
    return folder


@pytest.fixture(scope="module")
def known_hosts(sshd: SshdServer, work: Path) -> Path:
    """The sshd's host key under both of its names (127.0.0.1 and localhost), for the backend."""
    line = sshd.known_hosts_line
    key = line.split(None, 1)[1]
    path = work / "known_hosts"
    path.write_text(f"{line}\n[localhost]:{sshd.port} {key}\n")
    return path


# -- the policy, the gateway, the operator ------------------------------------------------------


def write_policy(path: Path, markers: Path, sshd: SshdServer, *, timeout: float = 30, reuse: float = 0,
                 extra: str = "") -> Path:
    """A policy where ``touch MARKERS/NAME`` needs approval and ``true`` is allowed, on the test
    sshd under both its names, its host key pinned (so the binding carries its fingerprint)."""
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: approval-e2e
        profile: mcp-ssh
        default: deny
        hosts:
          lab:
            match: [127.0.0.1, localhost, "::1"]
            users: [{sshd.user}]
            ports: [{sshd.port}]
            host_keys: ["{sshd.host_key_fingerprint}"]
        approval:
          channels: [elicitation, queue]
          timeout: {timeout}
          approvers: [{", ".join(APPROVERS)}]
          reuse: {reuse}
        tools:
          connect: allow
          disconnect: allow
          executeCommand: {{commands: ops}}
        commands:
          ops:
            programs:
              "true": {{}}
              touch:
                decision: prompt
                reason: "touching a marker needs a human's yes"
                flags: []
                min_operands: 1
                max_operands: 1
                operand_rule: {{match: '{re.escape(str(markers))}/[a-z0-9-]+'}}
        """) + textwrap.dedent(extra))
    return path


@dataclass
class Gateway:
    """One ``sshwall serve`` with its client, state URL and audit log."""

    client: GatewayClient
    state: str
    audit: Path
    identity: str
    pool: ThreadPoolExecutor

    def connect(self, sshd: SshdServer, host: str = "127.0.0.1") -> str:
        return self.client.ok("connect", {"host": host, "port": sshd.port, "username": sshd.user,
                                          "privateKey": sshd.client_key_text}).find_id("connectionId")

    def start(self, conn: str, command: str) -> Future[tuple[Reply, float]]:
        """``executeCommand`` in the background (it waits for approval); its reply and the
        monotonic time it arrived."""
        def run() -> tuple[Reply, float]:
            reply = self.client.call("executeCommand", {"connectionId": conn, "command": command}, timeout=90)
            return reply, time.monotonic()
        return self.pool.submit(run)


@contextmanager
def gateway(policy: Path, state: str, work: Path, known_hosts: Path, identity: str = AGENT,
            name: str = "gw") -> Iterator[Gateway]:
    audit = work / f"{name}-audit.jsonl"
    log = work / f"{name}.log"
    argv = serve_argv(policy, audit, ["--state", state, "--identity", identity,
                                      f"--backend-arg=--known-hosts={known_hosts}"])
    with ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=4))
        client = stack.enter_context(start_gateway("stdio", "legacy", argv, audit, log))
        yield Gateway(client, state, audit, identity, pool)


def approvals(*args: str) -> subprocess.CompletedProcess[str]:
    """``sshwall approvals ARGS`` in a process of its own: the operator's shell."""
    return subprocess.run([sys.executable, "-m", "sshwall.cli", "approvals", *args], capture_output=True,
                          text=True, env=gateway_env(), cwd=REPO_ROOT, timeout=60)


def pending(state: str, identity: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """The one pending request (of ``identity``), as ``approvals list --json`` shows it, once
    it is there."""
    deadline = time.monotonic() + timeout
    while True:
        done = approvals("list", "--json", "--state", state)
        assert done.returncode == 0, done.stderr
        found = [r for r in json.loads(done.stdout) if identity is None or r["identity"] == identity]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, "no approval request appeared in the queue"
        time.sleep(0.2)


def answer(state: str, action: str, request_id: str, who: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``approvals approve|deny ID --as WHO``; its result and the monotonic time it was started
    (the answer is stored some time after: its process starts Python first)."""
    started = time.monotonic()
    done = approvals(action, request_id, "--state", state, "--as", who, *extra)
    return done, started


def kinds(path: Path) -> list[str]:
    return [r.get("kind", "decision") for r in audit_records(path)]


# -- a headless call, approved or declined from another process ---------------------------------


def test_an_approved_call_goes_on_and_really_runs(sshd: SshdServer, markers: Path, state_url: str, work: Path,
                                                  known_hosts: Path, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd)
    marker = markers / "approved"
    with gateway(policy, state_url, tmp_path, known_hosts) as gw:
        conn = gw.connect(sshd)
        waiting = gw.start(conn, f"touch {marker}")
        request = pending(state_url)
        assert request["identity"] == AGENT and request["command"] == f"touch {marker}"
        assert request["tool"] == "executeCommand" and request["host"] == "127.0.0.1"
        shown_json = json.loads(approvals("show", request["id"], "--json", "--state", state_url).stdout)
        assert shown_json["host_key"] == sshd.host_key_fingerprint and shown_json["port"] == sshd.port
        assert shown_json["user"] == sshd.user and shown_json["approvers"] == list(APPROVERS)
        assert not waiting.done(), "the call did not wait for the approval"
        assert not sshd.path_exists(str(marker))

        listed = approvals("list", "--state", state_url)
        assert listed.returncode == 0 and request["id"] in listed.stdout, listed.stderr
        shown = approvals("show", request["id"], "--state", state_url)
        assert shown.returncode == 0 and "touching a marker needs a human's yes" in shown.stdout, shown.stderr

        # the agent's own identity and an identity without the right are refused; the call waits on
        refusals = []
        for who, why in ((AGENT, "cannot approve it itself"), ("mallory", "is not an approver")):
            refused, _ = answer(state_url, "approve", request["id"], who)
            assert refused.returncode == 1 and why in refused.stderr, (who, refused.stdout, refused.stderr)
            refusals += [f"$ sshwall approvals approve {request['id']} --state {state_url} --as {who}", refused.stderr]
        assert not waiting.done() and not sshd.path_exists(str(marker))

        done, answered = answer(state_url, "approve", request["id"], "oncall-lead")
        returned = time.monotonic()
        assert done.returncode == 0, done.stderr
        reply, arrived = waiting.result(timeout=30)
        went_on = arrived - answered
        print(f"\n[{state_url.split(':')[0]}] the approved call went on {went_on:.2f} s after `approve` was started"
              f" ({arrived - returned:+.2f} s after it returned)")
        assert not reply.is_error, reply.text
        assert went_on < GO_ON_LIMIT_S
        assert sshd.path_exists(str(marker)), "the approved command did not run on the host"

        # a used approval cannot be replayed
        again, _ = answer(state_url, "approve", request["id"], "oncall-lead")
        assert again.returncode == 1 and "not pending" in again.stderr, again.stderr
        waited = [line for line in gw.client.log_text().splitlines() if request["id"] in line]
        print("-- transcript (pytest -s) --", *waited, f"$ sshwall approvals list --state {state_url}", listed.stdout,
              f"$ sshwall approvals show {request['id']} --state {state_url}", shown.stdout, *refusals,
              f"$ sshwall approvals approve {request['id']} --state {state_url} --as oncall-lead", done.stdout,
              f"agent's result: {reply.text}", f"$ sshwall approvals approve {request['id']} (again)", again.stderr,
              sep="\n")

    records = audit_records(gw.audit)
    decided = [r for r in decisions(gw.audit) if r.get("tool") == "executeCommand"]
    assert decided[-1].get("approval") == request["id"], decided[-1]
    assert {"approval-requested", "approval-approved"} <= set(kinds(gw.audit)), kinds(gw.audit)
    approved = next(r for r in records if r.get("kind") == "approval-approved")
    assert approved.get("approver") == "oncall-lead" and approved.get("channel") == "cli", approved


def test_a_declined_call_does_not_run(sshd: SshdServer, markers: Path, state_url: str, known_hosts: Path,
                                      tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd)
    marker = markers / "declined"
    with gateway(policy, state_url, tmp_path, known_hosts) as gw:
        conn = gw.connect(sshd)
        waiting = gw.start(conn, f"touch {marker}")
        request = pending(state_url)
        done, answered = answer(state_url, "deny", request["id"], "sre", "--note", "not during the freeze")
        assert done.returncode == 0, done.stderr
        reply, arrived = waiting.result(timeout=30)
        print(f"\n[{state_url.split(':')[0]}] the declined call ended {arrived - answered:.2f} s after `deny` was started")
        print(f"agent's result: {reply.text}")
        assert reply.denied, reply.text
        assert request["id"] in reply.text and "sre" in reply.text, reply.text
        assert "not during the freeze" in reply.text
        assert arrived - answered < GO_ON_LIMIT_S
    assert not sshd.path_exists(str(marker)), "the declined command ran on the host"
    assert "approval-denied" in kinds(gw.audit)
    assert decisions(gw.audit)[-1].get("approval") == request["id"]


# -- the binding: a yes is for one exact call ---------------------------------------------------


def request_key(state: str, request_id: str) -> str:
    shown = approvals("show", request_id, "--json", "--state", state)
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["key"])


def asked_again(gw: Gateway, conn: str, command: str, approved_key: str) -> dict[str, Any]:
    """The call waits for a new request, whose key is not the approved one; it is declined."""
    waiting = gw.start(conn, command)
    request = pending(gw.state, gw.identity)
    assert request_key(gw.state, request["id"]) != approved_key
    done, _ = answer(gw.state, "deny", request["id"], "sre")
    assert done.returncode == 0, done.stderr
    reply, _ = waiting.result(timeout=30)
    assert reply.denied and request["id"] in reply.text, reply.text
    return request


def goes_on_at_once(gw: Gateway, conn: str, command: str) -> Reply:
    """The call is unlocked by the standing yes: no request is queued, it runs."""
    reply, _ = gw.start(conn, command).result(timeout=20)
    assert not reply.is_error, reply.text
    listed = approvals("list", "--json", "--state", gw.state)
    assert json.loads(listed.stdout) == [], listed.stdout
    return reply


def test_a_yes_unlocks_only_the_identical_call(sshd: SshdServer, markers: Path, sqlite_url: str, known_hosts: Path,
                                               tmp_path: Path) -> None:
    # reuse: a yes stands for 10 minutes, so what it does NOT unlock is down to the binding alone
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd, reuse=600)
    marker = markers / "bound"
    command = f"touch {marker}"
    with gateway(policy, sqlite_url, tmp_path, known_hosts, name="a") as gw:
        conn = gw.connect(sshd)
        waiting = gw.start(conn, command)
        first = pending(sqlite_url)
        key = request_key(sqlite_url, first["id"])
        assert answer(sqlite_url, "approve", first["id"], "oncall-lead")[0].returncode == 0
        assert not waiting.result(timeout=30)[0].is_error
        assert sshd.path_exists(str(marker))
        sshd.check(f"rm -f '{marker}'")

        goes_on_at_once(gw, conn, command)  # the identical call: the yes is reused
        assert sshd.path_exists(str(marker))
        sshd.check(f"rm -f '{marker}'")
        assert "approval-reused" in kinds(gw.audit)

        # one byte changed
        asked_again(gw, conn, command[:-1] + "c", key)
        assert not sshd.path_exists(str(markers / "bounc"))
        # another host: the same sshd under its other name
        other = gw.connect(sshd, host="localhost")
        assert other != conn
        asked_again(gw, other, command, key)
        # another identity, on the same queue
        with gateway(policy, sqlite_url, tmp_path, known_hosts, identity="agent-8", name="b") as gw8:
            conn8 = gw8.connect(sshd)
            assert conn8 == conn  # the backend names a connection by user, host and port
            asked_again(gw8, conn8, command, key)
        assert not sshd.path_exists(str(marker))

    # a restart with the same policy keeps the yes (the control) ...
    with gateway(policy, sqlite_url, tmp_path, known_hosts, name="a2") as gw:
        assert gw.connect(sshd) == conn
        goes_on_at_once(gw, conn, command)
        assert sshd.path_exists(str(marker))
        sshd.check(f"rm -f '{marker}'")
    # ... a changed policy is another revision: the yes from before unlocks nothing
    write_policy(policy, markers, sshd, reuse=600, extra="description: the same rules, edited\n")
    with gateway(policy, sqlite_url, tmp_path, known_hosts, name="a3") as gw:
        assert gw.connect(sshd) == conn
        asked_again(gw, conn, command, key)
    assert not sshd.path_exists(str(marker))


def test_a_used_yes_is_not_replayed_for_the_next_identical_call(sshd: SshdServer, markers: Path, sqlite_url: str,
                                                                known_hosts: Path, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd)  # reuse: 0, a yes is used once
    marker = markers / "once"
    with gateway(policy, sqlite_url, tmp_path, known_hosts) as gw:
        conn = gw.connect(sshd)
        waiting = gw.start(conn, f"touch {marker}")
        first = pending(sqlite_url)
        assert answer(sqlite_url, "approve", first["id"], "oncall-lead")[0].returncode == 0
        assert not waiting.result(timeout=30)[0].is_error
        sshd.check(f"rm -f '{marker}'")
        again = asked_again(gw, conn, f"touch {marker}", "")
        assert again["id"] != first["id"]
        replay, _ = answer(sqlite_url, "approve", first["id"], "oncall-lead")
        assert replay.returncode == 1 and "not pending" in replay.stderr, replay.stderr
    assert not sshd.path_exists(str(marker))


# -- timeouts, and the audit chain with every approval event in it ------------------------------


def test_nobody_answering_denies_after_the_timeout(sshd: SshdServer, markers: Path, sqlite_url: str,
                                                   known_hosts: Path, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd, timeout=2)
    marker = markers / "late"
    with gateway(policy, sqlite_url, tmp_path, known_hosts) as gw:
        conn = gw.connect(sshd)
        started = time.monotonic()
        reply, arrived = gw.start(conn, f"touch {marker}").result(timeout=30)
        waited = arrived - started
        print(f"\nagent's result after {waited:.2f} s: {reply.text}")
        assert reply.denied and "nobody answered" in reply.text, reply.text
        assert "sshwall approvals approve" in reply.text  # what would have unlocked it
        assert 2 <= waited < 2 + GO_ON_LIMIT_S, waited
        listed = approvals("list", "--all", "--json", "--state", sqlite_url)
        (request,) = json.loads(listed.stdout)
        assert request["state"] == "expired"
        late, _ = answer(sqlite_url, "approve", request["id"], "oncall-lead")
        assert late.returncode == 1, late.stderr
    assert not sshd.path_exists(str(marker))
    assert "approval-expired" in kinds(gw.audit)


def test_the_audit_chain_verifies_with_every_approval_event(sshd: SshdServer, markers: Path, sqlite_url: str,
                                                            known_hosts: Path, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd, timeout=6)
    ids: dict[str, str] = {}
    with gateway(policy, sqlite_url, tmp_path, known_hosts) as gw:
        conn = gw.connect(sshd)
        for name, action in (("yes", "approve"), ("no", "deny"), ("late", None)):
            waiting = gw.start(conn, f"touch {markers / name}")
            request = pending(sqlite_url)
            ids[name] = request["id"]
            if action is not None:
                assert answer(sqlite_url, action, request["id"], "oncall-lead")[0].returncode == 0
            reply, _ = waiting.result(timeout=30)
            assert reply.is_error == (action != "approve"), reply.text
    assert sshd.path_exists(str(markers / "yes"))
    assert not sshd.path_exists(str(markers / "no")) and not sshd.path_exists(str(markers / "late"))

    verified = subprocess.run([sys.executable, "-m", "sshwall.cli", "audit", "verify", str(gw.audit)],
                              capture_output=True, text=True, env=gateway_env(), cwd=REPO_ROOT, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    records = audit_records(gw.audit)
    events = {(r.get("kind"), r.get("approval")) for r in records}
    for kind, name in (("approval-requested", "yes"), ("approval-approved", "yes"), ("approval-requested", "no"),
                       ("approval-denied", "no"), ("approval-requested", "late"), ("approval-expired", "late")):
        assert (kind, ids[name]) in events, (kind, name, sorted(map(str, events)))
    touched = [r for r in decisions(gw.audit) if r.get("tool") == "executeCommand"]
    assert [r.get("approval") for r in touched] == [ids["yes"], ids["no"], ids["late"]], touched
    # the chain covers the approval events: changing one breaks it
    lines = gw.audit.read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if '"approval-approved"' in line)
    lines[i] = lines[i].replace("oncall-lead", "oncall-lea2")
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    broken = subprocess.run([sys.executable, "-m", "sshwall.cli", "audit", "verify", str(forged)],
                            capture_output=True, text=True, env=gateway_env(), cwd=REPO_ROOT, timeout=60)
    assert broken.returncode == 1, broken.stdout + broken.stderr


def test_without_a_shared_queue_the_denial_says_what_would_unlock_it(sshd: SshdServer, markers: Path,
                                                                      known_hosts: Path, tmp_path: Path) -> None:
    # memory:// state: the queue lives in the gateway alone, no HTTP listener, a headless client
    policy = write_policy(tmp_path / "policy.yaml", markers, sshd)
    marker = markers / "unreachable"
    with gateway(policy, "memory://", tmp_path, known_hosts) as gw:
        conn = gw.connect(sshd)
        reply, _ = gw.start(conn, f"touch {marker}").result(timeout=20)
        print(f"\nagent's result: {reply.text}")
        assert reply.denied and "approval required" in reply.text, reply.text
        assert "elicitation" in reply.text and "queue" in reply.text, reply.text
    assert not sshd.path_exists(str(marker))
    assert "approval-unreachable" in kinds(gw.audit)
