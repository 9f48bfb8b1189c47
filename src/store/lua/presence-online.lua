-- presence-online.lua: marks devices of users online, each until its own end; a device's latest
-- call sets its end and its context (none when the call gives none). Other devices keep theirs: a
-- short TTL from one device never shortens another's.
--
-- KEYS: per user: online flag, devices (sorted set), contexts (hash)
-- ARGV: per user: device, TTL (ms), context ('' for none)
-- Returns: the number of users written.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*) and ITEMS are defined by the loader from the TypeScript
-- layout (PRESENCE_ONLINE_LAYOUT in scripts.ts).

--!include presence.lua

local now = presenceNow()
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local flag, devices, contexts = KEYS[k + ITEM_KEY_ONLINE], KEYS[k + ITEM_KEY_DEVICES], KEYS[k + ITEM_KEY_CONTEXTS]
  local device, context = ARGV[a + ITEM_ARG_DEVICE], ARGV[a + ITEM_ARG_CONTEXT]
  presenceAdopt(flag, devices, now)
  presencePrune(devices, contexts, now)
  redis.call('ZADD', devices, string.format('%d', now + tonumber(ARGV[a + ITEM_ARG_TTL_MS])), device)
  if context ~= '' then
    redis.call('HSET', contexts, device, context)
  else
    redis.call('HDEL', contexts, device)
  end
  presenceRefresh(flag, devices, contexts)
end
return ITEMS
