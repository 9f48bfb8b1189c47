-- cancel.lua: cancels a batch of notifications.
-- A pending notification (its status is in the pending list) ends `canceled` under a new token:
-- every job queued for it (its first delivery, a retry, the next channel) holds the old token, so
-- it is stale when it runs and sends nothing, and a worker sending it at this moment commits under
-- a token the record no longer holds, so that transition is dropped. Whichever runs first in Redis,
-- this script or a worker's transition, wins; the record is never both canceled and delivered.
-- An ended notification is left as it is and reported with its status. Either way it leaves its
-- group's index. The canceled ones are counted once per batch, like the transition script's ends.
-- A canceled digest holder closes its window (digest-window.lua), so a later notification of its
-- recipient and groupKey opens a new one rather than merge into a notification that will not be
-- sent; the ones merged before stay `merged` into it. A canceled recipient of a topic notification
-- is counted in its parent (topic-recipients.lua), as the transition script counts its other moves.
-- Each canceled notification emits notification.canceled (emit-event.lua).
--
-- KEYS: stats minute bucket, stats hour bucket, stats totals, event log, then per notification: record,
--   attempts list, push-accepted set, group index, digest window, digest members (the last three
--   those of its recipient and groupKey; any never-written key when it has none)
-- ARGV: now (ms), minute bucket TTL (s), hour bucket TTL (s), the canceled counter's field name,
--   the canceled status, the record TTL once canceled (s), the pending statuses (comma separated),
--   event log MAXLEN, then per notification: id, the createdAt (ms) the caller read ('' to accept
--   any), new token, recipient user id ('' for none)
-- Returns: one {result, status} per notification: {1, 'canceled'} canceled, {0, status} already
--   ended, {-1, ''} no record, {-2, status} the record is not the one the caller read (another
--   notification took the id since: the caller reads it again).
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the
-- loader from the TypeScript layout (CANCEL_LAYOUT in scripts.ts) and record.ts.

--!include bump-stats.lua
--!include topic-recipients.lua
--!include digest-window.lua
--!include emit-event.lua

local pending = {}
for status in string.gmatch(ARGV[ARG_PENDING_STATUSES], '[^,]+') do pending[status] = true end
local now, ttl, canceledStatus = ARGV[ARG_NOW], ARGV[ARG_RECORD_TTL], ARGV[ARG_CANCELED_STATUS]
local results = {}
local canceled = 0
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record, group, id = KEYS[k + ITEM_KEY_RECORD], KEYS[k + ITEM_KEY_GROUP], ARGV[a + ITEM_ARG_ID]
  local fields = redis.call('HMGET', record, RECORD.status, RECORD.createdAt, RECORD.parent)
  local status, createdAt, parent, expected = fields[1], fields[2], fields[3], ARGV[a + ITEM_ARG_CREATED_AT]
  if not status then
    redis.call('ZREM', group, id)
    results[n + 1] = {-1, ''}
  elseif expected ~= '' and createdAt ~= expected then
    results[n + 1] = {-2, status}
  elseif not pending[status] then
    redis.call('ZREM', group, id)
    results[n + 1] = {0, status}
  else
    local attempts, pushed = KEYS[k + ITEM_KEY_ATTEMPTS], KEYS[k + ITEM_KEY_PUSHED]
    redis.call('HSET', record, RECORD.status, canceledStatus, RECORD.token, ARGV[a + ITEM_ARG_TOKEN], RECORD.updatedAt, now)
    redis.call('EXPIRE', record, ttl)
    redis.call('EXPIRE', attempts, ttl)
    redis.call('EXPIRE', pushed, ttl)
    redis.call('ZREM', group, id)
    closeDigest(record, KEYS[k + ITEM_KEY_DIGEST_WINDOW], KEYS[k + ITEM_KEY_DIGEST_MEMBERS], id)
    if parent then
      moveRecipient(parent, status, canceledStatus, now)
      outliveParent(parent, {record, attempts, pushed})
    end
    newEvent('notification.canceled', now, id, ARGV[a + ITEM_ARG_TO], canceledStatus)
    canceled = canceled + 1
    results[n + 1] = {1, canceledStatus}
  end
end
if canceled > 0 then
  bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], {[ARGV[ARG_CANCELED_FIELD]] = canceled},
    ARGV[ARG_MINUTE_TTL], ARGV[ARG_HOUR_TTL])
end
return results
