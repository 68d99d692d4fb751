"""``GatewaySettings``: the gateway's options as one frozen value, checked when it is built."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from sshwall.errors import UsageError
from sshwall.proxy.settings import BUILTIN_BACKEND, GatewaySettings


def test_defaults_start_the_builtin_backend_with_its_options() -> None:
    settings = GatewaySettings(backend_args=("--known-hosts=/k",))
    assert settings.upstream_argv == [sys.executable, "-m", "sshwall.backend", "--known-hosts=/k"]
    assert tuple(settings.upstream_argv[:3]) == BUILTIN_BACKEND
    assert (settings.timeout, settings.restart_after_timeouts, settings.max_message_bytes) == (120.0, 3, 4 * 1024 * 1024)


def test_a_given_upstream_command_is_used_as_it_is() -> None:
    settings = GatewaySettings(upstream=("node", "mcp-ssh.js"), backend_args=("--ignored",))
    assert settings.upstream_argv == ["node", "mcp-ssh.js"]


@pytest.mark.parametrize("bad", [
    {"upstream_url": "http://127.0.0.1:1/mcp", "upstream": ("node", "x.js")},
    {"timeout": 0}, {"timeout": -1.0}, {"restart_after_timeouts": -1}, {"max_message_bytes": 0},
    {"log_level": "loud"},
])
def test_a_bad_combination_fails_before_anything_starts(bad: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        GatewaySettings(**bad)  # type: ignore[arg-type]


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        GatewaySettings().timeout = 1  # type: ignore[misc]
