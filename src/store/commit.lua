-- charte: one transition, atomically. ARGV is a flat list of operations; every check runs
-- before any write, so a refused commit leaves nothing behind.
--   CHK  <hash> <field> <expected>   revision in a hash must equal expected ("0" = absent)
--   HEAD <key> <seq> <hash>          audit chain head must be (seq, hash) (absent = 0, genesis)
--   NEW  <key>                       key must not exist (idempotency)
--   NOTBEFORE <ms>                   Redis's own clock must have reached ms (tacit approval)
--   SET <key> <value> | HSET <key> <field> <value> | SADD/SREM <key> <member>
--   ZADD <key> <score> <member> | ZREM <key> <member> | RPUSH <key> <value>
--   ZADDNOW <key> <member>           ZADD scored with Redis's own clock in ms (emails due now)
--   HDEL <key> <field>
--   STANDING <standings> <counts> <school> <rank> <state>
--                                    counts a review in its message's summary when its rank is
--                                    at least that of its school's current review (it is, or
--                                    replaces, the current one)
--   INBOX <hash> <review> <state> <key> <school prefix> <authority prefix>
--                                    moves a review in its school's and its authority's inboxes:
--                                    out of <prefix>:* and <prefix>:<old state> under the key
--                                    <hash> remembers for it, into <prefix>:* and
--                                    <prefix>:<state> under <key>
--   BUMP <key>                       a version: max(stored + 1, Redis's clock in µs), so a version
--                                    handed out before the data was wiped cannot come back
local genesis = string.rep("0", 64)
local i = 1
local n = #ARGV
local ops = {}
while i <= n do
  local op = ARGV[i]
  if op == "CHK" then
    local cur = redis.call("HGET", ARGV[i + 1], ARGV[i + 2])
    if not cur then cur = "0" end
    if cur ~= ARGV[i + 3] then
      return "CONFLICT:" .. ARGV[i + 2] .. " est à la révision " .. cur .. ", attendue " .. ARGV[i + 3]
    end
    i = i + 4
  elseif op == "HEAD" then
    local cur = redis.call("GET", ARGV[i + 1])
    local expected = ARGV[i + 2] .. ":" .. ARGV[i + 3]
    if not cur then cur = "0:" .. genesis end
    if cur ~= expected then
      return "CONFLICT:journal d'audit avancé"
    end
    i = i + 4
  elseif op == "NEW" then
    if redis.call("EXISTS", ARGV[i + 1]) == 1 then
      return "CONFLICT:clé déjà utilisée"
    end
    i = i + 2
  elseif op == "NOTBEFORE" then
    local t = redis.call("TIME")
    local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if now_ms < tonumber(ARGV[i + 1]) then
      return "EARLY:" .. tostring(now_ms)
    end
    i = i + 2
  elseif op == "SET" or op == "SADD" or op == "SREM" or op == "ZREM" or op == "RPUSH" or op == "HDEL" then
    table.insert(ops, { op, ARGV[i + 1], ARGV[i + 2] })
    i = i + 3
  elseif op == "HSET" or op == "ZADD" then
    table.insert(ops, { op, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3] })
    i = i + 4
  elseif op == "ZADDNOW" then
    local t = redis.call("TIME")
    local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    table.insert(ops, { "ZADD", ARGV[i + 1], tostring(now_ms), ARGV[i + 2] })
    i = i + 3
  elseif op == "STANDING" then
    table.insert(ops, { "STANDING", ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5] })
    i = i + 6
  elseif op == "INBOX" then
    table.insert(ops, { "INBOX", ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6] })
    i = i + 7
  elseif op == "BUMP" then
    table.insert(ops, { "BUMP", ARGV[i + 1] })
    i = i + 2
  else
    return redis.error_reply("opération inconnue : " .. tostring(op))
  end
end
for _, o in ipairs(ops) do
  if o[1] == "STANDING" then
    local cur = redis.call("HGET", o[2], o[4])
    local replace = true
    if cur then
      local sep = string.find(cur, "|", 1, true)
      local cur_rank, cur_state = string.sub(cur, 1, sep - 1), string.sub(cur, sep + 1)
      if o[5] < cur_rank then
        replace = false
      elseif redis.call("HINCRBY", o[3], cur_state, -1) <= 0 then
        redis.call("HDEL", o[3], cur_state)
      end
    end
    if replace then
      redis.call("HINCRBY", o[3], o[6], 1)
      redis.call("HSET", o[2], o[4], o[5] .. "|" .. o[6])
    end
  elseif o[1] == "INBOX" then
    local old = redis.call("HGET", o[2], o[3])
    for p = 6, 7 do
      if old then
        local sep = string.find(old, "|", 1, true)
        local old_state, old_key = string.sub(old, 1, sep - 1), string.sub(old, sep + 1)
        redis.call("ZREM", o[p] .. ":*", old_key)
        redis.call("ZREM", o[p] .. ":" .. old_state, old_key)
      end
      redis.call("ZADD", o[p] .. ":*", 0, o[5])
      redis.call("ZADD", o[p] .. ":" .. o[4], 0, o[5])
    end
    redis.call("HSET", o[2], o[3], o[4] .. "|" .. o[5])
  elseif o[1] == "BUMP" then
    local t = redis.call("TIME")
    local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local cur = tonumber(redis.call("GET", o[2]) or "0")
    redis.call("SET", o[2], string.format("%.0f", math.max(cur + 1, now_us)))
  else
    redis.call(unpack(o))
  end
end
return "OK"
