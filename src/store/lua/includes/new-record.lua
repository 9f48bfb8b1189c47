-- new-record.lua: newRecord(record, notification, status, now, expiresAt, token, ttl, recipient, subscriptions, ...)
-- Writes the status record of a notification just accepted (the caller has checked that its id has
-- none) with its first status and job token, and gives it its TTL. The record notes whether its
-- recipient was in the registry at acceptance (recipientKnown), so a delivery can tell a recipient
-- deleted meanwhile from one never registered. Further field/value pairs may follow (`...`).
local function newRecord(record, notification, status, now, expiresAt, token, ttl, recipient, subscriptions, ...)
  local known = redis.call('EXISTS', recipient, subscriptions) > 0 and '1' or '0'
  redis.call('HSET', record, RECORD.notification, notification, RECORD.status, status, RECORD.createdAt, now, RECORD.updatedAt, now,
    RECORD.expiresAt, expiresAt, RECORD.token, token, RECORD.step, '0', RECORD.replays, '0', RECORD.recipientKnown, known, ...)
  redis.call('EXPIRE', record, ttl)
end
