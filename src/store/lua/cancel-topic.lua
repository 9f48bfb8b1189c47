-- cancel-topic.lua: one of the two steps of canceling topic notifications (parents).
-- Step `stop` stops a parent's fan-out and freezes its status: it writes a new token, so the job of
-- the next fan-out page (and a page being computed right now, whose script checks the token when it
-- commits) is stale and writes no child any more, and it sets canceledAt, after which no child's
-- move changes the parent's status (topic-recipients.lua) while its counts still follow them. The
-- recipients the fan-out had not reached (after fanOutCursor) will never have a notification: they
-- move, once, from the parent's first status to `canceled` in its counts, and count as ended; the
-- parent leaves its groupKey's unfinished fan-outs (accept-topic.lua). The
-- caller then cancels the children already written (cancel.lua, a page at a time), and step `end`
-- sets the parent's status `canceled` and emits its notification.canceled (emit-event.lua). A
-- caller that dies between the two finds the parent still
-- pending when it tries again, and `stop` then changes nothing but the token.
-- Topic notifications are not counted in the notification statistics, so neither is this cancel;
-- the children it cancels are, by cancel.lua.
--
-- KEYS: the event log, then per parent: its record, its recipient list, the unfinished fan-outs of
--   its groupKey (any key without one)
-- ARGV: step ('stop'|'end'), now (ms), the pending statuses (comma separated), the canceled status,
--   event log MAXLEN, then per parent: its id, the createdAt (ms) the caller read, new token, its first status
--   (queued|scheduled)
-- Returns: per parent: {1, status before the step, fanOutCursor} applied; {0, status, ''} already
--   ended; {-1, '', ''} no record; {-2, status, ''} the record is not the one the caller read
--   (another notification took the id since: the caller reads it again).
--
-- The slot names (ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS and RECORD are defined by the loader from
-- the TypeScript layout (CANCEL_TOPIC_LAYOUT in scripts.ts) and record.ts.

--!include topic-recipients.lua
--!include emit-event.lua

local pending = {}
for name in string.gmatch(ARGV[ARG_PENDING_STATUSES], '[^,]+') do pending[name] = true end
local now, canceled, stop = ARGV[ARG_NOW], ARGV[ARG_CANCELED_STATUS], ARGV[ARG_STEP] == 'stop'
local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local parent = KEYS[k + ITEM_KEY_PARENT]
  local fields = redis.call('HMGET', parent, RECORD.status, RECORD.createdAt, RECORD.canceledAt, RECORD.fanOutCursor)
  local status, createdAt, canceledAt, cursor = fields[1], fields[2], fields[3], fields[4] or ''
  if not status then
    results[n + 1] = {-1, '', ''}
  elseif createdAt ~= ARGV[a + ITEM_ARG_CREATED_AT] then
    results[n + 1] = {-2, status, ''}
  elseif not pending[status] then
    results[n + 1] = {0, status, ''}
  elseif not stop then
    redis.call('HSET', parent, RECORD.status, canceled, RECORD.updatedAt, now)
    newEvent('notification.canceled', now, ARGV[a + ITEM_ARG_ID], '', canceled)
    results[n + 1] = {1, status, cursor}
  else
    redis.call('HSET', parent, RECORD.token, ARGV[a + ITEM_ARG_TOKEN], RECORD.updatedAt, now)
    redis.call('ZREM', KEYS[k + ITEM_KEY_FAN_OUTS], ARGV[a + ITEM_ARG_ID])
    if not canceledAt then
      redis.call('HSET', parent, RECORD.canceledAt, now)
      local unreached = redis.call('ZLEXCOUNT', KEYS[k + ITEM_KEY_RECIPIENTS], cursor == '' and '-' or '(' .. cursor, '+')
      if unreached > 0 then
        redis.call('HINCRBY', parent, recipientCount(ARGV[a + ITEM_ARG_FIRST_STATUS]), -unreached)
        redis.call('HINCRBY', parent, recipientCount(canceled), unreached)
        redis.call('HINCRBY', parent, RECORD.recipientsEnded, unreached)
      end
    end
    results[n + 1] = {1, status, cursor}
  end
end
return results
