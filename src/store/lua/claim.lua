-- claim.lua: claims the ids of a batch of notifications.
-- A first claim writes the status record (new-record.lua); a later one (same id, within retention,
-- or twice in one batch) changes nothing and reports the status. The accepted counter is bumped
-- once for the batch.
-- A new notification with a digest joins its recipient's and groupKey's open window: it is written
-- `merged` (mergedInto the holder) and counted ended, or, with no window open, it opens one.
-- A new notification with a recipient and a groupKey that is not merged (it is pending) joins its
-- group's index in the same script, so whatever cancelGroup can be asked about once notify has
-- answered is in the index.
-- Each new notification's event is emitted here (emit-event.lua): notification.accepted, or
-- notification.merged for one merged into an open window; a duplicate emits nothing.
--
-- KEYS: stats minute bucket, stats hour bucket, stats totals, event log, then per notification: record,
--   recipient, recipient's Web Push subscriptions, digest window, digest members (any key when
--   the notification has no digest), group index (any key when not grouped)
-- ARGV: now (ms), accepted field name, merged field name, merged status, minute bucket TTL (s),
--   hour bucket TTL (s), event log MAXLEN, then per notification: notification JSON, status,
--   expiresAt (ms), token, record TTL (s), digest member (the id when the notification has a
--   digest, else ''), group member (the id when the notification is grouped, else ''), id,
--   recipient user id ('' for none)
-- Returns: one {1, status} (new) or {0, status} (duplicate) per notification.
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the
-- loader from the TypeScript layout (CLAIM_LAYOUT in scripts.ts) and record.ts.

--!include bump-stats.lua
--!include new-record.lua
--!include digest-window.lua
--!include group-index.lua
--!include emit-event.lua

local now = ARGV[ARG_NOW]
local results = {}
local accepted, merged = 0, 0
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local record = KEYS[k + ITEM_KEY_RECORD]
  local existing = redis.call('HGET', record, RECORD.status)
  if existing then
    results[#results + 1] = {0, existing}
  else
    local status = ARGV[a + ITEM_ARG_STATUS]
    local member, holder = ARGV[a + ITEM_ARG_DIGEST_MEMBER], nil
    if member ~= '' then
      holder = joinDigest(KEYS[k + ITEM_KEY_DIGEST_WINDOW], KEYS[k + ITEM_KEY_DIGEST_MEMBERS], member, ARGV[a + ITEM_ARG_NOTIFICATION],
        ARGV[a + ITEM_ARG_EXPIRES_AT])
      if holder then status = ARGV[ARG_MERGED_STATUS] end
    end
    newRecord(record, ARGV[a + ITEM_ARG_NOTIFICATION], status, now, ARGV[a + ITEM_ARG_EXPIRES_AT], ARGV[a + ITEM_ARG_TOKEN],
      ARGV[a + ITEM_ARG_RECORD_TTL], KEYS[k + ITEM_KEY_RECIPIENT], KEYS[k + ITEM_KEY_SUBSCRIPTIONS])
    if holder then
      redis.call('HSET', record, RECORD.mergedInto, holder)
      merged = merged + 1
    end
    local grouped = ARGV[a + ITEM_ARG_GROUP_MEMBER]
    if grouped ~= '' and not holder then joinGroup(KEYS[k + ITEM_KEY_GROUP], grouped, ARGV[a + ITEM_ARG_EXPIRES_AT], now) end
    newEvent(holder and 'notification.merged' or 'notification.accepted', now, ARGV[a + ITEM_ARG_ID], ARGV[a + ITEM_ARG_TO], status)
    accepted = accepted + 1
    results[#results + 1] = {1, status}
  end
end
if accepted > 0 then
  local counts = {[ARGV[ARG_ACCEPTED_FIELD]] = accepted}
  if merged > 0 then counts[ARGV[ARG_MERGED_FIELD]] = merged end
  bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], counts, ARGV[ARG_MINUTE_TTL], ARGV[ARG_HOUR_TTL])
end
return results
