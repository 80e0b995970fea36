-- chathub: backend slots and the fair queue in front of them, shared by every replica
-- (hub/core/coordination/redis_slots.py). One script call is one atomic step; every key shares
-- the hash tag {<ns>:slots}, so it runs on Redis Cluster.
--
-- KEYS: 1 wait (ZSET ticket -> arrival seq)   2 tickets (HASH ticket -> JSON [user, targets])
--       3 alive (ZSET ticket -> expiry ms)    4 grants (HASH ticket -> "index backend")
--       5 served (ZSET user -> stamp)         6 seq (counter)    7 busy (HASH backend -> slots)
-- ARGV: 1 op   2 now (ms, '' = the server's TIME)   3 lease ttl (ms)   4 channel   5… op args
-- A target is [backend, max_concurrency, priority, order]; indexes returned are 1-based.
--
-- Fairness as in hub/core/routing/fair_queue.py: waiting tickets are served round-robin by
-- user, the least recently served user first (then by arrival); a newcomer takes a free slot
-- only when no waiting ticket can use it. After every call no waiting ticket can use a free
-- slot, except for slots freed by time (expired leases), which each call purges first.

local K_WAIT, K_TICKETS, K_ALIVE, K_GRANTS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_SERVED, K_SEQ, K_BUSY = KEYS[5], KEYS[6], KEYS[7]
local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local ttl = tonumber(ARGV[3])
local channel = ARGV[4]
local MEMORY = 4096 -- users whose last service is remembered

local changed = false -- the queue or its grants changed: wake the replicas
local granted = {}    -- "ticket=index" granted to waiting tickets by this call
local busy_cache = {}

local function busy(backend)
  local n = busy_cache[backend]
  if n == nil then
    n = tonumber(redis.call('HGET', K_BUSY, backend) or '0')
    busy_cache[backend] = n
  end
  return n
end

local function release(id) -- give a granted ticket's slot back; true if it held one
  local g = redis.call('HGET', K_GRANTS, id)
  if not g then return false end
  local backend = string.match(g, '^%d+ (.*)$')
  redis.call('HDEL', K_GRANTS, id)
  redis.call('ZREM', K_ALIVE, id)
  busy_cache[backend] = nil
  if redis.call('HINCRBY', K_BUSY, backend, -1) <= 0 then redis.call('HDEL', K_BUSY, backend) end
  return true
end

local function leave(id) -- take a waiting ticket out of the queue; true if it was waiting
  if redis.call('ZREM', K_WAIT, id) == 0 then return false end
  redis.call('HDEL', K_TICKETS, id)
  redis.call('ZREM', K_ALIVE, id)
  return true
end

local function purge() -- tickets and slots of replicas that stopped renewing them
  local dead = redis.call('ZRANGEBYSCORE', K_ALIVE, '-inf', now)
  for _, id in ipairs(dead) do
    if release(id) or leave(id) then changed = true end
    redis.call('ZREM', K_ALIVE, id)
  end
  return #dead > 0
end

local function order() -- every waiting ticket in service order: {id, record}
  local ids = redis.call('ZRANGE', K_WAIT, 0, -1)
  local users, queues, first = {}, {}, {}
  for i, id in ipairs(ids) do
    local rec = cjson.decode(redis.call('HGET', K_TICKETS, id))
    local u = rec[1]
    local q = queues[u]
    if not q then
      q = {}
      queues[u] = q
      users[#users + 1] = u
      first[u] = i
    end
    q[#q + 1] = {id, rec}
  end
  local stamp = {}
  for _, u in ipairs(users) do stamp[u] = tonumber(redis.call('ZSCORE', K_SERVED, u) or '0') end
  table.sort(users, function(a, b)
    if stamp[a] ~= stamp[b] then return stamp[a] < stamp[b] end
    return first[a] < first[b]
  end)
  local out, depth, more = {}, 1, true
  while more do
    more = false
    for _, u in ipairs(users) do
      local item = queues[u][depth]
      if item then
        out[#out + 1] = item
        more = true
      end
    end
    depth = depth + 1
  end
  return out
end

local function pick(targets) -- the least loaded target with room, then priority, then order
  local best, b1, b2, b3
  for i, t in ipairs(targets) do
    local n, cap = busy(t[1]), t[2]
    if n < cap then
      local k1, k2, k3 = n / cap, -t[3], t[4]
      if not best or k1 < b1 or (k1 == b1 and (k2 < b2 or (k2 == b2 and k3 < b3))) then
        best, b1, b2, b3 = i, k1, k2, k3
      end
    end
  end
  return best
end

local function grant(id, user, targets, index)
  local backend = targets[index][1]
  busy_cache[backend] = busy(backend) + 1
  redis.call('HINCRBY', K_BUSY, backend, 1)
  redis.call('HSET', K_GRANTS, id, index .. ' ' .. backend)
  redis.call('ZADD', K_ALIVE, now + ttl, id)
  redis.call('ZADD', K_SERVED, redis.call('INCR', K_SEQ), user)
  local extra = redis.call('ZCARD', K_SERVED) - MEMORY
  if extra > 0 then redis.call('ZREMRANGEBYRANK', K_SERVED, 0, extra - 1) end
end

local function dispatch() -- free slots to waiting tickets, in fair order
  if redis.call('ZCARD', K_WAIT) == 0 then return end
  for _, item in ipairs(order()) do
    local id, rec = item[1], item[2]
    local index = pick(rec[2])
    if index then
      redis.call('ZREM', K_WAIT, id)
      redis.call('HDEL', K_TICKETS, id)
      grant(id, rec[1], rec[2], index)
      granted[#granted + 1] = id .. '=' .. index
      changed = true
    end
  end
end

local function positions()
  local pos = {}
  for i, item in ipairs(order()) do pos[item[1]] = i - 1 end
  return pos
end

local result = 1
if op == 'enter' then
  -- ARGV 5 queue limit, then per ticket: id, user, targets (JSON). Several tickets arriving
  -- together enter in one call, in order. -> per ticket {1, index} granted, {0, position}
  -- waiting, {-1, waiting} the queue is full
  local limit = tonumber(ARGV[5])
  if purge() then dispatch() end
  local out, newcomers = {}, {}
  for i = 6, #ARGV, 3 do
    local id, user, targets = ARGV[i], ARGV[i + 1], cjson.decode(ARGV[i + 2])
    local index = pick(targets)
    local waiting = redis.call('ZCARD', K_WAIT)
    local n = #out
    if index then
      grant(id, user, targets, index)
      out[n + 1] = 1
      out[n + 2] = index
    elseif waiting >= limit then
      out[n + 1] = -1
      out[n + 2] = waiting
    else
      redis.call('ZADD', K_WAIT, redis.call('INCR', K_SEQ), id)
      redis.call('HSET', K_TICKETS, id, cjson.encode({user, targets}))
      redis.call('ZADD', K_ALIVE, now + ttl, id)
      changed = true
      out[n + 1] = 0
      out[n + 2] = 0
      newcomers[#newcomers + 1] = {id, n + 2}
    end
  end
  if #newcomers > 0 then
    local pos = positions()
    for _, n in ipairs(newcomers) do out[n[2]] = pos[n[1]] end
  end
  result = out
elseif op == 'close' then
  -- ARGV 5… tickets
  local freed = purge()
  for i = 5, #ARGV do
    if release(ARGV[i]) then
      freed, changed = true, true
    elseif leave(ARGV[i]) then
      changed = true
    end
  end
  if freed then dispatch() end
elseif op == 'status' then
  -- ARGV 5… tickets -> per ticket {1, index} granted, {0, position} waiting, {-2, 0} gone
  if purge() then dispatch() end
  local pos = nil
  result = {}
  for i = 5, #ARGV do
    local id = ARGV[i]
    local g = redis.call('HGET', K_GRANTS, id)
    if g then
      result[#result + 1] = 1
      result[#result + 1] = tonumber(string.match(g, '^(%d+) '))
    elseif redis.call('ZSCORE', K_WAIT, id) then
      pos = pos or positions()
      result[#result + 1] = 0
      result[#result + 1] = pos[id]
    else
      result[#result + 1] = -2
      result[#result + 1] = 0
    end
  end
elseif op == 'renew' then
  -- ARGV 5… tickets (waiting or granted) of one replica -> the ones Redis no longer has
  if purge() then dispatch() end
  result = {}
  for i = 5, #ARGV do
    if redis.call('ZADD', K_ALIVE, 'XX', 'CH', now + ttl, ARGV[i]) == 0
        and not redis.call('ZSCORE', K_ALIVE, ARGV[i]) then
      result[#result + 1] = ARGV[i]
    end
  end
elseif op == 'retarget' then
  -- ARGV 5 ticket, 6 targets (JSON): a waiting ticket's targets after a health change
  local rec = redis.call('HGET', K_TICKETS, ARGV[5])
  if rec then
    redis.call('HSET', K_TICKETS, ARGV[5], cjson.encode({cjson.decode(rec)[1], cjson.decode(ARGV[6])}))
  end
  purge()
  dispatch()
elseif op == 'dispatch' then
  purge()
  dispatch()
else
  return redis.error_reply('unknown op ' .. tostring(op))
end
if changed then redis.call('PUBLISH', channel, table.concat(granted, ',')) end
return result
