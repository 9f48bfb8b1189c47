-- topic-recipients.lua: how a topic notification (the parent) follows its recipients' own
-- notifications (its children).
-- The parent's record counts its children by status, in the fields `recipients:<status>`
-- (recipientCountField in record.ts), and how many have ended, in recipientsEnded. At acceptance
-- every recipient counts in the parent's first status (queued or scheduled), so one the fan-out
-- has not reached yet is counted there too, and afterwards a child only moves from one count to
-- another. The parent's own status follows from the counts:
--   queued / scheduled  until a child is tried or ends;
--   delivering          from then until every child has ended (and again while a child that had
--                       ended is replayed from the dead-letter queue);
--   then                delivered if any child was delivered, else the end status most children
--                       share (on a tie, the first in ENDED_STATUSES); skipped when it had none;
--   canceled            once the parent itself is canceled (cancel-topic.lua): from its canceledAt
--                       on, its status no longer follows the counts, which still move.
-- A child names its parent's record key in its own record (RECORD.parent); the parent is not among
-- the caller's KEYS, but shares the prefix, hence the hash slot, of every Herald key. A parent
-- that has already expired is left alone. A parent that ends emits its event (emit-event.lua), so
-- every script that includes this fragment has the event log's slots.

--!include emit-event.lua

local isEnded = {}
for _, ended in ipairs(ENDED_STATUSES) do isEnded[ended] = true end

local function recipientCount(status)
  return RECORD.recipients .. ':' .. status
end

-- The status a parent ends in, from its children's counts.
local function parentEndStatus(parent)
  local fields = {}
  for i, status in ipairs(ENDED_STATUSES) do fields[i] = recipientCount(status) end
  local counts = redis.call('HMGET', parent, unpack(fields))
  local chosen, most = 'skipped', 0
  for i, status in ipairs(ENDED_STATUSES) do
    local count = tonumber(counts[i] or '0')
    if status == 'delivered' and count > 0 then return status end
    if count > most then chosen, most = status, count end
  end
  return chosen
end

-- Sets the parent's status from its counts (state: its status, recipients, recipientsEnded,
-- canceledAt); `moved` is the status a child has just taken, nil when none has. A parent being
-- canceled keeps its status: the cancel sets it.
local function followRecipients(parent, state, ended, moved, at)
  if state[4] then return end
  local current, status = state[1], nil
  if ended >= tonumber(state[2]) then
    status = parentEndStatus(parent)
  elseif isEnded[current] or (moved and moved ~= 'queued' and moved ~= 'scheduled') then
    status = 'delivering'
  end
  if status and status ~= current then
    redis.call('HSET', parent, RECORD.status, status, RECORD.updatedAt, at)
    if isEnded[status] then
      -- The parent's id is read from its notification only here, once per topic notification.
      local notification = redis.call('HGET', parent, RECORD.notification)
      if notification then newEvent('notification.' .. status, at, cjson.decode(notification).id, '', status) end
    end
  end
end

local function parentState(parent)
  return redis.call('HMGET', parent, RECORD.status, RECORD.recipients, RECORD.recipientsEnded, RECORD.canceledAt)
end

-- A child of `parent` has moved from status `from` to status `to` at `at` (ms).
local function moveRecipient(parent, from, to, at)
  if from == to then return end
  local state = parentState(parent)
  if not state[1] or not state[2] then return end
  redis.call('HINCRBY', parent, recipientCount(from), -1)
  redis.call('HINCRBY', parent, recipientCount(to), 1)
  local ended = tonumber(state[3] or '0')
  local step = (isEnded[to] and 1 or 0) - (isEnded[from] and 1 or 0)
  if step ~= 0 then
    ended = ended + step
    redis.call('HSET', parent, RECORD.recipientsEnded, ended)
  end
  followRecipients(parent, state, ended, to, at)
end

-- The fan-out has reached the parent's last member: a parent without recipients ends now.
local function fanOutDone(parent, at)
  local state = parentState(parent)
  if state[1] and state[2] then followRecipients(parent, state, tonumber(state[3] or '0'), nil, at) end
end

-- A child's record, attempts and push-accepted set live at least as long as its parent's record,
-- so that the parent's recipient list can show every child's status for as long as it is kept.
local function outliveParent(parent, keys)
  local ttl = redis.call('PTTL', parent)
  if ttl <= 0 then return end
  for _, key in ipairs(keys) do
    local own = redis.call('PTTL', key)
    if own > 0 and own < ttl then redis.call('PEXPIRE', key, ttl) end
  end
end
