/**
 * What every long-running command checks about Redis before it starts: that the server (every
 * primary of a cluster) does not evict keys, and that the deployment's shard count is this
 * process's HERALD_SHARDS. An unreachable Redis is not fatal: the API answers 503 and workers
 * wait, both recovering by themselves when Redis comes back.
 */
import { redisTarget, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { exitWithError } from './process.js';
import { createClient, waitUntilReady } from '../redis/connection.js';
import { describeTarget, isCluster, type RedisClient } from '../redis/client.js';
import { assertNoEviction, UnsafeRedisError } from '../redis/checks.js';
import { redisAnswers } from '../redis/local-server.js';
import { claimShardCount, ShardCountError } from '../store/shard-count.js';
import { HeraldError } from '../errors.js';

/** How long the start waits for a first answer before it goes on without the checks. */
const CHECK_TIMEOUT_MS = 2000;

export async function checkRedis(config: Config, logger: Logger): Promise<void> {
  const target = redisTarget(config);
  if ('url' in target && !(await redisAnswers(target.url, CHECK_TIMEOUT_MS))) {
    logger.warn('Redis does not answer yet; Herald will keep trying (check REDIS_URL)');
    return;
  }
  const redis = createClient(target, 'command', 'herald-check');
  try {
    try {
      await waitUntilReady(redis, 'url' in target ? CHECK_TIMEOUT_MS : CHECK_TIMEOUT_MS * 2);
    } catch (err) {
      if (!(err instanceof HeraldError)) throw err;
      // A cluster that is down, unreachable, or not yet serving every slot.
      logger.warn(
        `${describeTarget(target)} does not answer yet; Herald will keep trying (check REDIS_CLUSTER_NODES and that the cluster is up: redis-cli -c -h HOST -p PORT cluster info)`,
      );
      return;
    }
    await Promise.all(primaries(redis).map(assertNoEviction));
    await claimShardCount(redis, config.prefix, config.shards);
  } catch (err) {
    if (err instanceof UnsafeRedisError || err instanceof ShardCountError) exitWithError(err.message);
    throw err;
  } finally {
    redis.disconnect();
  }
}

/** The servers whose eviction policy matters: the one Redis, or every primary of a cluster. */
function primaries(redis: RedisClient): RedisClient[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}
