-- webhooks-idle.lua: while no event webhook endpoint is registered, moves the webhook dispatchers'
-- consumer group past the event log's newest entry, without anyone reading the entries. An
-- endpoint receives only the events written after its registration, so nothing written while
-- there is none is ever wanted; checking for endpoints and moving the group in one script means an
-- endpoint registered a moment later finds the group before every event written after it. The
-- group only ever moves forward: entries a dispatcher read but did not acknowledge stay pending.
--
-- KEYS: the endpoints hash (keys.webhooks()), the event log (keys.events())
-- ARGV: the dispatchers' consumer group
-- Returns: 1 when there is no endpoint (the group is at the log's end), 0 when there is one
--   (nothing changed: the dispatcher reads the log).
--
-- The slot names (KEY_*, ARG_*) are defined by the loader from the TypeScript layout
-- (WEBHOOKS_IDLE_LAYOUT in scripts.ts).

if redis.call('HLEN', KEYS[KEY_WEBHOOKS]) > 0 then return 0 end
local newest = redis.call('XREVRANGE', KEYS[KEY_EVENTS], '+', '-', 'COUNT', 1)
if #newest == 0 then return 1 end
local newestId = newest[1][1]

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
    if before(last, newestId) then redis.call('XGROUP', 'SETID', KEYS[KEY_EVENTS], ARGV[ARG_GROUP], newestId) end
    return 1
  end
end
return 1
