-- claim.lua: claims the ids of a batch of notifications.
-- A first claim writes the status record; a later one (same id, within retention, or twice in one
-- batch) changes nothing and reports the status. The accepted counter is bumped once for the
-- batch. The record notes whether its recipient was in the registry at acceptance
-- (recipientKnown), so a delivery can tell a recipient deleted meanwhile from one never registered.
-- A new notification with a recipient and a groupKey joins its group's index in the same script,
-- so whatever cancelGroup can be asked about once notify has answered is in the index.
--
-- KEYS: stats minute bucket, stats hour bucket, stats totals, then per notification: record,
--   recipient, recipient's Web Push subscriptions, group index (any key when not grouped)
-- ARGV: now (ms), accepted field name, minute bucket TTL (s), hour bucket TTL (s), then per
--   notification: notification JSON, status, expiresAt (ms), token, record TTL (s), group member
--   (the id when the notification is grouped, else '')
-- Returns: one {1, status} (new) or {0, status} (duplicate) per notification.
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the
-- loader from the TypeScript layout (CLAIM_LAYOUT in scripts.ts) and record.ts.

--!include bump-stats.lua
--!include group-index.lua

local now = ARGV[ARG_NOW]
local results = {}
local accepted = 0
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record = KEYS[k + ITEM_KEY_RECORD]
  local existing = redis.call('HGET', record, RECORD.status)
  if existing then
    results[#results + 1] = {0, existing}
  else
    local status = ARGV[a + ITEM_ARG_STATUS]
    local known = redis.call('EXISTS', KEYS[k + ITEM_KEY_RECIPIENT], KEYS[k + ITEM_KEY_SUBSCRIPTIONS]) > 0 and '1' or '0'
    redis.call('HSET', record, RECORD.notification, ARGV[a + ITEM_ARG_NOTIFICATION], RECORD.status, status,
      RECORD.createdAt, now, RECORD.updatedAt, now, RECORD.expiresAt, ARGV[a + ITEM_ARG_EXPIRES_AT],
      RECORD.token, ARGV[a + ITEM_ARG_TOKEN], RECORD.step, '0', RECORD.replays, '0', RECORD.recipientKnown, known)
    redis.call('EXPIRE', record, ARGV[a + ITEM_ARG_RECORD_TTL])
    local member = ARGV[a + ITEM_ARG_GROUP_MEMBER]
    if member ~= '' then joinGroup(KEYS[k + ITEM_KEY_GROUP], member, ARGV[a + ITEM_ARG_EXPIRES_AT], now) end
    accepted = accepted + 1
    results[#results + 1] = {1, status}
  end
end
if accepted > 0 then
  bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], {[ARGV[ARG_ACCEPTED_FIELD]] = accepted},
    ARGV[ARG_MINUTE_TTL], ARGV[ARG_HOUR_TTL])
end
return results
