/**
 * The worker registry: each worker runtime beats every HEARTBEAT_INTERVAL_MS into a sorted set of
 * worker ids scored by the time of the beat, and a hash per worker with its channels. The stats
 * API lists the workers whose last beat is within HEARTBEAT_TTL_SECONDS; one that died without
 * saying goodbye drops out of the list after that long, and out of the set on the next read.
 */
import type { RedisClient } from '../redis/client.js';
import { isChannelName, type ChannelName } from '../types.js';
import { execResult, execResults } from '../redis/failures.js';
import type { Keys } from './keys.js';

export const HEARTBEAT_INTERVAL_MS = 5000;
/** A worker whose heartbeat is older than this is no longer listed as alive. */
export const HEARTBEAT_TTL_SECONDS = 30;

export interface LiveWorker {
  id: string;
  channels: ChannelName[];
  /** ISO 8601 time of the last heartbeat. */
  lastSeen: string;
  /** The shards it serves (HERALD_SHARDS, `herald worker --shards`); `[0]` for a worker of a release without shards. */
  shards: number[];
}

export async function beat(
  redis: RedisClient,
  keys: Keys,
  workerId: string,
  channels: readonly ChannelName[],
  shards: readonly number[] = [0],
  now: number = Date.now(),
): Promise<void> {
  const replies = await redis
    .multi()
    .zadd(keys.workers(), now, workerId)
    .hset(keys.worker(workerId), { channels: JSON.stringify(channels), shards: JSON.stringify(shards), lastSeen: String(now), pid: String(process.pid) })
    .expire(keys.worker(workerId), HEARTBEAT_TTL_SECONDS)
    .exec();
  execResults(replies, 'The heartbeat transaction');
}

/** A worker that stops cleanly leaves the list at once rather than after the TTL. */
export async function unregister(redis: RedisClient, keys: Keys, workerId: string): Promise<void> {
  execResults(await redis.multi().zrem(keys.workers(), workerId).del(keys.worker(workerId)).exec(), 'The transaction removing a worker');
}

/**
 * The workers whose last beat is within the TTL, with their channels, oldest beat first. Entries
 * past the TTL are removed on the way, which keeps the set bounded even when workers are killed.
 */
export async function liveWorkers(redis: RedisClient, keys: Keys, now: number = Date.now()): Promise<LiveWorker[]> {
  const since = now - HEARTBEAT_TTL_SECONDS * 1000;
  const listed = await redis.multi().zremrangebyscore(keys.workers(), '-inf', `(${since}`).zrangebyscore(keys.workers(), since, '+inf', 'WITHSCORES').exec();
  const entries = execResult<string[]>(listed, 1, 'The transaction listing workers');
  if (entries.length === 0) return [];
  const ids: { id: string; at: number }[] = [];
  for (let i = 0; i < entries.length; i += 2) ids.push({ id: entries[i]!, at: Number(entries[i + 1]) });
  const pipeline = redis.pipeline();
  for (const { id } of ids) pipeline.hmget(keys.worker(id), 'channels', 'shards');
  const replies = (await pipeline.exec()) ?? [];
  return ids.map(({ id, at }, index) => {
    const [hgetErr, raw] = replies[index] ?? [null, null];
    const [channels, shards] = hgetErr || !Array.isArray(raw) ? [null, null] : (raw as (string | null)[]);
    return { id, channels: parseChannels(channels), lastSeen: new Date(at).toISOString(), shards: parseShards(shards) };
  });
}

function parseShards(raw: unknown): number[] {
  if (typeof raw !== 'string') return [0];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((s): s is number => Number.isInteger(s)) : [0];
  } catch {
    return [0];
  }
}

function parseChannels(raw: unknown): ChannelName[] {
  if (typeof raw !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((c): c is ChannelName => typeof c === 'string' && isChannelName(c)) : [];
  } catch {
    return [];
  }
}
