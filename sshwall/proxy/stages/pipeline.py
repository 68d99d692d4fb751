"""The stage runner: the one place that says "audit before forward, undo on every failure".

A ``Stage`` has a ``before`` step (make the call's verdict stricter, work out what to send,
send it) and an ``after`` step (learn from the outcome, or undo what ``before`` reserved).
``Pipeline.run``:

1. runs the ``before`` steps in order, until sshwall answers the call itself (a denial, an audit
   failure); the upstream's result goes on down the rest of the list. A stage that sends runs
   only once a stage that audits has written the decision record (the pipeline refuses to be
   built otherwise, and a call without its record is answered ``audit.unavailable`` instead of
   being sent);
2. whatever happened (an answer, a tool error, an upstream error, the client's cancellation, a
   bug), gives the ``Outcome`` to the ``after`` step of every stage whose ``before`` ran, in the
   same order, shielded from cancellation so that state never lags behind what the upstream did;
3. returns the answer, or raises again what a ``before`` raised.

``preview`` runs only the ``PureStage`` checks (no I/O, no state changes): the verdict
``run`` would reach before its stateful stages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from sshwall.errors import UpstreamError
from sshwall.proxy.jsonrpc import tool_error
from sshwall.proxy.stages.context import Answer, Call, Outcome

if TYPE_CHECKING:  # ``run`` imports it: ``preview`` (what ``sshwall check`` runs) needs no event loop
    import asyncio

log = logging.getLogger("sshwall.stages")

UNAUDITED_TEXT = "sshwall: denied (rule audit.unavailable): the audit log cannot be written, so nothing is forwarded"
UNANSWERED_TEXT = "sshwall: denied (rule default): no stage answered the call"


def unaudited() -> Answer:
    """The answer to a call whose decision record could not be written."""
    return Answer(tool_error(UNAUDITED_TEXT), "unaudited")


class Stage:
    """One concern on the path of a call. Both steps default to doing nothing.

    ``audits``: this stage writes the decision record (sets ``Call.ref``); ``sends``: its
    ``before`` may send the call upstream. An ``after`` is given every outcome, including ones
    where a later ``before`` (or its own) raised: it must work from what the call carries.
    """

    name: ClassVar[str] = "stage"
    audits: ClassVar[bool] = False
    sends: ClassVar[bool] = False

    async def before(self, call: Call) -> Call:
        """Return the call as this stage leaves it (stricter, never looser)."""
        return call

    async def after(self, call: Call, outcome: Outcome) -> None:
        """Learn from, or undo after, the call's outcome."""


class PureStage(Stage):
    """A stage whose ``before`` is a side-effect-free ``check``: it also runs in ``preview``."""

    def check(self, call: Call) -> Call:
        """The call as this stage leaves it; no I/O, no state changes."""
        return call

    async def before(self, call: Call) -> Call:
        return self.check(call)


class Pipeline:
    """Runs one call through its stages (see the module doc)."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        audits = [i for i, s in enumerate(self.stages) if s.audits]
        sends = [i for i, s in enumerate(self.stages) if s.sends]
        if sends and (not audits or audits[0] > sends[0]):
            raise ValueError("a stage that audits must come before every stage that sends")
        self._unwinding: set[asyncio.Task[None]] = set()

    def preview(self, call: Call) -> Call:
        """The call as the pure stages leave it (the verdict ``run`` reaches before its
        stateful checks). A stage that raises denies the call (``sshwall check`` answers a
        deny, never a crash)."""
        for stage in self.stages:
            if isinstance(stage, PureStage):
                try:
                    call = stage.check(call)
                except Exception as err:  # a bug must deny, never allow or crash the batch
                    log.exception("the check of stage %s failed on %s", stage.name, call.tool)
                    return call.deny("engine.error", f"internal error in stage {stage.name}: {type(err).__name__}: {err}")
        return call

    async def run(self, call: Call) -> Any:
        """Run the call through every stage; returns the result to send back."""
        import asyncio

        ran: list[Stage] = []
        try:
            for stage in self.stages:
                if stage.sends and call.ref is None:
                    call = replace(call, answer=unaudited())  # audit before forward
                    break
                ran.append(stage)
                call = await stage.before(call)
                if call.answer is not None and call.answer.kind not in Outcome.ANSWERED:
                    break  # answered by sshwall: the stages below have nothing to do
        except UpstreamError as err:
            await self._after(ran, call, Outcome("upstream-error", _sent(ran), upstream=err.outcome, detail=str(err)))
            raise
        except asyncio.CancelledError:
            await self._after(ran, call, Outcome("cancelled", _sent(ran), upstream="cancelled",
                                                 detail="cancelled by the client"))
            raise
        except BaseException as err:  # a bug: what was reserved is undone all the same
            await self._after(ran, call, Outcome("crashed", _sent(ran), upstream="error",
                                                 detail=f"{type(err).__name__}: {err}"))
            raise
        answer = call.answer or Answer(tool_error(UNANSWERED_TEXT), "denied")
        sent = answer.kind in Outcome.ANSWERED
        await self._after(ran, call, Outcome(answer.kind, sent, answer.result if sent else None, answer.kind))
        return answer.result

    async def _after(self, ran: list[Stage], call: Call, outcome: Outcome) -> None:
        # Shielded: a client that cancels now does not stop what the answer teaches.
        import asyncio

        task = asyncio.ensure_future(self._afters(ran, call, outcome))
        self._unwinding.add(task)
        task.add_done_callback(self._unwinding.discard)
        await asyncio.shield(task)

    @staticmethod
    async def _afters(ran: list[Stage], call: Call, outcome: Outcome) -> None:
        for stage in ran:
            try:
                await stage.after(call, outcome)
            except Exception:  # one failed step must not skip the others' undo
                log.exception("the after step of stage %s failed on %s", stage.name, call.tool)


def _sent(ran: list[Stage]) -> bool:
    """Whether the call may have reached the upstream (a sending stage's ``before`` began)."""
    return any(stage.sends for stage in ran)


__all__ = ["UNAUDITED_TEXT", "Pipeline", "PureStage", "Stage", "unaudited"]
