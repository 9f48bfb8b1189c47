-- group-index.lua: joinGroup(index, id, expiresAt, now)
-- Adds a pending notification to its group's index (a sorted set scored by expiresAt, in ms).
-- Entries leave when their notification ends; those whose notification's lifetime has passed are
-- dropped on every join, and the index expires with its newest entry, so it stays bounded even
-- if nothing ever reads it.
local function joinGroup(index, id, expiresAt, now)
  redis.call('ZADD', index, expiresAt, id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. now)
  redis.call('PEXPIREAT', index, redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')[2])
end
