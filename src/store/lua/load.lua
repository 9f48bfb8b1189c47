-- load.lua: reads what the delivery steps of a batch need, in one command.
-- Per notification: the record (only if the caller's token is current), the Web Push
-- subscriptions that already accepted it, and the recipient's addresses (with its preferences),
-- subscriptions and presence: online or not, and the contexts of its devices' live presences
-- (read only for a recipient that is online, so an absent one costs nothing more).
-- One JSON text is returned rather than nested RESP arrays: one string decodes far faster on the
-- client than the same values as nested arrays (a job's fifty deliveries are over a thousand
-- elements), and cjson.encode is cheap for Redis.
--
-- KEYS: per notification: record, recipient (the empty user's key, ending in ':r:', for a
--   notification without one: nothing of a recipient is read then); the push-accepted set, the recipient's subscriptions and its presence
--   flag, devices and contexts are those keys with the suffixes of SUFFIX (keys.ts)
-- ARGV: per notification: token
-- Returns: one JSON text: per notification {} when the record is gone or the token is stale, else
--   [record, accepted ids, recipient, subscription fields, online (0|1), contexts]: the record's and
--   the recipient's hashes as JSON objects (field: value), which the worker decodes straight into
--   the objects it reads, without a list of field names to allocate and pair up for every
--   delivery; the subscriptions flat as HGETALL gives them, in their order. cjson writes an empty
--   list as {}; the reader (parseLoadReply in scripts.ts) takes {} as empty.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*), ITEMS, RECORD and SUFFIX are defined by the loader from
-- the TypeScript layout (LOAD_LAYOUT in scripts.ts), record.ts and keys.ts.

--!include presence.lua

-- The contexts of the live presences of a user's devices (judged by this server's clock, as the
-- presence scripts write them).
local function liveContexts(devices, contexts, now)
  local live = redis.call('ZRANGEBYSCORE', devices, '(' .. string.format('%d', now), '+inf')
  local found = {}
  if #live > 0 then
    for _, context in ipairs(redis.call('HMGET', contexts, unpack(live))) do
      if context then found[#found + 1] = context end
    end
  end
  return found
end

-- A flat HGETALL reply as a table of field → value, which cjson writes as a JSON object.
local function hashTable(flat)
  local hash = {}
  for f = 1, #flat, 2 do hash[flat[f]] = flat[f + 1] end
  return hash
end

local tokenField = RECORD.token
local now = nil
local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  local flat = redis.call('HGETALL', KEYS[k + ITEM_KEY_RECORD])
  local record = hashTable(flat)
  local current = #flat > 0 and record[tokenField] == ARGV[a + ITEM_ARG_TOKEN]
  if current then
    local recipient = KEYS[k + ITEM_KEY_RECIPIENT]
    local online, contexts, fields, subscriptions = 0, {}, {}, {}
    -- A user's key is the prefix, ':r:' and the user id, never empty: only the empty user's ends so.
    if string.sub(recipient, -3) ~= ':r:' then
      online = redis.call('EXISTS', recipient .. SUFFIX.presence)
      if online == 1 then
        now = now or presenceNow()
        contexts = liveContexts(recipient .. SUFFIX.presenceDevices, recipient .. SUFFIX.presenceContexts, now)
      end
      fields = hashTable(redis.call('HGETALL', recipient))
      subscriptions = redis.call('HGETALL', recipient .. SUFFIX.subscriptions)
    end
    results[n + 1] = {
      record,
      redis.call('SMEMBERS', KEYS[k + ITEM_KEY_RECORD] .. SUFFIX.pushed),
      fields,
      subscriptions,
      online,
      contexts,
    }
  else
    results[n + 1] = {}
  end
end
return cjson.encode(results)
