/**
 * `herald worker [--channels gotify,webpush,email] [--concurrency N]`: delivery workers alone. Any
 * number of these may run, on any machine that reaches Redis; each serves the channels it is given
 * and stops gracefully on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { CHANNEL_NAMES, isChannelName, type ChannelName } from '../types.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { exitWithError, stopOnSignal } from './process.js';
import { startWorkers } from './workers.js';
import { checkRedis } from './check-redis.js';
import { withLocalRedisPassword } from '../redis/local-server.js';

export interface WorkerArgs {
  channels: ChannelName[];
  concurrency?: number;
}

export function parseWorkerArgs(argv: string[]): WorkerArgs {
  const { values } = parseArgs({
    args: argv,
    options: { channels: { type: 'string' }, concurrency: { type: 'string' } },
    strict: true,
  });
  const channels = values.channels
    ? values.channels
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean)
    : [...CHANNEL_NAMES];
  const bad = channels.filter((c) => !isChannelName(c));
  if (bad.length > 0 || channels.length === 0)
    throw new Error(`--channels takes a comma-separated list of ${CHANNEL_NAMES.join(', ')} (got "${values.channels}")`);
  const args: WorkerArgs = { channels: [...new Set(channels as ChannelName[])] };
  if (values.concurrency !== undefined) {
    const n = Number(values.concurrency);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`--concurrency takes a whole number from 1 to 10000 (got "${values.concurrency}")`);
    args.concurrency = n;
  }
  return args;
}

export async function runWorker(argv: string[]): Promise<void> {
  let args: WorkerArgs;
  let loaded: LoadedConfig;
  try {
    args = parseWorkerArgs(argv);
    loaded = loadConfig();
  } catch (err) {
    exitWithError(err instanceof ConfigError || err instanceof Error ? err.message : String(err));
  }
  const { warnings } = loaded;
  const config = withLocalRedisPassword(loaded.config);
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  for (const warning of warnings) logger.warn(warning);
  await checkRedis(config, logger);
  const runtime = await startWorkers(config, logger, args.channels, args.concurrency);
  stopOnSignal(logger, config.shutdownMs + 5000, () => runtime.close());
}
