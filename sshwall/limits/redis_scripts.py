"""The Lua scripts of the ``redis`` backend (plain text: this module does not import redis).

Redis runs a script atomically, so each check-then-record is one indivisible step however many
sshwall processes share the server. Keys (``NS`` is the namespace, ``sshwall:`` by default):

- ``NS rate:KEY``         sorted set: one member ``NOW:RANDOM`` per allowed call, scored NOW (ms);
- ``NS rate-window:KEY``  string: the longest window (ms) the key was allowed under, so a
                          short-window call never trims events a longer window still counts;
- ``NS bucket:KEY@W@S``   string: a calendar counter's total in its window of W ms starting at S
                          (expires a minute after the window ends, by the caller's clock);
- ``NS task:CONNECTION``  hash: identity, command, interval_ms, started_ms, expires_ms?, host?;
- ``NS tasks``            set of the connection ids with a task;
- ``NS tasks:of:ID``      set of the connection ids of one identity's tasks;
- ``NS tasks:expiry``     sorted set: connection id scored by expires_ms (tasks with a TTL only).

The approval queue's keys and scripts are in ``approvals_redis``.

Both rate keys expire (PEXPIRE) one retention after the last allowed call. The task scripts
compute key names from the namespace, so they suit a standalone Redis (or a primary with
replicas), not Redis Cluster.
"""

from __future__ import annotations

# KEYS: per distinct key i, KEYS[2i-1] = rate log, KEYS[2i] = its retention; then per calendar
#       bucket b, KEYS[2n+b] = its total.
# ARGV: now, member, n, longest window of each of the n keys,
#       number of buckets nb, then per bucket: amount to add, end (ms),
#       number of requests, then per request: key index (negative: -bucket index), window, max, amount.
# Returns {1} (allowed) or {0, request index, retry_after_ms or -1 for never}.
ACQUIRE = """
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
local keep = {}
for i = 1, n do
  local kept = tonumber(ARGV[3 + i])
  local stored = redis.call('GET', KEYS[2 * i])
  if stored then kept = math.max(kept, tonumber(stored)) end
  keep[i] = kept
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i - 1], '-inf', string.format('%d', now - kept))
end
local nb = tonumber(ARGV[4 + n])
local bbase = 4 + n
local base = 5 + n + 2 * nb
local worst, worst_retry = nil, nil
for j = 1, tonumber(ARGV[base]) do
  local o = base + (j - 1) * 4
  local index = tonumber(ARGV[o + 1])
  local window = tonumber(ARGV[o + 2])
  local cap = tonumber(ARGV[o + 3])
  local retry = nil
  if index < 0 then
    -- A calendar counter: full when its bucket's total plus the amount is over the cap.
    local b = -index
    local amount = tonumber(ARGV[o + 4])
    local total = tonumber(redis.call('GET', KEYS[2 * n + b]) or '0')
    if total + amount > cap then
      if amount > cap then retry = -1 else retry = tonumber(ARGV[bbase + 2 * b]) - now end
    end
  elseif cap == 0 then
    retry = -1
  else
    -- Full exactly when the cap-th newest event is inside the window; room when it leaves.
    local log = KEYS[2 * index - 1]
    local e = redis.call('ZRANGE', log, -cap, -cap, 'WITHSCORES')
    if e[2] and tonumber(e[2]) > now - window then retry = tonumber(e[2]) + window - now end
  end
  if retry then
    if worst == nil or (worst_retry ~= -1 and (retry == -1 or retry > worst_retry)) then
      worst, worst_retry = j, retry
    end
  end
end
if worst then return {0, worst, worst_retry} end
for i = 1, n do
  redis.call('ZADD', KEYS[2 * i - 1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2 * i - 1], keep[i])
  redis.call('SET', KEYS[2 * i], keep[i], 'PX', keep[i])
end
for b = 1, nb do
  redis.call('INCRBY', KEYS[2 * n + b], ARGV[bbase + 2 * b - 1])
  redis.call('PEXPIRE', KEYS[2 * n + b], tonumber(ARGV[bbase + 2 * b]) - now + 60000)
end
return {1}
"""

_FIELDS = "'identity', 'command', 'interval_ms', 'started_ms', 'expires_ms', 'host'"

# ARGV: ns, connection id, identity, command, interval_ms, started_ms, expires_ms or '',
#       has host (1/0), host, max per identity (-1 none), max total (-1 none),
#       one per connection (1/0).
# Returns {1, '', 0, 0, replaced task's 6 fields (nil when none)} or {0, cap, limit, active}.
START = f"""
local ns, cid, ident = ARGV[1], ARGV[2], ARGV[3]
local tkey = ns .. 'task:' .. cid
local old = redis.call('HMGET', tkey, {_FIELDS})
if old[1] and ARGV[12] == '1' then return {{0, 'one_per_connection', 1, 1}} end
local mine = redis.call('SCARD', ns .. 'tasks:of:' .. ident)
local total = redis.call('SCARD', ns .. 'tasks')
if old[1] then
  total = total - 1
  if old[1] == ident then mine = mine - 1 end
end
local max_mine, max_total = tonumber(ARGV[10]), tonumber(ARGV[11])
if max_mine >= 0 and mine >= max_mine then return {{0, 'max_active', max_mine, mine}} end
if max_total >= 0 and total >= max_total then return {{0, 'max_active_total', max_total, total}} end
if old[1] then
  redis.call('SREM', ns .. 'tasks:of:' .. old[1], cid)
  redis.call('ZREM', ns .. 'tasks:expiry', cid)
  redis.call('DEL', tkey)
end
redis.call('HSET', tkey, 'identity', ident, 'command', ARGV[4], 'interval_ms', ARGV[5], 'started_ms', ARGV[6])
if ARGV[7] ~= '' then
  redis.call('HSET', tkey, 'expires_ms', ARGV[7])
  redis.call('ZADD', ns .. 'tasks:expiry', ARGV[7], cid)
end
if ARGV[8] == '1' then redis.call('HSET', tkey, 'host', ARGV[9]) end
redis.call('SADD', ns .. 'tasks', cid)
redis.call('SADD', ns .. 'tasks:of:' .. ident, cid)
return {{1, '', 0, 0, old[1], old[2], old[3], old[4], old[5], old[6]}}
"""

# ARGV: ns, mode ('all' | 'identity' | 'expired' | 'one'), its argument, delete (1/0).
# Returns 7 values per task: connection id and the 6 fields (nil when absent).
COLLECT = f"""
local ns, mode, arg, delete = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local ids
if mode == 'all' then ids = redis.call('SMEMBERS', ns .. 'tasks')
elseif mode == 'identity' then ids = redis.call('SMEMBERS', ns .. 'tasks:of:' .. arg)
elseif mode == 'expired' then ids = redis.call('ZRANGEBYSCORE', ns .. 'tasks:expiry', '-inf', arg)
else ids = {{arg}} end
local out = {{}}
for _, cid in ipairs(ids) do
  local tkey = ns .. 'task:' .. cid
  local f = redis.call('HMGET', tkey, {_FIELDS})
  if f[1] then
    out[#out + 1] = cid
    for k = 1, 6 do out[#out + 1] = f[k] end
    if delete then
      redis.call('SREM', ns .. 'tasks', cid)
      redis.call('SREM', ns .. 'tasks:of:' .. f[1], cid)
      redis.call('ZREM', ns .. 'tasks:expiry', cid)
      redis.call('DEL', tkey)
    end
  end
end
return out
"""
