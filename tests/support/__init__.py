"""Shared test helpers: a real sshd target and a real MCP client for the backend."""
