-- fan-out-page.lua: one page of a topic notification's fan-out, applied whole or not at all.
-- Only the holder of the topic notification's current token acts: the job of this page, and only
-- while no cancel has stopped the fan-out (canceledAt, cancel-topic.lua, which also changes the
-- token, so a page computed before the cancel commits nothing after it). The page
-- writes every member's own notification (a child: a new status record, as claim.lua writes it,
-- that also names its parent), then a new token, the one the next page's job carries, and the
-- cursor (the page's last member). Its children's first delivery jobs and the next page's job are
-- queued in the same MULTI. A page run twice (a worker killed after the commit but before the job
-- was marked done, or a second job for the same id) finds another token and changes nothing, and
-- the jobs queued beside it carry tokens no record holds, so they are dropped when they run: every
-- member gets exactly one notification of its own, and none is skipped.
-- A child whose id already has a record (it can only be one that outlived an earlier topic
-- notification of the same id, in the dead-letter queue) is adopted as it is, in its own status.
-- A new child with a groupKey (the topic notification's) joins its member's group index, as the
-- claim script does, so cancelGroup reaches it; if its member's notifications of that groupKey were
-- canceled by group after the topic notification was accepted (the member's group-canceled time,
-- written by cancelGroup while such a fan-out is unfinished), it is written `canceled` instead, and
-- its first delivery job finds it ended. The last page takes the topic notification out of its
-- groupKey's unfinished fan-outs. Each new child emits notification.accepted, or
-- notification.canceled when written canceled (emit-event.lua); an adopted one emits nothing.
--
-- KEYS: the topic notification's record, the unfinished fan-outs of its groupKey (any key without
--   one), stats minute bucket, stats hour bucket, stats totals, event log, then per member: the
--   child's record, the member's recipient hash, the member's subscriptions, the member's group
--   index and its group-canceled time (any keys when the child has no groupKey)
-- ARGV: the topic notification's id, token of the page's job, next token, next cursor, last page
--   (1|0), now (ms), the children's status, their expiresAt (ms), their record TTL (s), accepted
--   field name, fanned-out field name, canceled field name, the canceled status, minute bucket TTL
--   (s), hour bucket TTL (s), event log MAXLEN, then per member: the child's notification JSON, the
--   token of its first delivery job, its group member (the child's id when it has a groupKey, else
--   ''), the child's id, the member's user id
-- Returns: {1, children written} when applied; {0, 0} when the token is not the record's (stale) or
--   the topic notification is canceled.
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the
-- loader from the TypeScript layout (FAN_OUT_PAGE_LAYOUT in scripts.ts) and record.ts.

--!include bump-stats.lua
--!include new-record.lua
--!include topic-recipients.lua
--!include group-index.lua
--!include emit-event.lua

local parent = KEYS[KEY_PARENT]
local guard = redis.call('HMGET', parent, RECORD.token, RECORD.canceledAt, RECORD.createdAt)
if guard[1] ~= ARGV[ARG_TOKEN] or guard[2] then return {0, 0} end
local parentCreatedAt = tonumber(guard[3])
local now, status, canceledStatus = ARGV[ARG_NOW], ARGV[ARG_STATUS], ARGV[ARG_CANCELED_STATUS]
local created, canceled = 0, 0
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record = KEYS[k + ITEM_KEY_RECORD]
  local existing = redis.call('HGET', record, RECORD.status)
  if existing then
    redis.call('HSET', record, RECORD.parent, parent)
    moveRecipient(parent, status, existing, now)
  else
    local grouped = ARGV[a + ITEM_ARG_GROUP_MEMBER]
    local groupCanceledAt = grouped ~= '' and tonumber(redis.call('GET', KEYS[k + ITEM_KEY_GROUP_CANCELED]) or '')
    local first = status
    if groupCanceledAt and groupCanceledAt >= parentCreatedAt then first = canceledStatus end
    newRecord(record, ARGV[a + ITEM_ARG_NOTIFICATION], first, now, ARGV[ARG_EXPIRES_AT], ARGV[a + ITEM_ARG_TOKEN], ARGV[ARG_RECORD_TTL],
      KEYS[k + ITEM_KEY_RECIPIENT], KEYS[k + ITEM_KEY_SUBSCRIPTIONS], RECORD.parent, parent)
    if first == canceledStatus then
      moveRecipient(parent, status, first, now)
      canceled = canceled + 1
      newEvent('notification.canceled', now, ARGV[a + ITEM_ARG_ID], ARGV[a + ITEM_ARG_TO], first)
    else
      if grouped ~= '' then joinGroup(KEYS[k + ITEM_KEY_GROUP], grouped, ARGV[ARG_EXPIRES_AT], now) end
      newEvent('notification.accepted', now, ARGV[a + ITEM_ARG_ID], ARGV[a + ITEM_ARG_TO], status)
    end
    created = created + 1
  end
end
redis.call('HSET', parent, RECORD.token, ARGV[ARG_NEXT_TOKEN], RECORD.fanOutCursor, ARGV[ARG_NEXT_CURSOR])
if ARGV[ARG_LAST_PAGE] == '1' then
  redis.call('ZREM', KEYS[KEY_FAN_OUTS], ARGV[ARG_ID])
  fanOutDone(parent, now)
end
if created > 0 then
  local counts = {[ARGV[ARG_ACCEPTED_FIELD]] = created, [ARGV[ARG_FANNED_OUT_FIELD]] = created}
  if canceled > 0 then counts[ARGV[ARG_CANCELED_FIELD]] = canceled end
  bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], counts, ARGV[ARG_MINUTE_TTL], ARGV[ARG_HOUR_TTL])
end
return {1, created}
