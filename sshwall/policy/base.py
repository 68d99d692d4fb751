"""The ground the policy models stand on: the decision order and the frozen base model.

Every model of the policy language derives from ``Frozen``: unknown keys are rejected when the
policy loads (``extra="forbid"``), so a typo can never silently widen a policy, and no model can
be changed once built.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from functools import cached_property
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Decision(str, Enum):
    """A verdict, ordered by strictness: the strictest match wins."""

    ALLOW = "allow"
    PROMPT = "prompt"
    DENY = "deny"

    @property
    def severity(self) -> int:
        """0 allow, 1 prompt, 2 deny."""
        return _SEVERITY[self]


_SEVERITY = {Decision.ALLOW: 0, Decision.PROMPT: 1, Decision.DENY: 2}


class Frozen(BaseModel):
    """A frozen pydantic model that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, without the values derived once (``cached_property``): the copy derives its own.

        pydantic copies the instance ``__dict__``, where ``functools.cached_property`` keeps its
        value, so without this a copy with ``update`` would keep the original's flag table or plan.
        """
        copied = super().model_copy(update=update, deep=deep)
        for name in _derived_names(type(self)):
            copied.__dict__.pop(name, None)
        return copied


def _derived_names(cls: type) -> tuple[str, ...]:
    return tuple(n for klass in cls.__mro__ for n, v in vars(klass).items() if isinstance(v, cached_property))
