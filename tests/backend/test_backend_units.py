"""Small units of the backend, tested directly (no sshd, no subprocess)."""

from __future__ import annotations

import os

import anyio
import pytest

from sshwall.backend.dispatch import HANDLERS, redact
from sshwall.backend.models import TOOLS, ConnectArgs, input_schema
from sshwall.backend.ssh import Credentials
from sshwall.backend.stdio import LineReader, Writer
from sshwall.backend.tools_session import with_cwd


def test_every_tool_has_a_handler_and_an_object_schema() -> None:
    assert set(HANDLERS) == set(TOOLS) and len(TOOLS) == 23
    for spec in TOOLS.values():
        schema = input_schema(spec)
        assert schema["type"] == "object" and "$defs" not in str(schema) and "title" not in schema
    # An argument named "description" survives the removal of docstring descriptions.
    assert "description" in input_schema(TOOLS["createTunnel"])["properties"]


def test_secrets_stay_out_of_repr() -> None:
    args = ConnectArgs.model_validate({"host": "h", "username": "u", "password": "pw-123456", "privateKey": "KEY"})
    creds = Credentials("u", password="pw-123456", private_key="KEY", passphrase="pp")
    assert "pw-123456" not in repr(args) and "KEY" not in repr(args)
    assert "pw-123456" not in repr(creds) and "pp" not in repr(creds).replace("passphrase", "")
    assert creds.method == "key+password"


def test_redact() -> None:
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----"
    text = "failed near AAAABBBBCCCCDDDD with hunter22"
    assert redact(text, (key, "hunter22")) == "failed near *** with ***"


@pytest.mark.parametrize(
    ("cwd", "script"),
    [
        (None, "ls"),
        ("/tmp/a b", "cd -- '/tmp/a b' || exit 1\nls"),
        ("~", "cd -- ~ || exit 1\nls"),
        ("~/x y", "cd -- ~/'x y' || exit 1\nls"),
        ("/x;rm -rf /", "cd -- '/x;rm -rf /' || exit 1\nls"),
    ],
)
def test_with_cwd_quotes_the_directory(cwd: str | None, script: str) -> None:
    assert with_cwd("ls", cwd) == script


def test_pipe_reader_and_writer_keep_lines_intact() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    big = "x" * 300_000  # more than a pipe holds: the writer must wait for the reader

    async def main() -> list[str]:
        lines: list[str] = []

        async def consume() -> None:
            async for line in LineReader(read_fd):
                lines.append(line)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            writer = Writer(write_fd)
            await writer.write('{"a": 1}\n' + big + "\n")
            await writer.write("tail without newline")
            await writer.flush()
            os.close(write_fd)
        return lines

    try:
        assert anyio.run(main) == ['{"a": 1}\n', big + "\n", "tail without newline"]
    finally:
        os.close(read_fd)


def test_output_is_capped_with_a_marker() -> None:
    from sshwall.backend import ssh
    from sshwall.targets.sshtools import keep

    buffer = bytearray()
    for _ in range(3):
        keep(buffer, b"x" * (ssh.MAX_OUTPUT_BYTES // 2), ssh.MAX_OUTPUT_BYTES, ssh.TRUNCATED)
    keep(buffer, b"more", ssh.MAX_OUTPUT_BYTES, ssh.TRUNCATED)
    assert buffer.startswith(b"x" * ssh.MAX_OUTPUT_BYTES)
    assert buffer.endswith(b"truncated at 1 MiB]\n") and buffer.count(b"truncated") == 1
