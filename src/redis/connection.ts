/**
 * Redis connections. Two profiles:
 * - `command` (API, SDK): fails fast. With no offline queue and a command timeout, a request made
 *   while Redis is away is refused at once (the API answers 503) instead of waiting in memory,
 *   where it would be lost if the process died.
 * - `worker`: waits. BullMQ workers block on Redis and must ride out restarts, so their commands
 *   retry until Redis is back (BullMQ requires `maxRetriesPerRequest: null` for them).
 * Both reconnect forever with a capped delay. A Redis Cluster (REDIS_CLUSTER_NODES) gets the same
 * two profiles: its client also follows the cluster's slot map, refreshing it on MOVED and after a
 * failover, and retries a command a failover interrupted.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { HeraldError } from '../errors.js';
import { isCluster, type RedisClient, type RedisTarget } from './client.js';

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

/**
 * The cluster client's options for a profile. The node connections get the profile's per-command
 * settings; the cluster client queues commands (worker) or refuses them (command) while it has no
 * slot map, and rebuilds its map and connections forever after losing every node.
 */
export function clusterOptions(profile: ConnectionProfile, connectionName?: string): ClusterOptions {
  const { retryStrategy, enableOfflineQueue, ...node } = connectionOptions(profile);
  return {
    clusterRetryStrategy: (times) => retryStrategy?.(times) ?? RECONNECT_MAX_DELAY_MS,
    enableOfflineQueue,
    // A failover takes the cluster a few seconds (cluster-node-timeout, then the election): commands
    // sent to the dead primary meanwhile are retried after these pauses, against the new slot map.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    redisOptions: { ...node, ...(connectionName ? { connectionName } : {}) },
  };
}

/** Opens a connection of the given profile to a Redis or a Redis Cluster. */
export function createClient(target: RedisTarget, profile: ConnectionProfile, connectionName?: string): RedisClient {
  if ('url' in target) return createRedis(target.url, profile, connectionName);
  const cluster = new Cluster(
    target.clusterNodes.map((node) => ({ ...node })),
    clusterOptions(profile, connectionName),
  );
  cluster.on('error', () => {});
  return cluster;
}

/** Another connection to what `client` talks to, of the given profile (a blocking reader, a subscriber). */
export function duplicateClient(
  client: RedisClient,
  profile: ConnectionProfile,
  overrides: { connectionName?: string; commandTimeout?: undefined } = {},
): RedisClient {
  const duplicate = isCluster(client)
    ? client.duplicate([], {
        ...clusterOptions(profile, overrides.connectionName),
        redisOptions: { ...clusterOptions(profile, overrides.connectionName).redisOptions, ...overrides },
      })
    : client.duplicate({ ...connectionOptions(profile), ...overrides });
  duplicate.on('error', () => {});
  return duplicate;
}

/** Resolves once the connection is ready, or throws HERALD_ERR_REDIS_UNAVAILABLE after `timeoutMs`. */
export async function waitUntilReady(redis: RedisClient, timeoutMs: number): Promise<void> {
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
export function assertConnected(redis: RedisClient): void {
  if (redis.status !== 'ready') throw new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE');
}
