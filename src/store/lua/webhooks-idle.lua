-- webhooks-idle.lua: while no event webhook endpoint is registered, moves the webhook dispatchers'
-- consumer group forward to a given entry of the event log, without anyone reading the entries. An
-- endpoint receives only the events written after its registration, so nothing written while
-- there is none is ever wanted. The dispatcher reads the log's newest id, then finds no endpoint,
-- then calls this with that id (webhook-dispatcher.ts says why in that order). The group only
-- ever moves forward: entries a dispatcher read but did not acknowledge stay pending.
--
-- KEYS: the event log (keys.events())
-- ARGV: the dispatchers' consumer group, the entry id to move it to
-- Returns: 1 when the group moved, 0 when it was already there or past it (or does not exist).
--
-- The slot names (KEY_*, ARG_*) are defined by the loader from the TypeScript layout
-- (WEBHOOKS_IDLE_LAYOUT in scripts.ts).

local upTo = ARGV[ARG_UP_TO]

-- Stream ids compared as (ms, sequence).
local function before(a, b)
  local aMs, aSeq = string.match(a, '^(%d+)-(%d+)$')
  local bMs, bSeq = string.match(b, '^(%d+)-(%d+)$')
  aMs, aSeq, bMs, bSeq = tonumber(aMs), tonumber(aSeq), tonumber(bMs), tonumber(bSeq)
  return aMs < bMs or (aMs == bMs and aSeq < bSeq)
end

for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[KEY_EVENTS])) do
  local name, last
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then last = group[i + 1] end
  end
  if name == ARGV[ARG_GROUP] then
    if before(last, upTo) then
      redis.call('XGROUP', 'SETID', KEYS[KEY_EVENTS], ARGV[ARG_GROUP], upTo)
      return 1
    end
    return 0
  end
end
return 0
