-- remove-address.lua: deletes an address of a recipient that a provider said is gone (a webhook
-- URL answered 410), but only while the recipient still has the value that was sent to, so an
-- address registered since is kept. The transition script does the same in the shard of the
-- notification that found it gone; with several shards this removes it from the other shards'
-- copies of the recipient.
--
-- KEYS: per recipient: the recipient hash
-- ARGV: per recipient: the address's field, the value that was sent to
-- Returns: one 1 (deleted) or 0 (already gone, or another value now) per recipient.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*) and ITEMS are defined by the loader from the TypeScript
-- layout (REMOVE_ADDRESS_LAYOUT in scripts.ts).

local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local recipient, field = KEYS[k + ITEM_KEY_RECIPIENT], ARGV[a + ITEM_ARG_FIELD]
  results[n + 1] = redis.call('HGET', recipient, field) == ARGV[a + ITEM_ARG_VALUE] and redis.call('HDEL', recipient, field) or 0
end
return results
