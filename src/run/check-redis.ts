/**
 * What every long-running command checks about Redis before it starts: that the server does not
 * evict keys. An unreachable Redis is not fatal: the API answers 503 and workers wait, both
 * recovering by themselves when Redis comes back.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { exitWithError } from './process.js';
import { createRedis, waitUntilReady } from '../redis/connection.js';
import { assertNoEviction, UnsafeRedisError } from '../redis/checks.js';
import { redisAnswers } from '../redis/local-server.js';

export async function checkRedis(config: Config, logger: Logger): Promise<void> {
  if (!(await redisAnswers(config.redisUrl, 2000))) {
    logger.warn('Redis does not answer yet; Herald will keep trying (check REDIS_URL)');
    return;
  }
  const redis = createRedis(config.redisUrl, 'command', 'herald-check');
  try {
    await waitUntilReady(redis, 2000);
    await assertNoEviction(redis);
  } catch (err) {
    if (err instanceof UnsafeRedisError) exitWithError(err.message);
    throw err;
  } finally {
    redis.disconnect();
  }
}
