/**
 * `herald worker [--channels gotify,webpush,email,ntfy,webhook] [--concurrency N] [--shards 0,2]`:
 * delivery workers alone. Any number of these may run, on any machine that reaches Redis; each
 * serves the channels and shards it is given and stops gracefully on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { CHANNEL_NAMES, isChannelName, type ChannelName } from '../types.js';
import { ENV } from '../defaults.js';
import { createLogger } from '../logger.js';
import { exitWithError, stopOnSignal } from './process.js';
import { startWorkers } from './workers.js';
import { checkRedis } from './check-redis.js';
import { loadSettings } from './load-settings.js';
import { parseShardList } from '../shards.js';
import { ShardCountError } from '../store/shard-count.js';

export interface WorkerArgs {
  channels: ChannelName[];
  concurrency?: number;
  /** `--shards` as given: checked against HERALD_SHARDS once the configuration is read (parseShardList). */
  shards?: string;
}

export function parseWorkerArgs(argv: string[]): WorkerArgs {
  const { values } = parseArgs({
    args: argv,
    options: { channels: { type: 'string' }, concurrency: { type: 'string' }, shards: { type: 'string' } },
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
    const { min, max } = ENV.HERALD_CONCURRENCY;
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--concurrency takes a whole number from ${min} to ${max} (got "${values.concurrency}")`);
    args.concurrency = n;
  }
  if (values.shards !== undefined) args.shards = values.shards;
  return args;
}

export async function runWorker(argv: string[]): Promise<void> {
  let args: WorkerArgs;
  try {
    args = parseWorkerArgs(argv);
  } catch (err) {
    exitWithError(err instanceof Error ? err.message : String(err));
  }
  const { config, warnings } = loadSettings();
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  for (const warning of warnings) logger.warn(warning);
  let shards: number[] | undefined;
  try {
    shards = args.shards === undefined ? undefined : parseShardList(args.shards, config.shards);
  } catch (err) {
    exitWithError(err instanceof Error ? err.message : String(err));
  }
  await checkRedis(config, logger);
  const runtime = await startWorkers(config, logger, args.channels, args.concurrency, shards).catch((err: unknown) => {
    if (err instanceof ShardCountError) exitWithError(err.message);
    throw err;
  });
  stopOnSignal(logger, config.shutdownMs + 5000, () => runtime.close());
}
