"""What Node's POSIX ``path`` module does to the upstream's paths, and a profile's default paths.

Mcp Ssh is a Node program: where it writes a file without ``localPath`` is
``path.join(os.homedir(), 'Downloads', path.basename(remotePath))``. A profile describes such a
default as a template (``ArgSpec.default_path``); ``default_path`` fills it in the way Node
computes it, so the gateway checks the path that will really be written and the built-in
backend writes the same one. Pure string work, no file system.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FIELD = re.compile(r"\{(home|basename:[A-Za-z0-9_]+)\}")


def node_basename(path: str) -> str:
    """``path.posix.basename(path)``: the last segment, trailing slashes ignored ('' for '/')."""
    end = len(path)
    while end > 0 and path[end - 1] == "/":
        end -= 1
    return path[path.rfind("/", 0, end) + 1:end]


def node_normalize(path: str) -> str:
    """``path.posix.normalize`` of an absolute path, without a trailing slash."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out)


@dataclass(frozen=True)
class DefaultPath:
    """A default path filled in (``path``), or why it cannot be (``problem``)."""

    path: str | None = None
    problem: str | None = None


def default_path(template: str, siblings: Mapping[str, Any], home: str | None) -> DefaultPath:
    """The path the upstream uses for ``template``, given the call's other arguments.

    ``home`` is the upstream process's home folder (absolute), None when the gateway cannot
    know it: then there is no path, only the reason.
    """
    problem: list[str] = []

    def fill(m: re.Match[str]) -> str:
        field = m.group(1)
        if field == "home":
            if home is None or not home.startswith("/"):
                problem.append("the upstream process's home folder is not known to sshwall")
                return ""
            return home
        name = field.split(":", 1)[1]
        value = siblings.get(name)
        if not isinstance(value, str):
            problem.append(f"its name comes from `{name}`, which is not a string")
            return ""
        return node_basename(value)

    unknown = [f for f in re.findall(r"\{[^}]*\}", template) if not _FIELD.fullmatch(f)]
    if unknown:
        return DefaultPath(problem=f"the profile's default path has an unknown field {unknown[0]}")
    filled = _FIELD.sub(fill, template)
    if problem:
        return DefaultPath(problem=problem[0])
    if not filled.startswith("/"):
        return DefaultPath(problem=f"the profile's default path `{template}` is not absolute")
    return DefaultPath(node_normalize(filled))


__all__ = ["DefaultPath", "default_path", "node_basename", "node_normalize"]
