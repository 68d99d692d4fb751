"""Fixtures of the oracle tests, and the lines they report at the end of a ``pytest -q`` run.

Counts (mutations tried / allowed / run / violations, spec flags checked per program) are part
of what these tests prove, so they are printed in the terminal summary, which ``pytest -q``
shows, rather than with ``print`` (captured unless ``-s``).
"""

from __future__ import annotations

import pytest

_REPORT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


@pytest.fixture
def oracle_report(request: pytest.FixtureRequest) -> list[str]:
    """Append a line here to have it printed under 'oracle' in the terminal summary."""
    return request.config.stash[_REPORT]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("oracle")
        for line in lines:
            terminalreporter.write_line(line)
