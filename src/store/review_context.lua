-- charte: what a decision on one review reads, in one round trip. The review names its message
-- and its school, whose records the script then reads: no second trip for them.
--   ARGV[1] key prefix, ARGV[2] review id, ARGV[3] name of the message-wide audit chain
-- Returns { review, message, school, message chain records, school chain records } (false where
-- a record is absent; nothing more when the review is).
local p = ARGV[1]
local raw = redis.call("GET", p .. ":rev:" .. ARGV[2])
if not raw then
  return { false }
end
local review = cjson.decode(raw)
local message = redis.call("GET", p .. ":msg:" .. review.message_id) or false
local school = redis.call("GET", p .. ":school:" .. review.uai) or false
local chain = p .. ":audit:" .. review.message_id .. ":"
return {
  raw,
  message,
  school,
  redis.call("LRANGE", chain .. ARGV[3], 0, -1),
  redis.call("LRANGE", chain .. review.uai, 0, -1),
}
