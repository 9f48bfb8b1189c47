-- presence-offline.lua: ends the presence of one device of each user, or of all its devices. The
-- user stays online while another device's presence lives.
--
-- KEYS: per user: online flag, devices (sorted set), contexts (hash)
-- ARGV: per user: device ('' for every device)
-- Returns: the number of users written.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*) and ITEMS are defined by the loader from the TypeScript
-- layout (PRESENCE_OFFLINE_LAYOUT in scripts.ts).

--!include presence.lua

local now = presenceNow()
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local flag, devices, contexts = KEYS[k + ITEM_KEY_ONLINE], KEYS[k + ITEM_KEY_DEVICES], KEYS[k + ITEM_KEY_CONTEXTS]
  local device = ARGV[a + ITEM_ARG_DEVICE]
  if device == '' then
    redis.call('DEL', flag, devices, contexts)
  else
    presenceAdopt(flag, devices, now)
    presencePrune(devices, contexts, now)
    redis.call('ZREM', devices, device)
    redis.call('HDEL', contexts, device)
    presenceRefresh(flag, devices, contexts)
  end
end
return ITEMS
