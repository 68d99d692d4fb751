"""The approval queue in Redis: shared by sshwall replicas and operators on many machines.

Keys (``NS`` is the state URL's namespace, ``sshwall:`` by default):

- ``NS approval:ID``  string: the request's ``to_json``;
- ``NS approvals``    sorted set: every request's id, scored by its creation time (for ``list``).

Every operation is one Lua script run through ``redis.RedisStore`` (the client, its timeouts,
reconnects and the translation of every failure into ``StateError`` naming the server are
there: this module does not import the ``redis`` client). ``transition`` compares the stored
body with ``before`` and sets ``after`` in one script, so it is atomic on the server. A request
expires (EXPIRE) ``KEEP_S`` after it can no longer matter (``approvals.kept_until``), the set once
its last member would; ``list`` drops the ids whose request is gone. A waiter polls (``POLL_S``).
Like the task scripts these compute key names from the namespace: a standalone Redis (or a
primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, cast

from sshwall.errors import ApprovalError
from sshwall.limits.approvals import ApprovalRequest, ApprovalStore, kept_until, stored

if TYPE_CHECKING:
    from sshwall.limits.redis import RedisStore

# The set lives as long as its longest-lived member: KEYS[2] the set, ARGV[n] that member's TTL.
_KEEP_SET = """
local function keep_set(set, ttl)
  local left = redis.call('TTL', set)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('EXPIRE', set, ttl) end
end
"""

# KEYS: request, set. ARGV: body, created, id, ttl (s). Returns 1, or 0 when the id exists.
CREATE = _KEEP_SET + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
keep_set(KEYS[2], tonumber(ARGV[4]))
return 1
"""

# KEYS: request. Returns its body or nil.
GET = "return redis.call('GET', KEYS[1])"

# KEYS: set. ARGV: prefix of the request keys (NS approval:). Returns id, body, id, body, ...
# oldest first; ids whose request expired leave the set.
LIST = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local body = redis.call('GET', ARGV[1] .. id)
  if body then
    out[#out + 1] = id
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

# KEYS: request, set. ARGV: before, after, ttl (s). Returns 1 (set), or 0 (the body changed).
TRANSITION = _KEEP_SET + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
keep_set(KEYS[2], tonumber(ARGV[3]))
return 1
"""


class RedisApprovals(ApprovalStore):
    """An ``ApprovalStore`` in Redis (see the module doc for the keys)."""

    shared = True

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        store.retain()
        self._closed = False
        self.where = store.where
        self._create = store.script(CREATE)
        self._get = store.script(GET)
        self._list = store.script(LIST)
        self._transition = store.script(TRANSITION)

    def _key(self, request_id: str) -> str:
        return f"{self._store.namespace}approval:{request_id}"

    @property
    def _set(self) -> str:
        return f"{self._store.namespace}approvals"

    async def create(self, request: ApprovalRequest) -> None:
        """See ``ApprovalStore.create``."""
        args: list[str | int] = [request.to_json(), repr(float(request.created)), request.id, _ttl(request)]
        done = await self._store.run(self._create, [self._key(request.id), self._set], args)
        if cast(object, done) != 1:
            raise ApprovalError(f"approval request {request.id} exists already in {self.where}")

    async def get(self, request_id: str) -> ApprovalRequest | None:
        """See ``ApprovalStore.get``."""
        body = cast("str | None", await self._store.run(self._get, [self._key(request_id)], []))
        return None if body is None else stored(request_id, body, self.where)

    async def list(self, states: Collection[str] | None = None) -> list[ApprovalRequest]:
        """See ``ApprovalStore.list``."""
        reply = await self._store.run(self._list, [self._set], [self._key("")])
        found = [stored(str(reply[i]), str(reply[i + 1]), self.where) for i in range(0, len(reply), 2)]
        chosen = [r for r in found if states is None or r.state in states]
        return sorted(chosen, key=lambda r: (r.created, r.id))

    async def transition(self, before: ApprovalRequest, after: ApprovalRequest) -> bool:
        """See ``ApprovalStore.transition``: one script compares the stored body and sets."""
        if after.id != before.id:
            raise ApprovalError(f"approval request {before.id} cannot become request {after.id}")
        args: list[str | int] = [before.to_json(), after.to_json(), _ttl(after)]
        done = await self._store.run(self._transition, [self._key(before.id), self._set], args)
        return cast(object, done) == 1

    async def close(self) -> None:
        """Release this queue's share of the client (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._store.release()


def _ttl(request: ApprovalRequest) -> int:
    """Seconds the server keeps ``request`` from now (at least one)."""
    return max(1, math.ceil(kept_until(request) - time.time()))
