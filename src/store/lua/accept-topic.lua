-- accept-topic.lua: accepts a batch of topic notifications.
-- For each new id it writes the topic notification's status record (the parent) and copies the
-- topic's members as they are at this instant, less the excluded, into the parent's recipient list:
-- the snapshot the fan-out pages through and the recipients listing reads, so that members who
-- join or leave later change nothing for it. Every recipient counts in the parent's first status
-- until its own notification moves (topic-recipients.lua). The copy is the only work here that
-- grows with the topic: the recipients' notifications are written by the workers, a page at a time
-- (fan-out-page.lua), under the token written here. An id that already has a record is a
-- duplicate: nothing changes, and its answer carries the recipients counted when it was accepted.
-- The recipient list expires with the record. One with a groupKey joins the unfinished fan-outs of
-- that groupKey (group-index.lua) until its last page, so that a cancel by group made meanwhile
-- knows a recipient's notification may still be written (fan-out-page.lua). A new topic
-- notification emits notification.accepted (emit-event.lua), without `to`.
--
-- KEYS: stats minute bucket, stats hour bucket, stats totals, event log, then per notification: record,
--   the topic's members, the recipient list, the unfinished fan-outs of its groupKey (any key without one)
-- ARGV: now (ms), topic-accepted field name, minute bucket TTL (s), hour bucket TTL (s), event log
--   MAXLEN, then per notification: notification JSON, status, expiresAt (ms), token of its first
--   fan-out page job, record TTL (s), excluded user ids (JSON list), id, its id when it has a
--   groupKey (else '')
-- Returns: one {1, status, recipients} (new) or {0, status, recipients} (duplicate) per notification.
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the
-- loader from the TypeScript layout (ACCEPT_TOPIC_LAYOUT in scripts.ts) and record.ts.

--!include bump-stats.lua
--!include topic-recipients.lua
--!include emit-event.lua
--!include group-index.lua

local now = ARGV[ARG_NOW]
local results = {}
local accepted = 0
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record, recipients = KEYS[k + ITEM_KEY_RECORD], KEYS[k + ITEM_KEY_RECIPIENTS]
  local existing = redis.call('HMGET', record, RECORD.status, RECORD.recipients)
  if existing[1] then
    results[#results + 1] = {0, existing[1], tonumber(existing[2] or '0')}
  else
    local status, ttl = ARGV[a + ITEM_ARG_STATUS], ARGV[a + ITEM_ARG_RECORD_TTL]
    -- A list left by an earlier notification of this id would outlive its record only by moments.
    redis.call('DEL', recipients)
    redis.call('ZUNIONSTORE', recipients, 1, KEYS[k + ITEM_KEY_MEMBERS])
    local excluded = cjson.decode(ARGV[a + ITEM_ARG_EXCLUDE])
    if #excluded > 0 then redis.call('ZREM', recipients, unpack(excluded)) end
    local total = redis.call('ZCARD', recipients)
    if total > 0 then redis.call('EXPIRE', recipients, ttl) end
    redis.call('HSET', record, RECORD.notification, ARGV[a + ITEM_ARG_NOTIFICATION], RECORD.status, status, RECORD.createdAt, now,
      RECORD.updatedAt, now, RECORD.expiresAt, ARGV[a + ITEM_ARG_EXPIRES_AT], RECORD.token, ARGV[a + ITEM_ARG_TOKEN], RECORD.step, '0',
      RECORD.replays, '0', RECORD.recipients, total, RECORD.recipientsEnded, 0, RECORD.fanOutCursor, '', recipientCount(status), total)
    redis.call('EXPIRE', record, ttl)
    newEvent('notification.accepted', now, ARGV[a + ITEM_ARG_ID], '', status)
    local grouped = ARGV[a + ITEM_ARG_FAN_OUT_MEMBER]
    if grouped ~= '' then joinGroup(KEYS[k + ITEM_KEY_FAN_OUTS], grouped, ARGV[a + ITEM_ARG_EXPIRES_AT], now) end
    accepted = accepted + 1
    results[#results + 1] = {1, status, total}
  end
end
if accepted > 0 then
  bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], {[ARGV[ARG_TOPIC_ACCEPTED_FIELD]] = accepted},
    ARGV[ARG_MINUTE_TTL], ARGV[ARG_HOUR_TTL])
end
return results
