/**
 * Herald's Redis scripts. Every change to a status record is one of these scripts, so a change is
 * applied whole or not at all, and only by the holder of the record's current job token. The
 * TypeScript side computes what should change; the scripts only check the token and apply it.
 */
import type { Redis, ChainableCommander } from 'ioredis';

/**
 * Adds counters to the minute and hour statistics buckets, which expire on their own, and to the
 * running totals, which do not (see stats/counters.ts).
 */
const BUMP_STATS = `
local function bump(minuteKey, hourKey, totalKey, stats)
  if not stats or not stats.fields then return end
  for field, amount in pairs(stats.fields) do
    redis.call('HINCRBY', minuteKey, field, amount)
    redis.call('HINCRBY', hourKey, field, amount)
    redis.call('HINCRBY', totalKey, field, amount)
  end
  redis.call('EXPIRE', minuteKey, stats.minuteTtl)
  redis.call('EXPIRE', hourKey, stats.hourTtl)
end
`;

/**
 * Claims the ids of a batch of notifications. A first claim writes the status record; a later one
 * (same id, within retention, or twice in one batch) changes nothing and reports the status. The
 * accepted counter is bumped once for the batch.
 * KEYS: stats minute bucket, stats hour bucket, stats totals, then one record key per notification
 * ARGV: now (ms), accepted field name, minute bucket TTL, hour bucket TTL, then per notification:
 *   notification JSON, status, expiresAt (ms), token, record TTL (s)
 * Returns one {1, status} (new) or {0, status} (duplicate) per notification.
 */
const CLAIM = `
local now = ARGV[1]
local results = {}
local accepted = 0
for i = 4, #KEYS do
  local base = 5 + (i - 4) * 5
  local existing = redis.call('HGET', KEYS[i], 'status')
  if existing then
    results[#results + 1] = {0, existing}
  else
    local status = ARGV[base + 1]
    redis.call('HSET', KEYS[i], 'notification', ARGV[base], 'status', status, 'createdAt', now, 'updatedAt', now,
      'expiresAt', ARGV[base + 2], 'token', ARGV[base + 3], 'step', '0', 'replays', '0')
    redis.call('EXPIRE', KEYS[i], ARGV[base + 4])
    accepted = accepted + 1
    results[#results + 1] = {1, status}
  end
end
if accepted > 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[2], accepted)
  redis.call('HINCRBY', KEYS[2], ARGV[2], accepted)
  redis.call('HINCRBY', KEYS[3], ARGV[2], accepted)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return results
`;

/**
 * Applies a transition to a status record if the caller holds its current token.
 * KEYS: record, attempts list, push-accepted set, stats minute bucket, stats hour bucket, dead letters,
 *   the recipient's Web Push subscriptions, stats totals
 * ARGV: expected token, change JSON, notification id
 * The change JSON: {set?: {field: string}, attempts?: [json], accepted?: [subscriptionId],
 *   clearHistory?: bool, expire?: seconds, deadLetter?: "add"|"remove", deadLetterScore?: ms,
 *   removeSubscriptions?: [subscriptionId], stats?}
 * Returns 1 when applied, 0 when the token is stale, -1 when the record is gone.
 */
const TRANSITION = `${BUMP_STATS}
local token = redis.call('HGET', KEYS[1], 'token')
if not token then return -1 end
if token ~= ARGV[1] then return 0 end
local change = cjson.decode(ARGV[2])
if change.set then
  local args = {}
  for name, value in pairs(change.set) do
    args[#args + 1] = name
    args[#args + 1] = value
  end
  if #args > 0 then redis.call('HSET', KEYS[1], unpack(args)) end
end
if change.clearHistory then redis.call('DEL', KEYS[3]) end
if change.attempts then
  for _, attempt in ipairs(change.attempts) do redis.call('RPUSH', KEYS[2], attempt) end
end
if change.accepted then
  for _, id in ipairs(change.accepted) do redis.call('SADD', KEYS[3], id) end
end
if change.expire then
  redis.call('EXPIRE', KEYS[1], change.expire)
  redis.call('EXPIRE', KEYS[2], change.expire)
  redis.call('EXPIRE', KEYS[3], change.expire)
end
if change.removeSubscriptions then
  for _, id in ipairs(change.removeSubscriptions) do redis.call('HDEL', KEYS[7], id) end
end
if change.deadLetter == 'add' then
  redis.call('ZADD', KEYS[6], change.deadLetterScore, ARGV[3])
elseif change.deadLetter == 'remove' then
  redis.call('ZREM', KEYS[6], ARGV[3])
end
bump(KEYS[4], KEYS[5], KEYS[8], change.stats)
return 1
`;

/**
 * Reads what a delivery step needs in one command: the record (only if the caller's token is
 * current), the Web Push subscriptions that already accepted it, and the recipient's addresses,
 * subscriptions and presence.
 * KEYS: record, push-accepted set, recipient, recipient subscriptions, presence
 * ARGV: token
 * Returns {} when the record is gone or the token is stale, else
 * {record fields, accepted ids, recipient fields, subscription fields, online (0|1)}.
 */
const LOAD = `
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return {} end
for i = 1, #record, 2 do
  if record[i] == 'token' and record[i + 1] ~= ARGV[1] then return {} end
end
return {
  record,
  redis.call('SMEMBERS', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[4]),
  redis.call('EXISTS', KEYS[5]),
}
`;

export interface ScriptCommands {
  heraldLoad(record: string, pushAccepted: string, recipient: string, subscriptions: string, presence: string, token: string): Promise<[string[], string[], string[], string[], number] | []>;
  heraldClaim(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  heraldTransition(
    record: string,
    attempts: string,
    pushAccepted: string,
    statsMinute: string,
    statsHour: string,
    deadLetters: string,
    subscriptions: string,
    statsTotals: string,
    token: string,
    change: string,
    id: string,
  ): unknown;
}

/** Registers the scripts on a connection; pipelines and transactions made from it inherit them. */
export function defineScripts(redis: Redis): void {
  if ('heraldClaim' in redis) return;
  redis.defineCommand('heraldLoad', { numberOfKeys: 5, lua: LOAD, readOnly: true });
  // The number of keys varies with the batch size, so it is passed on each call.
  redis.defineCommand('heraldClaim', { lua: CLAIM });
  redis.defineCommand('heraldTransition', { numberOfKeys: 8, lua: TRANSITION });
}

export function scripts(target: Redis | ChainableCommander): ScriptCommands {
  return target as unknown as ScriptCommands;
}
