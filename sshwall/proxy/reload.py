"""Hot reload of ``sshwall serve``'s policy: on SIGHUP, and when a policy file changes.

``PolicyReloader.watch`` looks at every watched file once a second (its mtime, size and inode:
an edit in place, a rename over it, a deletion) and reloads when any of them changed; SIGHUP
calls ``reload`` at once (``sshwall.proxy.gateway``). The watched files are the file given to
``--rules`` and every file the loader read for it (``LoadedPolicy.files``: each ``extends``
layer, the profile, the catalogue); each load lists them again, so a layer added or dropped is
followed (a refused load lists none: the files watched before stay watched).

A reload loads the policy the way the gateway started with it (``load_checked_layers``: it is
refused when it does not load or any of its examples fails; then the gateway's own
adjustment), off the event loop. A refused policy changes nothing: the old one stays in force, the error is logged
and written as a ``policy-reload`` record with ``ok: false`` and the error; the same files are
not tried again until they change again. A good one with another revision is put in force by
``Firewall.reload`` (one assignment: calls in flight finish under the generation they took,
the state carries over, ``sshwall.proxy.generation``; the firewall may still refuse it, e.g.
``shadow: never`` in shadow mode), and its ``policy-reload`` record (``ok: true``, ``old`` and
``new`` revisions, the files) is queued with no ``await`` in between: no decision record
before it names the new revision, and after it only calls already in flight name the old one.
A reload that finds the same revision writes nothing. Reloads run one at a time.

Bindings carry over, under the new host rules: every bound connection's target is matched
against them before the swap (``rematch``) and, with the swap, takes its new host group, or is
marked refused (``Binding.refused``: its calls are denied ``hosts.reloaded`` until a reload
allows it again or it connects again). Host keys are not fetched again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from sshwall.engine.examples import load_checked_layers
from sshwall.errors import SshwallError, TargetError
from sshwall.policy import Policy
from sshwall.policy.layers import LoadedPolicy
from sshwall.proxy.bindings import Binding, Bindings
from sshwall.proxy.firewall import Firewall
from sshwall.proxy.targetguard import Resolve
from sshwall.targets import Target, match_target

log = logging.getLogger("sshwall.reload")

Stamp = tuple[int, int, int] | None
"""What a file looks like to the watcher: (mtime_ns, size, inode), None when it is missing."""


def stamp(path: Path) -> Stamp:
    """``path``'s mtime, size and inode (None: missing or unreadable)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


Regrouped = list[tuple[Binding, str | None, str | None]]
"""Bindings, each with its host group under a new policy and why its host rules refuse it."""


def rematch(policy: Policy, resolve: Resolve, bindings: Sequence[Binding]) -> Regrouped:
    """Each of ``bindings`` with its host group under ``policy`` and why ``policy``'s host rules
    refuse its target (None: they do not). Resolves names: run it off the event loop."""
    out: Regrouped = []
    for b in bindings:
        try:
            match = match_target(policy, Target(b.host, b.port, b.user), resolve)
        except TargetError as err:
            out.append((b, b.group, str(err)))
            continue
        out.append((b, match.group, match.problem))
    return out


def regroup(bindings: Bindings, found: Regrouped) -> int:
    """Apply what ``rematch`` found to the bindings still there with the same target (a
    connection bound meanwhile is left as it is); the number that changed."""
    changed = 0
    for old, group, refused in found:
        now = bindings.of_connection(old.connection_id)
        if now is None or (now.host, now.port, now.user) != (old.host, old.port, old.user):
            continue
        if (now.group, now.refused) != (group, refused):
            bindings.bind(replace(now, group=group, refused=refused))
            changed += 1
    return changed


