/**
 * Start-up checks of the Redis server Herald is given. An eviction policy other than
 * `noeviction` lets Redis delete queued jobs and status records under memory pressure, silently
 * losing notifications, so Herald refuses to start on one.
 */
import type { RedisClient } from './client.js';
import type { StartupErrorCode } from '../codes.js';

export class UnsafeRedisError extends Error {
  readonly code: StartupErrorCode = 'HERALD_ERR_REDIS_EVICTION';
  constructor(policy: string) {
    super(
      `Redis maxmemory-policy is "${policy}": RedisClient may evict queued notifications under memory pressure.\n` +
        '  Set it to noeviction (redis.conf: maxmemory-policy noeviction, or CONFIG SET maxmemory-policy noeviction).',
    );
    this.name = 'UnsafeRedisError';
  }
}

/** Reads `maxmemory_policy` from INFO (allowed on managed Redis services where CONFIG is not). */
export async function evictionPolicy(redis: RedisClient): Promise<string | undefined> {
  const info = await redis.info('memory');
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

export async function assertNoEviction(redis: RedisClient): Promise<void> {
  const policy = await evictionPolicy(redis);
  if (policy !== undefined && policy !== 'noeviction') throw new UnsafeRedisError(policy);
}
