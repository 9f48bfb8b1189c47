/**
 * `herald start` (`npm start`): the API and a worker for every channel in one process, for one
 * machine, with a private local redis-server when REDIS_URL is unset and none is running.
 */
import { createLogger } from '../logger.js';
import { findOrStartLocalRedis, LOCAL_DATA_DIR, type LocalRedis } from '../redis/local-server.js';
import { CHANNEL_NAMES } from '../types.js';
import { startApi } from './api.js';
import { checkRedis } from './check-redis.js';
import { loadSettings } from './load-settings.js';
import { exitWithError, stopOnSignal } from './process.js';
import { startWorkers } from './workers.js';

export async function runStart(): Promise<void> {
  const loaded = loadSettings();
  let { config: cfg } = loaded;
  const logger = createLogger({ level: cfg.logLevel, pretty: cfg.logPretty });
  for (const warning of loaded.warnings) logger.warn(warning);
  if (cfg.apiKeys.length === 0) logger.warn('HERALD_API_KEYS is empty: every route but /healthz, /readyz and the VAPID key answers 401');

  let localRedis: LocalRedis | undefined;
  if (!cfg.redisUrlExplicit) {
    try {
      localRedis = await findOrStartLocalRedis();
    } catch (err) {
      exitWithError(err instanceof Error ? err.message : String(err));
    }
    if (localRedis.pid !== null) {
      logger.info(
        { dataDir: LOCAL_DATA_DIR },
        `started a private local redis-server on 127.0.0.1:6379 (AOF on, noeviction; its password is in ${LOCAL_DATA_DIR}/password)`,
      );
    }
    cfg = { ...cfg, redisUrl: localRedis.url };
  }
  await checkRedis(cfg, logger);
  const api = await startApi(cfg, logger);
  const workers = await startWorkers(cfg, logger, CHANNEL_NAMES);
  stopOnSignal(logger, cfg.shutdownMs + 5000, async () => {
    await Promise.all([api.close(), workers.close()]);
    await localRedis?.stop();
  });
}
