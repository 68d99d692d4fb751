"""Shared test helpers: a real sshd target, a real MCP client for the backend, and a clock
the test moves (``clock.FakeClock``) for the code that takes one."""
