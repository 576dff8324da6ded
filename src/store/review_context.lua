-- charte: what a decision on one review reads, in one round trip. The review names its message
-- and its school, whose records the script then reads: no second trip for them.
--   ARGV[1] key prefix, ARGV[2] review id, ARGV[3] name of the message-wide audit chain
-- Returns { review, message without its targets, school, message chain records, school chain
-- records } (false where a record is absent; nothing more when the review is).
local p = ARGV[1]
local raw = redis.call("GET", p .. ":rev:" .. ARGV[2])
if not raw then
  return { false }
end
-- The two fields it needs, found rather than decoding the whole record: inside a JSON string a
-- quote is escaped, so `"message_id":"` can only be the field itself.
local message_id = string.match(raw, '"message_id":"([^"]*)"')
local uai = string.match(raw, '"uai":"([^"]*)"')
if not message_id or not uai then
  return redis.error_reply("revue illisible : " .. ARGV[2])
end
local message = redis.call("GET", p .. ":msg:" .. message_id) or false
-- A decision never needs the message's targets (a thousand UAIs to send and decode): the list
-- is left empty. Its key can only be the field itself, for the same reason as above, and no UAI
-- holds a bracket.
if message then
  local _, open = string.find(message, '"targets":[', 1, true)
  local close = open and string.find(message, "]", open + 1, true)
  if close then
    message = string.sub(message, 1, open) .. string.sub(message, close)
  end
end
local school = redis.call("GET", p .. ":school:" .. uai) or false
local chain = p .. ":audit:" .. message_id .. ":"
return {
  raw,
  message,
  school,
  redis.call("LRANGE", chain .. ARGV[3], 0, -1),
  redis.call("LRANGE", chain .. uai, 0, -1),
}
