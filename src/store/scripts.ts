/**
 * Herald's Redis scripts. Every change to a status record is one of these scripts, so a change is
 * applied whole or not at all, and only by the holder of the record's current job token. The
 * TypeScript side computes what should change; the scripts only check the token and apply it.
 */
import type { Redis, ChainableCommander } from 'ioredis';

/**
 * Adds counters (field → amount) to the minute and hour statistics buckets, which expire on their
 * own, and to the running totals, which do not (see stats-counters.ts). Each script calls it once,
 * with the sums of its whole batch.
 */
const BUMP_STATS = `
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
`;

/**
 * Claims the ids of a batch of notifications. A first claim writes the status record; a later one
 * (same id, within retention, or twice in one batch) changes nothing and reports the status. The
 * accepted counter is bumped once for the batch. The record notes whether its recipient was in
 * the registry at acceptance (`recipientKnown`), so a delivery can tell a recipient deleted
 * meanwhile from one never registered.
 * KEYS: stats minute bucket, stats hour bucket, stats totals, then per notification: record,
 *   recipient, recipient's Web Push subscriptions
 * ARGV: now (ms), accepted field name, minute bucket TTL, hour bucket TTL, then per notification:
 *   notification JSON, status, expiresAt (ms), token, record TTL (s)
 * Returns one {1, status} (new) or {0, status} (duplicate) per notification.
 */
const CLAIM = `${BUMP_STATS}
local now = ARGV[1]
local results = {}
local accepted = 0
for n = 0, (#KEYS - 3) / 3 - 1 do
  local record = KEYS[4 + n * 3]
  local base = 5 + n * 5
  local existing = redis.call('HGET', record, 'status')
  if existing then
    results[#results + 1] = {0, existing}
  else
    local status = ARGV[base + 1]
    local known = redis.call('EXISTS', KEYS[5 + n * 3], KEYS[6 + n * 3]) > 0 and '1' or '0'
    redis.call('HSET', record, 'notification', ARGV[base], 'status', status, 'createdAt', now, 'updatedAt', now,
      'expiresAt', ARGV[base + 2], 'token', ARGV[base + 3], 'step', '0', 'replays', '0', 'recipientKnown', known)
    redis.call('EXPIRE', record, ARGV[base + 4])
    accepted = accepted + 1
    results[#results + 1] = {1, status}
  end
end
if accepted > 0 then bump(KEYS[1], KEYS[2], KEYS[3], {[ARGV[2]] = accepted}, ARGV[3], ARGV[4]) end
return results
`;

/**
 * Applies the transitions of a batch of notifications, each only if the caller holds that record's
 * current token; the statistics of the applied ones are summed and added once per batch to the
 * minute and hour buckets (which expire) and the running totals (which do not).
 * Every key it writes is bounded even when nobody reads it: a record's attempts list and
 * push-accepted set take the record's TTL when they are made (a change with `expire` sets all
 * three); the attempts list keeps its first `head` and newest entries, at most `kept`, and counts
 * the dropped ones in the record's `attemptsOmitted`; adding a dead letter prunes the index of
 * entries past the dead-letter retention and lets the index expire that long after its newest.
 * KEYS: stats minute bucket, stats hour bucket, stats totals, dead letters, then per notification:
 *   record, attempts list, push-accepted set, the recipient's Web Push subscriptions
 * ARGV: minute bucket TTL, hour bucket TTL, attempts kept, attempts kept from the head, then per
 *   notification: expected token, change JSON, id
 * The change JSON: {set?: {field: string}, attempts?: [json], accepted?: [subscriptionId],
 *   clearHistory?: bool, expire?: seconds, deadLetter?: "add"|"remove", deadLetterScore?: ms,
 *   deadLetterRetention?: seconds, removeSubscriptions?: [subscriptionId], stats?: {field: amount}}
 * Returns one result per notification: 1 applied, 0 stale token, -1 record gone.
 */
