-- bump-stats.lua: bump(minuteKey, hourKey, totalKey, fields, minuteTtl, hourTtl)
-- Adds counters (field -> amount) to the minute and hour statistics buckets, which expire on their
-- own, and to the running totals, which do not (see stats-counters.ts). A script calls it once,
-- with the sums of its whole batch, so a batch costs three HINCRBY per counter however many
-- notifications it holds.
local function bump(minuteKey, hourKey, totalKey, fields, minuteTtl, hourTtl)
  if next(fields) == nil then return end
  for field, amount in pairs(fields) do
    redis.call('HINCRBY', minuteKey, field, amount)
    redis.call('HINCRBY', hourKey, field, amount)
    redis.call('HINCRBY', totalKey, field, amount)
  end
  redis.call('EXPIRE', minuteKey, minuteTtl)
  redis.call('EXPIRE', hourKey, hourTtl)
end
