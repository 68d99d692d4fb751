"""The catalogue of protected paths: named groups of secret-bearing path globs.

The shipped catalogue is ``rules/protected-paths.yaml`` (``sshwall._rules`` when installed). A
command set names groups of it in ``protected_catalogue`` (``all`` for every group), and the
policy loader adds the groups' resolved paths and exceptions to the set's ``protected_paths``
and ``protected_exceptions`` (see ``sshwall.policy.load``). The engine only ever sees those
two lists.

Catalogue notation, resolved here (pure: no I/O):

- ``~/X``: X in any home folder, i.e. ``**/X``; the first ``~/`` entry of a group is also
  written ``/root/X`` and ``/home/*/X``. Those anchored forms add nothing for a direct read
  (``**/X`` matches there too); they make ``/root``, ``/home`` and ``/home/*`` folders the
  group's secrets lie in, so a recursive read of a home folder is a read of them. One entry per
  group is enough for that (the engine matches a recursive read against the folders an entry
  names), and every further anchored copy would cost each decision a pattern;
- ``backups``: each entry as written and with every suffix of ``backup_suffixes``;
  ``conffiles``: the same with ``package_suffixes`` as well (for a ``~/`` entry only its
  ``**/`` form gets suffixes: the anchored forms are there for recursive reads);
- ``in_app_roots``: each name in every folder of ``app_roots``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALL = "all"
HOME_FORMS = ("/root/", "/home/*/", "**/")


def _check_glob(text: str, *, relative: bool = False) -> str:
    """Refuse what the engine's glob matcher would read differently from what the author meant."""
    if not text or text != text.strip():
        raise ValueError(f"{text!r}: empty or padded with spaces")
    if any(c in text for c in "{}"):
        raise ValueError(f"{text!r}: braces are not expanded in protected paths; list each alternative")
    if "\\" in text:
        raise ValueError(f"{text!r}: backslash escapes are not allowed in the catalogue")
    if text.count("[") != text.count("]"):
        raise ValueError(f"{text!r}: unbalanced [ ]")
    if not relative and not text.startswith(("/", "**/", "~/")):
        raise ValueError(f"{text!r}: write an absolute path, **/NAME or ~/NAME")
    body = text[2:] if text.startswith("~/") else text
    segments = body.split("/")[1:] if body.startswith("/") else body.split("/")
    for seg in segments:
        if seg in ("", ".", ".."):
            raise ValueError(f"{text!r}: empty, '.' or '..' segment")
        if "**" in seg and seg != "**":
            raise ValueError(f"{text!r}: '**' must be a whole segment")
    return text


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatalogueGroup(_Frozen):
    """One kind of secret: its globs, where they were drawn from, and its public exceptions."""

    description: str
    sources: tuple[str, ...] = Field(min_length=1, description="public documents the entries were drawn from")
    notes: str | None = None
    paths: tuple[str, ...] = ()
    backups: tuple[str, ...] = Field(default=(), description="protected as written and with every backup suffix")
    conffiles: tuple[str, ...] = Field(default=(), description="as backups, and with every package-manager suffix")
    in_app_roots: tuple[str, ...] = Field(default=(), description="file names protected in every app root")
    exceptions: tuple[str, ...] = ()

    @field_validator("paths", "backups", "conffiles", "exceptions")
    @classmethod
    def _globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_glob(item)
        return value

    @field_validator("in_app_roots")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "/" in item:
                raise ValueError(f"{item!r}: in_app_roots holds file names, not paths")
            _check_glob(item, relative=True)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> CatalogueGroup:
        if not (self.paths or self.backups or self.conffiles or self.in_app_roots):
            raise ValueError("a group needs paths, backups, conffiles or in_app_roots")
        return self


class Catalogue(_Frozen):
    """The whole catalogue: backup suffixes, application roots and the groups."""

    version: Literal[1] = 1
    backup_suffixes: tuple[str, ...] = ()
    package_suffixes: tuple[str, ...] = ()
    app_roots: tuple[str, ...] = ()
    groups: dict[str, CatalogueGroup]

    @field_validator("backup_suffixes", "package_suffixes")
    @classmethod
    def _suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item or "/" in item or any(c in item for c in "*?[]{}\\"):
                raise ValueError(f"{item!r}: a backup suffix is literal text without '/'")
        return value

    @field_validator("app_roots")
    @classmethod
    def _roots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.startswith("/") or item.endswith("/") or "**" in item:
                raise ValueError(f"{item!r}: an app root is an absolute folder glob without '**'")
            _check_glob(item)
        return value

    @field_validator("groups")
    @classmethod
    def _group_names(cls, value: dict[str, CatalogueGroup]) -> dict[str, CatalogueGroup]:
        if not value:
            raise ValueError("the catalogue has no groups")
        if ALL in value:
            raise ValueError(f"{ALL!r} names every group; it cannot be a group's name")
        return value

    def group_paths(self, name: str) -> tuple[str, ...]:
        """The resolved protected globs of one group, in catalogue order, without duplicates."""
        group = self.groups[name]
        out: list[str] = []
        anchored = False  # has a ~/ entry of this group been written in its anchored forms yet?
        plain = self.backup_suffixes
        every = (*self.backup_suffixes, *self.package_suffixes)
        for entries, suffixes in ((group.conffiles, every), (group.backups, plain), (group.paths, ())):
            for entry in entries:
                forms = expand_home(entry, anchored=not anchored)
                anchored = anchored or entry.startswith("~/")
                for form in forms:
                    out.append(form)
                    if len(forms) == 1 or form.startswith("**/"):
                        out += [form + suffix for suffix in suffixes]
        out += [f"{root}/{item}" for item in group.in_app_roots for root in self.app_roots]
        return _unique(out)

    def group_exceptions(self, name: str) -> tuple[str, ...]:
        """The resolved exceptions of one group."""
        return _unique(g for entry in self.groups[name].exceptions for g in expand_home(entry, anchored=False))

    def resolve(self, names: tuple[str, ...] | list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(protected paths, exceptions) of the named groups; ``all`` is every group.

        Raises ``KeyError`` naming the first unknown group.
        """
        chosen: list[str] = []
        for name in names:
            if name == ALL:
                chosen += self.groups
            elif name in self.groups:
                chosen.append(name)
            else:
                raise KeyError(name)
        chosen = list(dict.fromkeys(chosen))
        paths = _unique(p for g in chosen for p in self.group_paths(g))
        exceptions = _unique(e for g in chosen for e in self.group_exceptions(g))
        return paths, exceptions


def expand_home(entry: str, anchored: bool = True) -> tuple[str, ...]:
    """``~/X`` as **/X, and first as /root/X and /home/*/X if ``anchored``; others as themselves."""
    if entry.startswith("~/"):
        rest = entry[2:]
        return tuple(form + rest for form in HOME_FORMS) if anchored else ("**/" + rest,)
    return (entry,)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