const TRANSITION = `${BUMP_STATS}
local function bound(key, record)
  if redis.call('PTTL', key) == -1 then
    local ttl = redis.call('PTTL', record)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
end

local kept, head = tonumber(ARGV[3]), tonumber(ARGV[4])
local results = {}
local stats = {}
local deadRetention = nil
for i = 0, (#KEYS - 4) / 4 - 1 do
  local record, attempts, pushed, subscriptions = KEYS[5 + i * 4], KEYS[6 + i * 4], KEYS[7 + i * 4], KEYS[8 + i * 4]
  local expected, id = ARGV[5 + i * 3], ARGV[7 + i * 3]
  local token = redis.call('HGET', record, 'token')
  if not token then
    results[i + 1] = -1
  elseif token ~= expected then
    results[i + 1] = 0
  else
    local change = cjson.decode(ARGV[6 + i * 3])
    if change.set then
      local args = {}
      for name, value in pairs(change.set) do
        args[#args + 1] = name
        args[#args + 1] = value
      end
      if #args > 0 then redis.call('HSET', record, unpack(args)) end
    end
    if change.clearHistory then redis.call('DEL', pushed) end
    if change.attempts and #change.attempts > 0 then
      local excess = redis.call('RPUSH', attempts, unpack(change.attempts)) - kept
      if excess > 0 then
        local newest = redis.call('LRANGE', attempts, head + excess, -1)
        redis.call('LTRIM', attempts, 0, head - 1)
        redis.call('RPUSH', attempts, unpack(newest))
        redis.call('HINCRBY', record, 'attemptsOmitted', excess)
      end
      if not change.expire then bound(attempts, record) end
    end
    if change.accepted and #change.accepted > 0 then
      redis.call('SADD', pushed, unpack(change.accepted))
      if not change.expire then bound(pushed, record) end
    end
    if change.expire then
      redis.call('EXPIRE', record, change.expire)
      redis.call('EXPIRE', attempts, change.expire)
      redis.call('EXPIRE', pushed, change.expire)
    end
    if change.removeSubscriptions then
      for _, subscription in ipairs(change.removeSubscriptions) do redis.call('HDEL', subscriptions, subscription) end
    end
    if change.deadLetter == 'add' then
      redis.call('ZADD', KEYS[4], change.deadLetterScore, id)
      deadRetention = change.deadLetterRetention or deadRetention
    elseif change.deadLetter == 'remove' then
      redis.call('ZREM', KEYS[4], id)
    end
    if change.stats then
      for field, amount in pairs(change.stats) do stats[field] = (stats[field] or 0) + amount end
    end
    results[i + 1] = 1
  end
end
if deadRetention then
  local newest = tonumber(redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')[2])
  local keepMs = deadRetention * 1000
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. string.format('%d', newest - keepMs))
  redis.call('PEXPIREAT', KEYS[4], string.format('%d', newest + keepMs))
end
bump(KEYS[1], KEYS[2], KEYS[3], stats, ARGV[1], ARGV[2])
return results
`;

/**
 * Reads what the delivery steps of a batch need in one command: per notification, the record
 * (only if the caller's token is current), the Web Push subscriptions that already accepted it,
 * and the recipient's addresses, subscriptions and presence.
 * KEYS: per notification: record, push-accepted set, recipient, recipient subscriptions, presence
 * ARGV: per notification: token
 * Returns one JSON text: per notification {} when the record is gone or the token is stale, else
 * [record fields, accepted ids, recipient fields, subscription fields, online (0|1)], the field
 * lists flat as HGETALL gives them. One string decodes far faster on the client than the same
 * values as nested RESP arrays (a job's fifty deliveries are over a thousand elements), and
 * cjson.encode is cheap for Redis. cjson writes an empty list as {}; the reader takes {} as empty.
 */
const LOAD = `
local results = {}
for i = 0, #ARGV - 1 do
  local k = i * 5
  local record = redis.call('HGETALL', KEYS[k + 1])
  local current = #record > 0
  for f = 1, #record, 2 do
    if record[f] == 'token' and record[f + 1] ~= ARGV[i + 1] then current = false end
  end
  if current then
    results[i + 1] = {
      record,
      redis.call('SMEMBERS', KEYS[k + 2]),
      redis.call('HGETALL', KEYS[k + 3]),
      redis.call('HGETALL', KEYS[k + 4]),
      redis.call('EXISTS', KEYS[k + 5]),
    }
  else
    results[i + 1] = {}
  end
end
return cjson.encode(results)
`;

/** What the load script returns for one notification, once decoded (see parseLoadReply). */
export type LoadReply = [record: string[], accepted: string[], recipient: string[], subscriptions: string[], online: number];

/**
 * Decodes the load script's JSON text: one entry per notification, null when its record is gone or
 * its token is stale. cjson encodes an empty Lua table as an object, so anything that is not a
 * list is read as an empty list.
 */
export function parseLoadReply(json: string): (LoadReply | null)[] {
  const entries = JSON.parse(json) as unknown;
  if (!Array.isArray(entries)) return [];
  return entries.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length === 0) return null;
    const [record, accepted, recipient, subscriptions, online] = entry as unknown[];
    return [list(record), list(accepted), list(recipient), list(subscriptions), online === 1 ? 1 : 0];
  });
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? (value as string[]) : [];
}

export interface ScriptCommands {
  heraldLoad(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string>;
  heraldClaim(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  heraldTransition(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
}

/** Registers the scripts on a connection; pipelines and transactions made from it inherit them. */
export function defineScripts(redis: Redis): void {
  if ('heraldClaim' in redis) return;
  // The number of keys varies with the batch size, so it is passed on each call.
  redis.defineCommand('heraldLoad', { lua: LOAD, readOnly: true });
  redis.defineCommand('heraldClaim', { lua: CLAIM });
  redis.defineCommand('heraldTransition', { lua: TRANSITION });
}

export function scripts(target: Redis | ChainableCommander): ScriptCommands {
  return target as unknown as ScriptCommands;
}
