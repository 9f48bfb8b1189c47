-- check.lua: tells, for each delivery of a batch, whether it still holds its record's token.
-- A worker asks just before it sends a delivery that had to wait for a slot after it was loaded:
-- anything that gave the notification a new token meanwhile (a cancel above all) makes the
-- delivery stale, and it sends nothing. Read only: it changes nothing.
--
-- KEYS: per delivery: record
-- ARGV: per delivery: token
-- Returns: one 1 (the token is current) or 0 (stale, or the record is gone) per delivery.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*), ITEMS and RECORD are defined by the loader from the
-- TypeScript layout (CHECK_LAYOUT in scripts.ts) and record.ts.

local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  results[n + 1] = redis.call('HGET', KEYS[k + ITEM_KEY_RECORD], RECORD.token) == ARGV[a + ITEM_ARG_TOKEN] and 1 or 0
end
return results
