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
--                                    out of <prefix>:<old state> under the key <hash> remembers
--                                    for it, into <prefix>:<state> under <key> (an inbox of every
--                                    state is read by merging them: one set fewer to write)
--   PUB <channel> <message>          tells every replica (the schools whose feed changed); the
--                                    messages of one commit go out as one, separated by spaces
--   EVENT <stream> <json>            appends an event to the webhooks' log (XADD, field `e`)
--   UNSCHEDULE <zset> <hash> <set>   cancels the scheduled events listed in <set> (a message's):
--                                    out of <zset> and <hash>; a commit that cancels schedules
--                                    nothing, so these direct calls cross no gathered write
--   BUMP <key>                       a version: max(stored + 1, Redis's clock in µs), so a version
--                                    handed out before the data was wiped cannot come back
--
-- A commit of fifty tacit approvals names the same few keys fifty times (the deadline index,
-- the authority's inbox, the revisions, the audit chain), and a call from a script costs more
-- than the work most of these calls do. So what the script reads (revisions, inbox places,
-- standings, feed versions) is read with one command per key before any write, and the writes
-- are gathered per key and sent as one variadic command each (every SET in one MSET). The
-- effect is that of the operations in ARGV's order: see `gather`.
local genesis = string.rep("0", 64)
local n = #ARGV
local now_us = nil
-- Redis's clock, read once: every instant of one commit is the same.
local function clock_us()
  if not now_us then
    local t = redis.call("TIME")
    now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return now_us
end
-- Arguments each write takes after its name.
local arity = {
  SET = 2, SADD = 2, SREM = 2, ZREM = 2, RPUSH = 2, HDEL = 2,
  HSET = 3, ZADD = 3, ZADDNOW = 2, STANDING = 5, INBOX = 6, BUMP = 1, PUB = 2, EVENT = 2,
  UNSCHEDULE = 3,
}
-- Lua's stack bounds how many arguments one call may take (even, so pairs are not split).
local CHUNK = 4000

-- Calls `cmd` with `key` (if any) and `args`, in as few calls as Lua's stack allows; returns
-- the replies, concatenated.
local function call(cmd, key, args)
  local out = {}
  for s = 1, #args, CHUNK do
    local part
    if key then
      part = redis.call(cmd, key, unpack(args, s, math.min(s + CHUNK - 1, #args)))
    else
      part = redis.call(cmd, unpack(args, s, math.min(s + CHUNK - 1, #args)))
    end
    if type(part) == "table" then
      for j = 1, #part do out[#out + 1] = part[j] end
    else
      out[#out + 1] = part
    end
  end
  return out
end
-- `wanted[hash]` lists fields; returns `seen[hash][field]`, one HMGET per hash.
local function read_fields(wanted)
  local seen = {}
  for hash, fields in pairs(wanted) do
    local values = call("HMGET", hash, fields)
    local got = {}
    for j = 1, #fields do got[fields[j]] = values[j] end
    seen[hash] = got
  end
  return seen
end
-- `t[k]`, a table created on first use.
local function entry(t, k)
  local v = t[k]
  if not v then
    v = {}
    t[k] = v
  end
  return v
end
local function want(wanted, hash, field)
  local fields = entry(wanted, hash)
  fields[#fields + 1] = field
end
-- `names` read with MGET; returns `value[name]`.
local function read_keys(names)
  local value = {}
  if #names > 0 then
    local values = call("MGET", nil, names)
    for j = 1, #names do value[names[j]] = values[j] end
  end
  return value
end

-- The checks, then the writes' places in ARGV.
local revisions, checks, heads, fresh, writes = {}, {}, {}, {}, {}
local not_before = nil
local i = 1
while i <= n do
  local op = ARGV[i]
  if op == "CHK" then
    want(revisions, ARGV[i + 1], ARGV[i + 2])
    checks[#checks + 1] = i
    i = i + 4
  elseif op == "HEAD" then
    heads[#heads + 1] = i
    i = i + 4
  elseif op == "NEW" then
    fresh[#fresh + 1] = ARGV[i + 1]
    i = i + 2
  elseif op == "NOTBEFORE" then
    not_before = math.max(not_before or 0, tonumber(ARGV[i + 1]))
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
local stored = read_fields(revisions)
for _, c in ipairs(checks) do
  local cur = stored[ARGV[c + 1]][ARGV[c + 2]]
  if not cur then cur = "0" end
  if cur ~= ARGV[c + 3] then
    return "CONFLICT:" .. ARGV[c + 2] .. " est à la révision " .. cur .. ", attendue " .. ARGV[c + 3]
  end
end
local head_names = {}
for j, h in ipairs(heads) do head_names[j] = ARGV[h + 1] end
local head_of = read_keys(head_names)
for _, h in ipairs(heads) do
  local cur = head_of[ARGV[h + 1]] or ("0:" .. genesis)
  if cur ~= ARGV[h + 2] .. ":" .. ARGV[h + 3] then
    return "CONFLICT:journal d'audit avancé"
  end
end
if #fresh > 0 then
  for _, existing in ipairs(call("EXISTS", nil, fresh)) do
    if existing > 0 then
      return "CONFLICT:clé déjà utilisée"
    end
  end
end
if not_before then
  local now_ms = math.floor(clock_us() / 1000)
  if now_ms < not_before then
    return "EARLY:" .. tostring(now_ms)
  end
end

-- What the writes read, before any of them; kept up to date by the writes below.
local places, standings, versions = {}, {}, {}
for _, w in ipairs(writes) do
  local op = ARGV[w]
  if op == "INBOX" then
    want(places, ARGV[w + 1], ARGV[w + 2])
  elseif op == "STANDING" then
    want(standings, ARGV[w + 1], ARGV[w + 3])
  elseif op == "BUMP" then
    versions[#versions + 1] = ARGV[w + 1]
  end
end
places = read_fields(places)
standings = read_fields(standings)
local version_of = read_keys(versions)

-- Gathered writes. Per key, additions and removals are kept apart: a member added after its
-- removal (or removed after its addition) first sends what was gathered for the key, so the
-- two lists never name the same member and sending removals before additions has the effect
-- of ARGV's order. A key written with another kind of command (a SET after an HSET) likewise
-- sends what was gathered for it first.
local family = { ZADD = "z", ZREM = "z", SADD = "s", SREM = "s", HSET = "h", HDEL = "h", RPUSH = "l" }
local removal = { ZREM = true, SREM = true, HDEL = true }
local pending = {}   -- key -> { fam, add, adds, added, rem, rems, removed }
local keys = {}      -- keys in the order they were first gathered
local mset, in_mset = {}, {}
local counts = {}    -- counts hash -> state -> change
local published = {} -- channel -> messages
local function flush_mset()
  if #mset > 0 then
    call("MSET", nil, mset)
    mset, in_mset = {}, {}
  end
end
local function flush(key)
  local p = pending[key]
  if p then
    pending[key] = nil
    if #p.rems > 0 then call(p.rem, key, p.rems) end
    if #p.adds > 0 then call(p.add, key, p.adds) end
  end
end
-- A commit of one decision names each key about once: gathering would only add its own cost
-- (measured: a third more time per decision), so its writes are sent as they come.
local direct = #writes <= 64
-- Gathers `cmd` on `key` for `member` (nil for a list), with its arguments `a` and `b`.
local function gather(cmd, key, member, a, b)
  if direct then
    if removal[cmd] then
      redis.call(cmd, key, member)
    elseif b ~= nil then
      redis.call(cmd, key, a, b)
    else
      redis.call(cmd, key, a)
    end
    return
  end
  if in_mset[key] then flush_mset() end
  local p = pending[key]
  local remove = removal[cmd]
  if p and (p.fam ~= family[cmd]
      or (member and ((remove and p.added[member]) or (not remove and p.removed[member])))) then
    flush(key)
    p = nil
  end
  if not p then
    p = { fam = family[cmd], adds = {}, added = {}, rems = {}, removed = {} }
    pending[key] = p
    keys[#keys + 1] = key
  end
  if remove then
    p.rem = cmd
    p.rems[#p.rems + 1] = member
    p.removed[member] = true
  else
    p.add = cmd
    local args = p.adds
    args[#args + 1] = a
    if b ~= nil then args[#args + 1] = b end
    if member then p.added[member] = true end
  end
end
local function set(key, value)
  if direct then
    redis.call("SET", key, value)
    return
  end
  flush(key)
  mset[#mset + 1] = key
  mset[#mset + 1] = value
  in_mset[key] = true
end
local function count(hash, state, by)
  local c = entry(counts, hash)
  c[state] = (c[state] or 0) + by
end

for _, w in ipairs(writes) do
  local op = ARGV[w]
  local a, b, c = ARGV[w + 1], ARGV[w + 2], ARGV[w + 3]
  if op == "SET" then
    set(a, b)
  elseif op == "SADD" then
    gather(op, a, b, b)
  elseif op == "SREM" or op == "ZREM" or op == "HDEL" then
    gather(op, a, b)
  elseif op == "RPUSH" then
    gather(op, a, nil, b)
  elseif op == "HSET" then
    gather(op, a, b, b, c)
  elseif op == "ZADD" then
    gather(op, a, c, b, c)
  elseif op == "ZADDNOW" then
    gather("ZADD", a, b, string.format("%.0f", math.floor(clock_us() / 1000)), b)
  elseif op == "STANDING" then
    -- a: standings, b: counts, c: school, then rank and state
    local rank, state = ARGV[w + 4], ARGV[w + 5]
    local cur = standings[a][c]
    local replace = true
    if cur then
      local sep = string.find(cur, "|", 1, true)
      local cur_rank, cur_state = string.sub(cur, 1, sep - 1), string.sub(cur, sep + 1)
      if rank < cur_rank then
        replace = false
      else
        count(b, cur_state, -1)
      end
    end
    if replace then
      count(b, state, 1)
      standings[a][c] = rank .. "|" .. state
      gather("HSET", a, c, c, rank .. "|" .. state)
    end
  elseif op == "INBOX" then
    -- a: the hash of inbox keys, b: review, c: state, then key and the two prefixes
    local key = ARGV[w + 4]
    local old = places[a][b]
    local old_state, old_key
    if old then
      local sep = string.find(old, "|", 1, true)
      old_state, old_key = string.sub(old, 1, sep - 1), string.sub(old, sep + 1)
    end
    if not old or old_key ~= key or old_state ~= c then
      for p = w + 5, w + 6 do
        local prefix = ARGV[p]
        if old then
          gather("ZREM", prefix .. ":" .. old_state, old_key)
        end
        gather("ZADD", prefix .. ":" .. c, key, "0", key)
      end
    end
    if old ~= c .. "|" .. key then
      places[a][b] = c .. "|" .. key
      gather("HSET", a, b, b, c .. "|" .. key)
    end
  elseif op == "UNSCHEDULE" then
    for _, id in ipairs(redis.call("SMEMBERS", c)) do
      redis.call("ZREM", a, id)
      redis.call("HDEL", b, id)
    end
    redis.call("DEL", c)
  elseif op == "EVENT" then
    -- Streams are never gathered: each event is its own entry, in ARGV's order.
    redis.call("XADD", a, "*", "e", b)
  elseif op == "PUB" then
    local list = entry(published, a)
    list[#list + 1] = b
  elseif op == "BUMP" then
    local v = math.max(tonumber(version_of[a] or "0") + 1, clock_us())
    version_of[a] = string.format("%.0f", v)
    set(a, version_of[a])
  end
end
for _, key in ipairs(keys) do
  flush(key)
end
flush_mset()
-- A message's summary: each state's count changed by what the commit moved, and dropped at 0.
for hash, by_state in pairs(counts) do
  for state, by in pairs(by_state) do
    if by ~= 0 and redis.call("HINCRBY", hash, state, by) <= 0 then
      redis.call("HDEL", hash, state)
    end
  end
end
for channel, list in pairs(published) do
  redis.call("PUBLISH", channel, table.concat(list, " "))
end
return "OK"
