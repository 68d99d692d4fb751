"""Fixtures of the targets tests: policies from YAML text, a second sshd, fake resolvers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from sshwall.errors import TargetError
from sshwall.policy import Policy, load_policy
from tests.support.sshd import SshdFactory, SshdServer

PolicyMaker = Callable[[str], Policy]


@pytest.fixture
def make_policy(tmp_path: Path) -> PolicyMaker:
    """``make_policy(yaml_text_after_the_header)``: a loaded policy whose tools allow connect and
    an executeCommand command set with ``true``, ``uptime`` and ``id``."""
    counter = iter(range(1000))

    def make(body: str) -> Policy:
        path = tmp_path / f"policy-{next(counter)}.yaml"
        head = """\
            version: 1
            name: targets-test
            profile: mcp-ssh
            tools:
              connect: allow
              executeCommand: {commands: diag}
            commands:
              diag:
                programs: {"true": {}, uptime: {}, id: {}, "false": {}}
              tight:
                programs: {id: {}}
            """
        path.write_text(textwrap.dedent(head) + textwrap.dedent(body), encoding="utf-8")
        return load_policy(path)

    return make


def resolver(table: Mapping[str, tuple[str, ...]]) -> Callable[[str], tuple[str, ...]]:
    """A resolver answering from ``table``; other names do not resolve."""

    def resolve(name: str) -> tuple[str, ...]:
        if name not in table:
            raise TargetError(f"cannot resolve {name}: unknown name")
        return table[name]

    return resolve


def no_dns(name: str) -> tuple[str, ...]:
    """A resolver that fails the test when called."""
    raise AssertionError(f"resolver called for {name}")


@pytest.fixture(scope="session")
def other_sshd(sshd_factory: SshdFactory) -> SshdServer:
    """A second sshd with a host key of its own: the impersonator."""
    return sshd_factory.start("targets-other")
