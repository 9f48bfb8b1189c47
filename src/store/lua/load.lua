-- load.lua: reads what the delivery steps of a batch need, in one command.
-- Per notification: the record (only if the caller's token is current), the Web Push
-- subscriptions that already accepted it, and the recipient's addresses, subscriptions and presence.
-- One JSON text is returned rather than nested RESP arrays: one string decodes far faster on the
-- client than the same values as nested arrays (a job's fifty deliveries are over a thousand
-- elements), and cjson.encode is cheap for Redis.
--
-- KEYS: per notification: record, push-accepted set, recipient, recipient subscriptions, presence
-- ARGV: per notification: token
-- Returns: one JSON text: per notification {} when the record is gone or the token is stale, else
--   [record fields, accepted ids, recipient fields, subscription fields, online (0|1)], the field
--   lists flat as HGETALL gives them. cjson writes an empty list as {}; the reader (parseLoadReply
--   in scripts.ts) takes {} as empty.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*), ITEMS and RECORD are defined by the loader from the
-- TypeScript layout (LOAD_LAYOUT in scripts.ts) and record.ts.

local tokenField = RECORD.token
local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record = redis.call('HGETALL', KEYS[k + ITEM_KEY_RECORD])
  local current = #record > 0
  for f = 1, #record, 2 do
    if record[f] == tokenField and record[f + 1] ~= ARGV[a + ITEM_ARG_TOKEN] then current = false end
  end
  if current then
    results[n + 1] = {
      record,
      redis.call('SMEMBERS', KEYS[k + ITEM_KEY_PUSHED]),
      redis.call('HGETALL', KEYS[k + ITEM_KEY_RECIPIENT]),
      redis.call('HGETALL', KEYS[k + ITEM_KEY_SUBSCRIPTIONS]),
      redis.call('EXISTS', KEYS[k + ITEM_KEY_PRESENCE]),
    }
  else
    results[n + 1] = {}
  end
end
return cjson.encode(results)
