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
--   PUB <channel> <message>          tells every replica (the schools whose feed changed)
--   BUMP <key>                       a version: max(stored + 1, Redis's clock in µs), so a version
--                                    handed out before the data was wiped cannot come back
local genesis = string.rep("0", 64)
local i = 1
local n = #ARGV
-- Where each write starts in ARGV: the checks must all pass before the first write.
local writes = {}
local now_us = nil
-- Redis's clock, read once: every instant of one commit is the same.
local function clock_us()
  if not now_us then
    local t = redis.call("TIME")
    now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return now_us
end
-- Arguments each operation takes after its name.
local arity = {
  SET = 2, SADD = 2, SREM = 2, ZREM = 2, RPUSH = 2, HDEL = 2,
  HSET = 3, ZADD = 3, ZADDNOW = 2, STANDING = 5, INBOX = 6, BUMP = 1, PUB = 2,
}
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
    local now_ms = math.floor(clock_us() / 1000)
    if now_ms < tonumber(ARGV[i + 1]) then
      return "EARLY:" .. tostring(now_ms)
    end
    i = i + 2
  else
    local k = arity[op]
    if not k then
      return redis.error_reply("opération inconnue : " .. tostring(op))
    end
    writes[#writes + 1] = i
    i = i + 1 + k
  end
end
for _, w in ipairs(writes) do
  local op = ARGV[w]
  local a, b, c = ARGV[w + 1], ARGV[w + 2], ARGV[w + 3]
  if op == "SET" or op == "SADD" or op == "SREM" or op == "ZREM" or op == "RPUSH" or op == "HDEL" then
    redis.call(op, a, b)
  elseif op == "HSET" or op == "ZADD" then
    redis.call(op, a, b, c)
  elseif op == "ZADDNOW" then
    redis.call("ZADD", a, string.format("%.0f", math.floor(clock_us() / 1000)), b)
  elseif op == "STANDING" then
    -- a: standings, b: counts, c: school, then rank and state
    local rank, state = ARGV[w + 4], ARGV[w + 5]
    local cur = redis.call("HGET", a, c)
    local replace = true
    if cur then
      local sep = string.find(cur, "|", 1, true)
      local cur_rank, cur_state = string.sub(cur, 1, sep - 1), string.sub(cur, sep + 1)
      if rank < cur_rank then
        replace = false
      elseif redis.call("HINCRBY", b, cur_state, -1) <= 0 then
        redis.call("HDEL", b, cur_state)
      end
    end
    if replace then
      redis.call("HINCRBY", b, state, 1)
      redis.call("HSET", a, c, rank .. "|" .. state)
    end
  elseif op == "INBOX" then
    -- a: the hash of inbox keys, b: review, c: state, then key and the two prefixes
    local key = ARGV[w + 4]
    local old = redis.call("HGET", a, b)
    local old_state, old_key
    if old then
      local sep = string.find(old, "|", 1, true)
      old_state, old_key = string.sub(old, 1, sep - 1), string.sub(old, sep + 1)
    end
    for p = w + 5, w + 6 do
      local prefix = ARGV[p]
      if old and old_key ~= key then
        redis.call("ZREM", prefix .. ":*", old_key)
      end
      if old and (old_key ~= key or old_state ~= c) then
        redis.call("ZREM", prefix .. ":" .. old_state, old_key)
      end
      if not old or old_key ~= key then
        redis.call("ZADD", prefix .. ":*", 0, key)
      end
      if not old or old_key ~= key or old_state ~= c then
        redis.call("ZADD", prefix .. ":" .. c, 0, key)
      end
    end
    if old ~= c .. "|" .. key then
      redis.call("HSET", a, b, c .. "|" .. key)
    end
  elseif op == "PUB" then
    redis.call("PUBLISH", a, b)
  elseif op == "BUMP" then
    local cur = tonumber(redis.call("GET", a) or "0")
    redis.call("SET", a, string.format("%.0f", math.max(cur + 1, clock_us())))
  end
end
return "OK"
