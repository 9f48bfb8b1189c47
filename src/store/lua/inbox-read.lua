-- inbox-read.lua: marks items of one inbox read and tells which notifications still wait on them.
-- An unread item becomes read (its mark holds the time), and the ids newly read are announced on
-- the inbox's channel in one message. Whether newly read or read before, an item whose
-- notification is still pending (an escalation waiting on the read) gets `inboxReadAt` on its
-- record: a delivery step that loads the record then ends it `delivered` rather than send on,
-- whoever ends it first (see delivery/decide.ts), so a read is never lost between this script and
-- the one that ends the notification at once. Only the record the item came from: one created
-- well after the item is another notification that reused the id (ids are unique only within the
-- status retention, which an inbox may outlive), and is left alone. "Well after" allows a minute
-- of skew between the API's clock (the record) and a worker's (the item): an id can be reused only
-- once its record expired, at least the minimum status retention (60 s) after its ttl, by which
-- time the inbox had long stored its item.
--
-- Each item newly read emits inbox.read (emit-event.lua), in this same step.
--
-- KEYS: the inbox's items hash, order sorted set, unread sorted set, read marks hash, event log,
--   then per item: the record of its notification
-- ARGV: now (ms), now as ISO 8601, the inbox's pub/sub channel, the inbox's user id, event log
--   MAXLEN, then per item: id
-- Returns: one {newly read (0|1), pending (0|1)} per item; {-1, 0} for an id not in the inbox.
--
-- The slot names (KEY_*, ARG_*, ITEM_KEY_*, ITEM_ARG_*), ITEMS, RECORD and ENDED_STATUSES are
-- defined by the loader from the TypeScript layout (INBOX_READ_LAYOUT in scripts.ts) and record.ts.

--!include emit-event.lua

local skewMs = 60000
local ended = {}
for _, status in ipairs(ENDED_STATUSES) do ended[status] = true end
local items, order, unread, reads = KEYS[KEY_ITEMS], KEYS[KEY_ORDER], KEYS[KEY_UNREAD], KEYS[KEY_READS]
local now = ARGV[ARG_NOW]
local results, newly = {}, {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local id, record = ARGV[a + ITEM_ARG_ID], KEYS[k + ITEM_KEY_RECORD]
  if redis.call('HEXISTS', items, id) == 0 then
    results[n + 1] = {-1, 0}
  else
    local fresh = redis.call('ZREM', unread, id)
    if fresh == 1 then
      redis.call('HSET', reads, id, now)
      newly[#newly + 1] = id
      local to = ARGV[ARG_TO]
      emitEvent('inbox.read', to, cjson.encode({type = 'inbox.read', at = ARGV[ARG_NOW_ISO], notificationId = id, to = to, channel = 'inbox'}))
    end
    local fields = redis.call('HMGET', record, RECORD.status, RECORD.createdAt)
    local status, createdAt = fields[1], tonumber(fields[2])
    local stored = tonumber(redis.call('ZSCORE', order, id))
    local pending = (status and not ended[status] and createdAt and stored and createdAt <= stored + skewMs) and 1 or 0
    if pending == 1 then redis.call('HSET', record, RECORD.inboxReadAt, now) end
    results[n + 1] = {fresh, pending}
  end
end
if #newly > 0 then
  -- The read marks live as long as the items they mark.
  local ttl = redis.call('PTTL', items)
  if ttl > 0 then redis.call('PEXPIRE', reads, ttl) end
  redis.call('PUBLISH', ARGV[ARG_CHANNEL], cjson.encode({event = 'read', data = {ids = newly, readAt = ARGV[ARG_NOW_ISO]}}))
end
return results
