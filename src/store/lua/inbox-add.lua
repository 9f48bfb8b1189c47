-- inbox-add.lua: stores inbox items, each in its recipient's inbox, and announces each new one.
-- An item's id is its notification's id: an id already in the inbox changes nothing (a delivery
-- run again after a crash stores no second item). Past the cap, the oldest items are dropped with
-- their read marks. Every key of the inbox expires the retention after its newest item, so an
-- inbox nobody writes to any more goes away by itself.
--
-- KEYS: per item: the inbox's items hash, order sorted set, unread sorted set, read marks hash
-- ARGV: items kept per inbox, retention (s), then per item: id, item JSON, createdAt (ms), the
--   pub/sub channel of the inbox, the message to publish on it
-- Returns: one 1 (stored) or 0 (already there) per item.
--
-- The slot names (ARG_*, ITEM_KEY_*, ITEM_ARG_*) and ITEMS are defined by the loader from the
-- TypeScript layout (INBOX_ADD_LAYOUT in scripts.ts).

-- ZREM/HDEL take their members as arguments: dropped in slices well under Lua's stack limit.
local sliceSize = 500
local function dropOldest(items, order, unread, reads, count)
  local old = redis.call('ZRANGE', order, 0, count - 1)
  for i = 1, #old, sliceSize do
    local slice = {unpack(old, i, math.min(i + sliceSize - 1, #old))}
    redis.call('ZREM', order, unpack(slice))
    redis.call('ZREM', unread, unpack(slice))
    redis.call('HDEL', items, unpack(slice))
    redis.call('HDEL', reads, unpack(slice))
  end
end

local maxItems, ttl = tonumber(ARGV[ARG_MAX_ITEMS]), ARGV[ARG_RETENTION_SECONDS]
local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local items, order, unread, reads = KEYS[k + ITEM_KEY_ITEMS], KEYS[k + ITEM_KEY_ORDER], KEYS[k + ITEM_KEY_UNREAD], KEYS[k + ITEM_KEY_READS]
  local id = ARGV[a + ITEM_ARG_ID]
  if redis.call('HSETNX', items, id, ARGV[a + ITEM_ARG_ITEM]) == 1 then
    local createdAt = ARGV[a + ITEM_ARG_CREATED_AT]
    redis.call('ZADD', order, createdAt, id)
    redis.call('ZADD', unread, createdAt, id)
    local over = redis.call('ZCARD', order) - maxItems
    if over > 0 then dropOldest(items, order, unread, reads, over) end
    for _, key in ipairs({items, order, unread, reads}) do redis.call('EXPIRE', key, ttl) end
    redis.call('PUBLISH', ARGV[a + ITEM_ARG_CHANNEL], ARGV[a + ITEM_ARG_MESSAGE])
    results[n + 1] = 1
  else
    results[n + 1] = 0
  end
end
return results
