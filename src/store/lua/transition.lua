-- transition.lua: applies the transitions of a batch of notifications.
-- Each applies only if the caller holds that record's current token; the statistics of the applied
-- ones are summed and added once per batch to the minute and hour buckets (which expire) and the
-- running totals (which do not).
-- Every key it writes is bounded even when nobody reads it: a record's attempts list and
-- push-accepted set take the record's TTL when they are made (a change with `expire` sets all
-- three); the attempts list keeps its first `head` and newest entries, at most `kept`, and counts
-- the dropped ones in the record's attemptsOmitted; adding a dead letter prunes the index of
-- entries past the dead-letter retention and lets the index expire that long after its newest.
-- A change of status of a topic notification's recipient (a record that names its parent) is
-- counted in the parent, and may change the parent's status (topic-recipients.lua).
-- The events of an applied change are emitted here (emit-event.lua), listed by the caller
-- (store/transition-events.ts), which says the order of the Event's fields the script writes; each
-- is emitted unless its condition does not hold: `ended` (the
-- status changes: a Web Push retry of a delivered notification does not end it again),
-- `subscription` (that subscription was still the recipient's and is now removed), `address` (the
-- address was still the recipient's and is now removed).
--
-- KEYS: stats minute bucket, stats hour bucket, stats totals, dead letters, event log, then per notification:
--   record, the recipient's addresses (the record's attempts list and push-accepted set and the
--   recipient's Web Push subscriptions are those keys with the suffixes of SUFFIX, keys.ts)
-- ARGV: event log MAXLEN, the events' time (ISO 8601), the changes: one JSON list, an entry per
--   notification in the order of KEYS (one argument for the batch: a client encodes each argument
--   apart, see TRANSITION_LAYOUT)
--   An entry: {token: the expected token, id, to: recipient user id ('' for none), eventHead: the
--   Event fields naming it (eventHead in transition-events.ts),
--   set?: {field: string}, attempts?: [json], accepted?: [subscriptionId],
--   clearHistory?: bool, expire?: seconds, deadLetter?: "add"|"remove", deadLetterScore?: ms,
--   deadLetterRetention?: seconds, removeSubscriptions?: [subscriptionId],
--   removeAddress?: {field, value}, stats?: {field: amount},
--   leaveGroup?: true (it ended), joinGroup?: {groupKey, expiresAt: ms, now: ms} (it is pending
--   again), group?: the key of that group's index;
--   events?: [{type, channel?, attempt? (the position in `attempts` of the attempt the event
--   carries), ended?, subscription?, address?}]
-- Returns: one result per notification: 1 applied, 0 stale token, -1 record gone.
--
-- The slot names (KEY_*, ITEM_KEY_*, ARG_*, ITEM_ARG_*), ITEMS, RECORD and SUFFIX are defined by
-- the loader from the TypeScript layout (TRANSITION_LAYOUT in scripts.ts), record.ts and keys.ts;
-- so are the constants the layout fixes: MINUTE_TTL and HOUR_TTL (the statistics buckets' TTLs,
-- in s), ATTEMPTS_KEPT and ATTEMPTS_KEPT_HEAD (the bounds of a record's attempts list).

--!include bump-stats.lua
--!include topic-recipients.lua
--!include group-index.lua
--!include emit-event.lua

-- Redis's clock in ms, for a status change that does not say when it happened.
local function clockMs()
  local time = redis.call('TIME')
  return string.format('%d', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
end

-- Gives `key` the record's remaining lifetime if it has none of its own.
local function bound(key, record)
  if redis.call('PTTL', key) == -1 then
    local ttl = redis.call('PTTL', record)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
end

-- An event's JSON, its fields in the order transition-events.ts gives.
local eventAt = ARGV[ARG_EVENT_AT]
local function eventJson(event, head, status, attempts)
  return '{"type":"' .. event.type .. '","at":"' .. eventAt .. '",' .. head .. (event.channel and (',"channel":"' .. event.channel .. '"') or '')
    .. (status and (',"status":"' .. status .. '"') or '') .. (event.attempt and (',"attempt":' .. attempts[event.attempt]) or '') .. '}'
end

local deadLetters = KEYS[KEY_DEAD_LETTERS]
local kept, head = ATTEMPTS_KEPT, ATTEMPTS_KEPT_HEAD
local changes = cjson.decode(ARGV[ARG_CHANGES])
local results = {}
local stats = {}
local deadRetention = nil
for n = 0, ITEMS - 1 do
  local k = KEYS_FIXED + n * KEYS_PER_ITEM
  local record = KEYS[k + ITEM_KEY_RECORD]
  local change = changes[n + 1]
  local attempts, pushed = record .. SUFFIX.attempts, record .. SUFFIX.pushed
  local current = redis.call('HMGET', record, RECORD.token, RECORD.status, RECORD.parent)
  local token, parent = current[1], current[3]
  if not token then
    results[n + 1] = -1
  elseif token ~= change.token then
    results[n + 1] = 0
  else
    if change.set then
      local args = {}
      for name, value in pairs(change.set) do
        args[#args + 1] = name
        args[#args + 1] = value
      end
      if #args > 0 then redis.call('HSET', record, unpack(args)) end
    end
    if change.clearHistory then redis.call('DEL', pushed) end
    if change.attempts and #change.attempts > 0 then
      local excess = redis.call('RPUSH', attempts, unpack(change.attempts)) - kept
      if excess > 0 then
        local newest = redis.call('LRANGE', attempts, head + excess, -1)
        redis.call('LTRIM', attempts, 0, head - 1)
        redis.call('RPUSH', attempts, unpack(newest))
        redis.call('HINCRBY', record, RECORD.attemptsOmitted, excess)
      end
      if not change.expire then bound(attempts, record) end
    end
    if change.accepted and #change.accepted > 0 then
      redis.call('SADD', pushed, unpack(change.accepted))
      if not change.expire then bound(pushed, record) end
    end
    if change.expire then
      redis.call('EXPIRE', record, change.expire)
      redis.call('EXPIRE', attempts, change.expire)
      redis.call('EXPIRE', pushed, change.expire)
    end
    if parent then
      if change.set and change.set.status then moveRecipient(parent, current[2], change.set.status, change.set.updatedAt or clockMs()) end
      if change.expire then outliveParent(parent, {record, attempts, pushed}) end
    end
    local removed, addressRemoved = {}, false
    if change.removeSubscriptions then
      local subscriptions = KEYS[k + ITEM_KEY_RECIPIENT] .. SUFFIX.subscriptions
      for _, subscription in ipairs(change.removeSubscriptions) do removed[subscription] = redis.call('HDEL', subscriptions, subscription) == 1 end
    end
    if change.removeAddress then
      -- Only the address that was sent to: one the recipient registered since is kept.
      local recipient, address = KEYS[k + ITEM_KEY_RECIPIENT], change.removeAddress
      if redis.call('HGET', recipient, address.field) == address.value then
        redis.call('HDEL', recipient, address.field)
        addressRemoved = true
      end
    end
    if change.events then
      local status = change.set and change.set.status
      local ended = status and status ~= current[2]
      local head, to = change.eventHead, change.to
      for _, event in ipairs(change.events) do
        if (not event.ended or ended) and (not event.subscription or removed[event.subscription]) and (not event.address or addressRemoved) then
          emitEvent(event.type, to, eventJson(event, head, status, change.attempts))
        end
      end
    end
    if change.deadLetter == 'add' then
      redis.call('ZADD', deadLetters, change.deadLetterScore, change.id)
      deadRetention = change.deadLetterRetention or deadRetention
    elseif change.deadLetter == 'remove' then
      redis.call('ZREM', deadLetters, change.id)
    end
    if change.leaveGroup then
      redis.call('ZREM', change.group, change.id)
    elseif change.joinGroup then
      joinGroup(change.group, change.id, change.joinGroup.expiresAt, change.joinGroup.now)
    end
    if change.stats then
      for field, amount in pairs(change.stats) do stats[field] = (stats[field] or 0) + amount end
    end
    results[n + 1] = 1
  end
end
if deadRetention then
  local newest = tonumber(redis.call('ZRANGE', deadLetters, -1, -1, 'WITHSCORES')[2])
  local keepMs = deadRetention * 1000
  redis.call('ZREMRANGEBYSCORE', deadLetters, '-inf', '(' .. string.format('%d', newest - keepMs))
  redis.call('PEXPIREAT', deadLetters, string.format('%d', newest + keepMs))
end
bump(KEYS[KEY_STATS_MINUTE], KEYS[KEY_STATS_HOUR], KEYS[KEY_STATS_TOTALS], stats, MINUTE_TTL, HOUR_TTL)
return results
