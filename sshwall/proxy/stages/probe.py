"""Stage ``probe``: after a connect bound as key-only, ask the upstream whether the connection
holds a password after all (it hands back a live connection to the same target as is, its
password included); an unreadable or missing answer counts as holding one (fail closed)."""

from __future__ import annotations

import logging
from typing import Any

from sshwall.audit import notice_event
from sshwall.errors import UpstreamError
from sshwall.proxy.stages.audit import Recorder
from sshwall.proxy.stages.context import Call, Outcome
from sshwall.proxy.stages.forward import Send
from sshwall.proxy.stages.pipeline import Stage
from sshwall.proxy.targetguard import TargetGuard

log = logging.getLogger("sshwall.firewall")


class PasswordProbe(Stage):
    """The password probe of key-only connects (after ``bindings`` bound them)."""

    name = "probe"

    def __init__(self, targets: TargetGuard, send: Send, recorder: Recorder) -> None:
        self.targets = targets
        self.send = send
        self.recorder = recorder

    async def after(self, call: Call, outcome: Outcome) -> None:
        if not outcome.ok:
            return
        probe = self.targets.password_probe(call.tool, call.args)
        if probe is None:
            return
        tool, args = probe
        result: Any = None
        try:
            result = await self.send("tools/call", {"name": tool, "arguments": args})
        except UpstreamError as err:
            log.warning("password probe %s failed (%s); the connection counts as holding a password", tool, err)
        except Exception:  # a bug: no answer read, so it holds one all the same (fail closed)
            log.exception("password probe %s failed; the connection counts as holding a password", tool)
        except BaseException:  # cancelled: learn what no answer means before the cancellation goes on
            self.targets.learn_password(tool, args, None)
            raise
        found = self.targets.learn_password(tool, args, result)
        await self.recorder.record(notice_event("password-probe", detail="holds a password" if found else "no password",
                                                tool=tool, **args))
