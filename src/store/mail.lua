-- charte: outbox delivery bookkeeping, each call atomic. Times come from Redis's own clock so
-- that replicas with drifting clocks still agree on leases and retry times.
-- ARGV[1] is the operation, ARGV[2] the key prefix.
--   claim   <prefix> <lease_ms> <limit> <token>         -> { {id, mail_json, attempts, permanent, last_error, updated_ms, token}, ... }
--   finish  <prefix> <id> <token> sent|retry|dead <after_ms> <error> <permanent 0|1>  -> 1 | 0
--   requeue <prefix> <id>                               -> "OK" | "NOTFOUND" | current status
--   expire  <prefix> <before_ms> <limit>                -> how many records were removed
--           (emails delivered before, with their state and outbox entry; idempotency keys
--           reserved before; fan-out jobs finished before)
-- Keys: <prefix>:mail:<id> (the email), <prefix>:mail_state:<id> (hash), <prefix>:mail_due and
-- <prefix>:mail_dead (sorted sets, score in ms), <prefix>:mail_sent (counter).
local op = ARGV[1]
local prefix = ARGV[2]
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = prefix .. ":mail_due"
local dead = prefix .. ":mail_dead"

local function state_key(id) return prefix .. ":mail_state:" .. id end

if op == "claim" then
  local lease = tonumber(ARGV[3])
  local limit = tonumber(ARGV[4])
  local token = ARGV[5]
  local ids = redis.call("ZRANGEBYSCORE", due, "-inf", now, "LIMIT", 0, limit)
  local out = {}
  for i, id in ipairs(ids) do
    local mail = redis.call("GET", prefix .. ":mail:" .. id)
    local st = state_key(id)
    if not mail or redis.call("HGET", st, "status") ~= "queued" then
      redis.call("ZREM", due, id)
    else
      local tok = token .. ":" .. i
      -- The lease is the due time: if the holder dies, the email simply falls due again.
      redis.call("ZADD", due, now + lease, id)
      redis.call("HSET", st, "token", tok)
      local h = redis.call("HMGET", st, "attempts", "permanent_failures", "last_error", "updated_at")
      table.insert(out, { id, mail, h[1] or "0", h[2] or "0", h[3] or "", h[4] or "", tok })
    end
  end
  return out
elseif op == "finish" then
  local id = ARGV[3]
  local st = state_key(id)
  if redis.call("HGET", st, "token") ~= ARGV[4] or redis.call("HGET", st, "status") ~= "queued" then
    return 0
  end
  local outcome = ARGV[5]
  redis.call("HDEL", st, "token")
  redis.call("HINCRBY", st, "attempts", 1)
  redis.call("HSET", st, "updated_at", now)
  if ARGV[8] == "1" then redis.call("HINCRBY", st, "permanent_failures", 1) end
  if outcome == "sent" then
    redis.call("HSET", st, "status", "sent")
    redis.call("ZREM", due, id)
    redis.call("INCR", prefix .. ":mail_sent")
    redis.call("ZADD", prefix .. ":mail_sent_at", now, id)
  elseif outcome == "retry" then
    redis.call("HSET", st, "last_error", ARGV[7])
    redis.call("ZADD", due, now + tonumber(ARGV[6]), id)
  else
    redis.call("HSET", st, "status", "dead", "last_error", ARGV[7])
    redis.call("ZREM", due, id)
    redis.call("ZADD", dead, now, id)
  end
  return 1
elseif op == "requeue" then
  local id = ARGV[3]
  local st = state_key(id)
  local status = redis.call("HGET", st, "status")
  if not status or redis.call("EXISTS", prefix .. ":mail:" .. id) == 0 then return "NOTFOUND" end
  if status ~= "dead" then return status end
  redis.call("HSET", st, "status", "queued", "attempts", 0, "permanent_failures", 0)
  redis.call("HDEL", st, "token")
  redis.call("ZREM", dead, id)
  redis.call("ZADD", due, now, id)
  return "OK"
elseif op == "expire" then
  local before = ARGV[3]
  local limit = tonumber(ARGV[4])
  local removed = 0
  local sent_at = prefix .. ":mail_sent_at"
  for _, id in ipairs(redis.call("ZRANGEBYSCORE", sent_at, "-inf", "(" .. before, "LIMIT", 0, limit)) do
    redis.call("DEL", prefix .. ":mail:" .. id, state_key(id))
    redis.call("ZREM", prefix .. ":outbox", id)
    redis.call("ZREM", sent_at, id)
    removed = removed + 1
  end
  local idem_at = prefix .. ":idem_at"
  for _, key in ipairs(redis.call("ZRANGEBYSCORE", idem_at, "-inf", "(" .. before, "LIMIT", 0, limit)) do
    redis.call("DEL", prefix .. ":idem:" .. key)
    redis.call("ZREM", idem_at, key)
    removed = removed + 1
  end
  local jobs_done = prefix .. ":fan_outs_done"
  for _, id in ipairs(redis.call("ZRANGEBYSCORE", jobs_done, "-inf", "(" .. before, "LIMIT", 0, limit)) do
    redis.call("DEL", prefix .. ":fan_out:" .. id)
    redis.call("HDEL", prefix .. ":revs", "f:" .. id)
    redis.call("ZREM", jobs_done, id)
    removed = removed + 1
  end
  return removed
end
return redis.error_reply("opération inconnue : " .. tostring(op))
