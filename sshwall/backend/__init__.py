"""The built-in backend: an SSH MCP server that speaks Mcp Ssh's tool names and schemas.

``sshwall backend`` (``sshwall.cli.backend``) serves it over stdio or streamable HTTP;
``sshwall.backend.server.build_server`` gives the same server in-process. It does no policy
checking: that is the proxy's job. Module map:

- ``models``: the 23 tools' argument models, JSON schemas and the ``ToolResult`` value
- ``dispatch``: validation, handler lookup, failures as ``isError`` results, secret scrubbing
- ``tools_session`` / ``tools_io``: the handlers
- ``connections``, ``background``, ``transfers``, ``tunnels``, ``terminals``: in-memory state
- ``hostkeys``: the host-key policy; ``ssh``: paramiko (the only module importing it)
- ``server``: the MCP SDK (the only module importing it); ``command``: the CLI
"""
