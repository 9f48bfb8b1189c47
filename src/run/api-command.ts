/** `herald api`: the HTTP API alone; stops gracefully on SIGTERM / SIGINT. */
import { createLogger } from '../logger.js';
import { startApi } from './api.js';
import { checkRedis } from './check-redis.js';
import { loadSettings } from './load-settings.js';
import { stopOnSignal } from './process.js';

export async function runApi(): Promise<void> {
  const { config: cfg, warnings } = loadSettings();
  const logger = createLogger({ level: cfg.logLevel, pretty: cfg.logPretty });
  for (const warning of warnings) logger.warn(warning);
  await checkRedis(cfg, logger);
  const running = await startApi(cfg, logger);
  stopOnSignal(logger, cfg.shutdownMs + 5000, () => running.close());
}
