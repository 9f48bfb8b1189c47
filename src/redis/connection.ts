/**
 * Redis connections. Two profiles:
 * - `command` (API, SDK): fails fast. With no offline queue and a command timeout, a request made
 *   while Redis is away is refused at once (the API answers 503) instead of waiting in memory,
 *   where it would be lost if the process died.
 * - `worker`: waits. BullMQ workers block on Redis and must ride out restarts, so their commands
 *   retry until Redis is back (BullMQ requires `maxRetriesPerRequest: null` for them).
 * Both reconnect forever with a capped delay.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { HeraldError } from '../errors.js';

export type ConnectionProfile = 'command' | 'worker';

const RECONNECT_MAX_DELAY_MS = 2000;

export function connectionOptions(profile: ConnectionProfile): RedisOptions {
  const common: RedisOptions = {
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), RECONNECT_MAX_DELAY_MS),
    connectTimeout: 5000,
    lazyConnect: false,
  };
  if (profile === 'worker') return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
  return { ...common, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000 };
}

/** Opens a connection of the given profile. */
export function createRedis(url: string, profile: ConnectionProfile, connectionName?: string): Redis {
  const redis = new Redis(url, { ...connectionOptions(profile), ...(connectionName ? { connectionName } : {}) });
  // Errors are reported through command failures and readiness checks; without a listener,
  // ioredis would print every reconnect failure as an unhandled 'error' event.
  redis.on('error', () => {});
  return redis;
}

/** Resolves once the connection is ready, or throws HERALD_ERR_REDIS_UNAVAILABLE after `timeoutMs`. */
export async function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE', `Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE', 'The Redis connection was closed'));
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
    };
    redis.on('ready', onReady);
    redis.on('end', onEnd);
  });
}

/** Throws HERALD_ERR_REDIS_UNAVAILABLE at once when a fail-fast connection is not ready. */
export function assertConnected(redis: Redis): void {
  if (redis.status !== 'ready') throw new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE');
}
