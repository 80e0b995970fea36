-- chathub: one reply at a time per conversation, across replicas
-- (hub/core/coordination/redis_turns.py). Every key of a call belongs to one conversation and
-- shares its hash tag {<ns>:turn:<conversation>}, so it runs on Redis Cluster, and different
-- conversations spread over the shards.
--
-- KEYS: 1 queue (ZSET ticket -> fence: arrival order; the first is the holder)
--       2 expiry (ZSET ticket -> ms)   3 fence (the last fence handed out)
-- ARGV: 1 op   2 now (ms, '' = the server's TIME)   3 lease ttl (ms)   4 channel
--       5 the conversation (published when its holder leaves)   6… op args
--
-- A fence grows with every ticket of the conversation and never goes back, even after the
-- keys expired while the conversation was idle: it is at least the server time in
-- microseconds, so a store can refuse writes from a holder that lost its lease.

local K_QUEUE, K_EXPIRY, K_FENCE = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local ttl, channel, conversation = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local IDLE_MS = 86400000 -- the fence counter outlives an idle conversation by a day

local moved = false -- the holder changed: wake the waiters

local function head()
  local first = redis.call('ZRANGE', K_QUEUE, 0, 0)
  return first[1]
end

local function remove(ticket)
  local was_head = head() == ticket
  redis.call('ZREM', K_EXPIRY, ticket)
  if redis.call('ZREM', K_QUEUE, ticket) == 1 and was_head then moved = true end
end

local function purge() -- tickets of replicas that stopped renewing them
  for _, ticket in ipairs(redis.call('ZRANGEBYSCORE', K_EXPIRY, '-inf', now)) do
    remove(ticket)
  end
end

local function rank(ticket)
  local r = redis.call('ZRANK', K_QUEUE, ticket)
  if r == false then return -1 end
  return r
end

local result = 1
if op == 'enter' then
  -- ARGV 6 ticket -> {fence, rank}; rank 0 holds the conversation
  purge()
  local fence = redis.call('INCR', K_FENCE)
  local floor = now * 1000
  if fence < floor then
    fence = floor
    redis.call('SET', K_FENCE, string.format('%d', fence))
  end
  redis.call('PEXPIRE', K_FENCE, IDLE_MS)
  redis.call('ZADD', K_QUEUE, string.format('%d', fence), ARGV[6])
  redis.call('ZADD', K_EXPIRY, now + ttl, ARGV[6])
  redis.call('PEXPIRE', K_QUEUE, ttl * 2)
  redis.call('PEXPIRE', K_EXPIRY, ttl * 2)
  result = {string.format('%d', fence), rank(ARGV[6])}
elseif op == 'status' then
  -- ARGV 6 ticket -> its rank (-1: gone)
  purge()
  result = rank(ARGV[6])
elseif op == 'leave' then
  -- ARGV 6 ticket
  purge()
  remove(ARGV[6])
elseif op == 'holder' then
  -- -> the holding ticket, or ''
  purge()
  result = head() or ''
elseif op == 'renew' then
  -- ARGV 6… tickets -> the ones no longer known
  purge()
  result = {}
  for i = 6, #ARGV do
    if not redis.call('ZSCORE', K_EXPIRY, ARGV[i]) then
      result[#result + 1] = ARGV[i]
    else
      redis.call('ZADD', K_EXPIRY, now + ttl, ARGV[i])
    end
  end
  redis.call('PEXPIRE', K_QUEUE, ttl * 2)
  redis.call('PEXPIRE', K_EXPIRY, ttl * 2)
else
  return redis.error_reply('unknown op ' .. tostring(op))
end
if moved then redis.call('PUBLISH', channel, conversation) end
return result