class PolicyReloader:
    """Reloads one firewall's policy from ``path`` (see the module doc).

    ``load``: path -> the policy with the files it was read from, raising ``SshwallError`` when
    it is refused (``load_checked_layers``); ``adjust``: what the gateway does to a loaded
    policy before using it; ``files``: the files the policy in force was read from (from its
    load at start), watched with ``path`` until the next load lists them again. The metrics
    hear of each reload through the firewall's observer (docs/metrics.md).
    """

    def __init__(self, firewall: Firewall, path: str | Path, load: Callable[[Path], LoadedPolicy] = load_checked_layers,
                 adjust: Callable[[Policy], Policy] = lambda p: p, files: Sequence[Path] = ()) -> None:
        self.firewall = firewall
        self.path = Path(path)
        self._load = load
        self._adjust = adjust
        self._lock = asyncio.Lock()
        self.watched = self._watch(files)
        self._seen = self._stamps()

    def _watch(self, files: Sequence[Path]) -> tuple[Path, ...]:
        main = self.path.resolve()
        return (self.path, *dict.fromkeys(f for f in files if Path(f).resolve() != main))

    def _stamps(self) -> dict[Path, Stamp]:
        return {f: stamp(f) for f in self.watched}

    def changed(self) -> bool:
        """Whether a watched file changed since the last attempt."""
        return self._stamps() != self._seen

    async def reload(self, reason: str) -> bool:
        """Load the policy again and put it in force if it is good; True when a new revision
        is in force. ``reason``: what asked (``SIGHUP``, ``file changed``), for the record."""
        async with self._lock:
            self._seen = self._stamps()  # before reading: a change while loading is seen next time
            files: Sequence[Path] = self.watched  # a refused load lists no files: keep watching these
            try:
                loaded = await asyncio.to_thread(self._load, self.path)
                policy, files = self._adjust(loaded.policy), loaded.files
                refused: str | None = None
            except SshwallError as err:
                refused = str(err)
            except Exception as err:  # a bug in loading refuses the file, never the gateway
                log.exception("loading %s failed unexpectedly", self.path)
                refused = f"internal error: {type(err).__name__}: {err}"
            self.watched = self._watch(files)
            self._seen = {f: self._seen.get(f, stamp(f)) for f in self.watched}
            names = [str(f) for f in self.watched]
            old = self.firewall.current.revision
            if refused is not None:
                log.error("policy reload (%s) refused, %s stays in force: %s", reason, old, refused)
                self._record(ok=False, reason=reason, policy=old, error=refused, files=names)
                return False
            if policy.revision == old:
                log.info("policy reload (%s): %s unchanged", reason, old)
                return False
            targets = self.firewall.targets
            snapshot = targets.bindings.connections()
            found: Regrouped = []
            if snapshot and (policy.hosts or targets.policy.hosts):
                found = await asyncio.to_thread(rematch, policy, targets.resolve, snapshot)
            try:
                self.firewall.reload(policy)
            except SshwallError as err:  # the firewall refuses it (e.g. `shadow: never` in shadow mode)
                log.error("policy reload (%s) refused, %s stays in force: %s", reason, old, err)
                self._record(ok=False, reason=reason, policy=old, error=str(err), files=names)
                return False
            regroup(self.firewall.targets.bindings, found)
            # Queued with no await since the swap: no call's record comes between the two.
            self._record(ok=True, reason=reason, policy=policy.revision, old=old, new=policy.revision, files=names)
            log.warning("policy reloaded (%s): %s -> %s", reason, old, policy.revision)
            return True

    def _record(self, **fields: object) -> None:
        from sshwall.audit import notice_event

        ok = bool(fields["ok"])
        detail = "policy in force" if ok else "policy refused, the old one stays in force"
        self.firewall.recorder.notice(notice_event("policy-reload", detail=detail, **fields))
        observer = self.firewall.observer  # the reload counter and revision of docs/metrics.md
        if observer is not None and observer.metrics is not None:
            observer.metrics.policy_loaded(str(fields["policy"]), bool(ok))

    async def watch(self, every_s: float = 1.0) -> None:
        """Reload whenever a watched file changes, looking every ``every_s`` seconds; runs until
        cancelled."""
        while True:
            await asyncio.sleep(every_s)
            try:
                if self.changed():
                    await self.reload("file changed")
            except Exception:  # the watcher keeps watching
                log.exception("policy reload failed unexpectedly")


__all__ = ["PolicyReloader", "Regrouped", "Stamp", "regroup", "rematch", "stamp"]
