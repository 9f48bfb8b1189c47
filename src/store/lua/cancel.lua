-- cancel.lua: cancels a batch of notifications.
-- A pending notification (its status is in the pending list) ends `canceled` under a new token:
-- every job queued for it (its first delivery, a retry, the next channel) holds the old token, so
-- it is stale when it runs and sends nothing, and a worker sending it at this moment commits under
-- a token the record no longer holds, so that transition is dropped. Whichever runs first in Redis,
-- this script or a worker's transition, wins; the record is never both canceled and delivered.
-- An ended notification is left as it is and reported with its status. Either way it leaves its
-- group's index. The canceled ones are counted once per batch, like the transition script's ends.
--
-- KEYS: stats minute bucket, stats hour bucket, stats totals, then per notification: record,
--   attempts list, push-accepted set, group index (any key when not grouped)
-- ARGV: now (ms), minute bucket TTL (s), hour bucket TTL (s), the canceled counter's field name,
--   the canceled status, the record TTL once canceled (s), the pending statuses (comma separated),
--   then per notification: id, the createdAt (ms) the caller read ('' to accept any), new token
-- Returns: one {result, status} per notification: {1, 'canceled'} canceled, {0, status} already
--   ended, {-1, ''} no record, {-2, status} the record is not the one the caller read (another
--   notification took the id since: the caller reads it again).
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the
-- loader from the TypeScript layout (CANCEL_LAYOUT in scripts.ts) and record.ts.

--!include bump-stats.lua

local pending = {}
for status in string.gmatch(ARGV[ARG_PENDING_STATUSES], '[^,]+') do pending[status] = true end
local now, ttl, canceledStatus = ARGV[ARG_NOW], ARGV[ARG_RECORD_TTL], ARGV[ARG_CANCELED_STATUS]
local results = {}
local canceled = 0
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record, group, id = KEYS[k + ITEM_KEY_RECORD], KEYS[k + ITEM_KEY_GROUP], ARGV[a + ITEM_ARG_ID]
  local fields = redis.call('HMGET', record, RECORD.status, RECORD.createdAt)
  local status, createdAt, expected = fields[1], fields[2], ARGV[a + ITEM_ARG_CREATED_AT]
  if not status then
    redis.call('ZREM', group, id)
    results[n + 1] = {-1, ''}
  elseif expected ~= '' and createdAt ~= expected then
    results[n + 1] = {-2, status}
  elseif not pending[status] then
    redis.call('ZREM', group, id)
    results[n + 1] = {0, status}
  else
    redis.call('HSET', record, RECORD.status, canceledStatus, RECORD.token, ARGV[a + ITEM_ARG_TOKEN], RECORD.updatedAt, now)
    redis.call('EXPIRE', record, ttl)
    redis.call('EXPIRE', KEYS[k + ITEM_KEY_ATTEMPTS], ttl)
    redis.call('EXPIRE', KEYS[k + ITEM_KEY_PUSHED], ttl)
    redis.call('ZREM', group, id)
    canceled = canceled + 1
    results[n + 1] = {1, canceledStatus}
  end
end
if canceled > 0 then
  bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], {[ARGV[ARG_CANCELED_FIELD]] = canceled},
    ARGV[ARG_MINUTE_TTL], ARGV[ARG_HOUR_TTL])
end
return results
