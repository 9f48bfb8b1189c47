-- presence.lua: a user's presence per device (keys.ts): a sorted set of devices scored by when each
-- one's presence ends (ms, by this server's clock, the one that expires keys), a hash of each
-- device's latest context, and the flag key that exists while any device is online (what
-- `skipIfOnline` reads, and all that a release without devices wrote, with the value '1').
--   presenceNow()                                   this server's time in ms
--   presenceAdopt(flag, devices, now)               a flag written without devices becomes the device `default`
--   presencePrune(devices, contexts, now)           forgets devices whose presence ended
--   presenceRefresh(flag, devices, contexts)        every key lives as long as the longest-lived device

local function presenceNow()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- A presence written by a release without devices keeps what is left of its TTL, as the device
-- `default`, so that writing or ending another device never cuts it short.
local function presenceAdopt(flag, devices, now)
  if redis.call('GET', flag) == '1' then
    local left = redis.call('PTTL', flag)
    if left > 0 then redis.call('ZADD', devices, string.format('%d', now + left), 'default') end
  end
end

local function presencePrune(devices, contexts, now)
  local ended = redis.call('ZRANGEBYSCORE', devices, '-inf', string.format('%d', now))
  if #ended > 0 then
    redis.call('ZREM', devices, unpack(ended))
    redis.call('HDEL', contexts, unpack(ended))
  end
end

local function presenceRefresh(flag, devices, contexts)
  local longest = redis.call('ZRANGE', devices, -1, -1, 'WITHSCORES')
  if #longest == 0 then
    redis.call('DEL', flag, devices, contexts)
    return
  end
  local ends = string.format('%d', tonumber(longest[2]))
  redis.call('SET', flag, 'devices', 'PXAT', ends)
  redis.call('PEXPIREAT', devices, ends)
  redis.call('PEXPIREAT', contexts, ends)
end
