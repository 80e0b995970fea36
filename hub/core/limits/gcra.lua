-- chathub limiter: GCRA rate checks, a daily token budget and concurrency leases, decided
-- atomically in one call. Time is integer microseconds from the server's TIME (ARGV[2] may
-- inject a time for tests). Every key of a call shares one {hash-tag}, so it runs on Cluster.
--
-- ARGV[1] op: decide | release | renew | leases | add | used      ARGV[2] now (us) or ''
--
-- decide  KEYS: n rate keys, then the budget key (if budget limit >= 0), then the lease key
--         (if lease max >= 0). ARGV[3] is one string of integers (fewer arguments to encode
--         per call): "n budget_limit lease_max lease_ttl_us" then "T burst cost" per rate
--         check (T in us); -1 means "no budget" / "no lease". ARGV[4] is the lease id.
--         Returns {allowed, retry_us, limit, remaining, reset_us, scope}; scope is the
--         1-based index into KEYS of the refusing check (or of the tightest rate when allowed).

-- Writing after TIME needs script-effects replication: the default since Redis 5.

local DAY = 86400000000
local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function fmt(n) return string.format('%d', n) end
local function ttl_ms(us) return math.max(1, math.ceil(us / 1000)) end

local function purge_leases(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
end

local function expire_leases(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIRE', key, ttl_ms(tonumber(last[2]) - now)) end
end

local function budget_used(key, day)
  local v = redis.call('HMGET', key, 'd', 'u')
  if v[1] and tonumber(v[1]) == day then return tonumber(v[2]) end
  return 0
end

if op == 'decide' then
  local spec = {}
  for word in string.gmatch(ARGV[3], '%S+') do spec[#spec + 1] = tonumber(word) end
  local n = spec[1]
  local pending = {}
  local best_refused, best_allowed
  for i = 1, n do
    local key = KEYS[i]
    local base = 5 + (i - 1) * 3
    local T, burst, cost = spec[base], spec[base + 1], spec[base + 2]
    local tat = pending[key]
    if not tat then tat = tonumber(redis.call('GET', key) or '0') end
    if tat < now then tat = now end
    local tau = T * burst
    local new = tat + T * cost
    if new - now <= tau + T then
      local rem = math.floor((tau + T - (new - now)) / T)
      pending[key] = new
      if not best_allowed or rem < best_allowed[4] then
        best_allowed = {1, 0, burst + 1, rem, new - now, i}
      end
    else
      local retry = new - now - tau - T
      local rem = math.max(0, math.floor((tau + T - (tat - now)) / T))
      if not best_refused or retry > best_refused[2] then
        best_refused = {0, retry, burst + 1, rem, tat - now, i}
      end
    end
  end
  local k = n
  local budget_key, lease_key
  if spec[2] >= 0 then
    k = k + 1
    budget_key = KEYS[k]
    local limit = spec[2]
    local day = math.floor(now / DAY)
    if budget_used(budget_key, day) >= limit then
      local retry = (day + 1) * DAY - now
      if not best_refused or retry > best_refused[2] then
        best_refused = {0, retry, limit, 0, retry, k}
      end
    end
  end
  if spec[3] >= 0 then
    k = k + 1
    lease_key = KEYS[k]
    purge_leases(lease_key)
    local max = spec[3]
    if redis.call('ZCARD', lease_key) >= max then
      local first = redis.call('ZRANGE', lease_key, 0, 0, 'WITHSCORES')
      local retry = tonumber(first[2]) - now
      if not best_refused or retry > best_refused[2] then
        best_refused = {0, retry, max, 0, retry, k}
      end
    end
  end
  if best_refused then return best_refused end
  for key, tat in pairs(pending) do
    redis.call('SET', key, fmt(tat), 'PX', ttl_ms(tat - now))
  end
  if lease_key then
    redis.call('ZADD', lease_key, fmt(now + spec[4]), ARGV[4])
    expire_leases(lease_key)
  end
  return best_allowed or {1, 0, 0, 0, 0, 0}
elseif op == 'release' then
  return redis.call('ZREM', KEYS[1], ARGV[3])
elseif op == 'renew' then
  purge_leases(KEYS[1])
  if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 0 end
  redis.call('ZADD', KEYS[1], 'XX', fmt(now + tonumber(ARGV[4])), ARGV[3])
  expire_leases(KEYS[1])
  return 1
elseif op == 'leases' then
  purge_leases(KEYS[1])
  return redis.call('ZCARD', KEYS[1])
elseif op == 'add' then
  local day = math.floor(now / DAY)
  local used = budget_used(KEYS[1], day) + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'd', fmt(day), 'u', fmt(used))
  redis.call('PEXPIRE', KEYS[1], ttl_ms((day + 1) * DAY - now))
  return used
elseif op == 'used' then
  return budget_used(KEYS[1], math.floor(now / DAY))
end
return redis.error_reply('unknown op ' .. tostring(op))
