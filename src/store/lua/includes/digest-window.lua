-- digest-window.lua: joinDigest and closeDigest, the two changes of a digest window.
-- A window (a hash: holder, expiresAt, latest) and its member list belong to one recipient and
-- groupKey (store/keys.ts). The claim script joins new notifications to it; the holder's first
-- delivery closes it. Both run inside a script, so a notification is either merged before the
-- close (and the close hands it to the holder) or finds no window after it and opens a new one:
-- never both, never neither. Nothing here reads the clock: the window is open until its holder
-- closes it (normally when its job comes due at the window's end), or until the holder expires,
-- when the keys expire with it.

-- Merges notification `id` into the open window and returns the holder's id; with no window open,
-- opens one held by `id` (until `expiresAt`, ms) and returns nil.
local function joinDigest(window, members, id, notification, expiresAt)
  local open = redis.call('HMGET', window, 'holder', 'expiresAt')
  if open[1] then
    redis.call('RPUSH', members, id)
    redis.call('PEXPIREAT', members, open[2])
    redis.call('HSET', window, 'latest', notification)
    return open[1]
  end
  redis.call('HSET', window, 'holder', id, 'expiresAt', expiresAt)
  redis.call('PEXPIREAT', window, expiresAt)
  return nil
end

-- If `id` holds the window, moves what it gathered into the holder's record (fields digest and
-- digestLatest) and deletes the window, so the next notification opens a new one. Returns 1 when
-- it closed the window, 0 when `id` does not hold it (closed before, or never a holder).
local function closeDigest(record, window, members, id)
  if redis.call('HGET', window, 'holder') ~= id then return 0 end
  if redis.call('EXISTS', record) == 1 then
    local ids = redis.call('LRANGE', members, 0, -1)
    redis.call('HSET', record, RECORD.digest, #ids > 0 and cjson.encode(ids) or '[]')
    local latest = redis.call('HGET', window, 'latest')
    if latest then redis.call('HSET', record, RECORD.digestLatest, latest) end
  end
  redis.call('DEL', window, members)
  return 1
end
