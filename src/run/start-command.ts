/**
 * `herald start` (`npm start`): the API and a worker for every channel in one process, for one
 * machine, with a private local redis-server when REDIS_URL is unset and none is running.
 *
 * Outside production it is also the developer's way in: with nothing configured it uses the first
 * run's keys (first-run.ts), and on a terminal it prints a summary instead of JSON lines
 * (start-summary.ts). Secrets never go to the JSON lines: there the first run names the file
 * that holds its keys.
 */
import { relative } from 'node:path';
import { enabledChannels } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { findOrStartLocalRedis, LOCAL_DATA_DIR, type LocalRedis } from '../redis/local-server.js';
import { CHANNEL_NAMES } from '../types.js';
import { startApi } from './api.js';
import { checkRedis } from './check-redis.js';
import { DevKeysFileError, readOrMakeDevKeys, type DevKeysFromFile } from './dev-keys-file.js';
import { firstRunDecision, withDevKeys } from './first-run.js';
import { loadSettings } from './load-settings.js';
import { exitWithError, stopOnSignal } from './process.js';
import { channelStates, consoleUrl, renderStartSummary, startOutput, type StartSummary } from './start-summary.js';
import { terminalLogger } from './terminal-log.js';
import { startWorkers } from './workers.js';

const NO_API_KEYS = 'HERALD_API_KEYS is empty: every route but /healthz, /readyz, /sdk/ and the VAPID key answers 401';

export async function runStart(): Promise<void> {
  const loaded = loadSettings();
  let { config: cfg } = loaded;
  let devKeys: DevKeysFromFile | undefined;
  if (firstRunDecision(cfg).useDevKeys) {
    devKeys = readDevKeysOrExit();
    cfg = withDevKeys(cfg, devKeys.keys);
  }
  // With the dev keys Web Push is on: the note that it is off no longer holds.
  const channelsOff = devKeys ? { ...loaded.channelsOff, webpush: undefined } : loaded.channelsOff;
  const warnings = loaded.warnings.filter((warning) => !devKeys || warning !== loaded.channelsOff.webpush?.warning);

  const output = startOutput(process.stdout.isTTY, cfg.production);
  const terminal = output === 'summary' ? terminalLogger(cfg.logLevel) : undefined;
  const logger: Logger = terminal?.logger ?? createLogger({ level: cfg.logLevel, pretty: cfg.logPretty });
  if (output === 'json') {
    for (const warning of warnings) logger.warn(warning);
    if (cfg.apiKeys.length === 0) logger.warn(NO_API_KEYS);
  }

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

  // Logged once the signal handlers are in place: from here on SIGTERM stops Herald gracefully.
  if (output === 'json') {
    if (devKeys) {
      logger.info(
        { devKeysFile: devKeys.file, made: devKeys.made },
        devKeys.made
          ? `first run: made a publish key, an admin key and a VAPID pair, kept in ${devKeys.file} (0600); Web Push is on`
          : `using the dev keys of ${devKeys.file} (made on the first run); Web Push is on`,
      );
    }
    logger.info({ url: api.url, consoleUrl: consoleUrl(api.url), channels: enabledChannels(cfg) }, 'Herald started');
  }
  if (terminal) {
    const summary: StartSummary = {
      apiUrl: api.url,
      redis: cfg.redisClusterNodes
        ? `the Redis Cluster at REDIS_CLUSTER_NODES, ${cfg.shards} shard${cfg.shards === 1 ? '' : 's'}`
        : cfg.redisUrlExplicit
          ? 'the one at REDIS_URL'
          : localRedis?.pid !== null
            ? `a private redis-server on 127.0.0.1:6379 (data in ${LOCAL_DATA_DIR})`
            : 'the one on 127.0.0.1:6379',
      channels: channelStates(cfg, channelsOff, devKeys !== undefined),
      keys: devKeys
        ? { kind: 'dev', file: displayPath(devKeys.file), made: devKeys.made ? devKeys.keys : null }
        : cfg.apiKeys.length > 0
          ? { kind: 'configured', count: cfg.apiKeys.length }
          : { kind: 'none' },
      warnings: warnings.filter((warning) => !Object.values(channelsOff).some((note) => note?.warning === warning)),
    };
    process.stdout.write(renderStartSummary(summary));
    terminal.started();
  }
}

function readDevKeysOrExit(): DevKeysFromFile {
  try {
    return readOrMakeDevKeys();
  } catch (err) {
    if (err instanceof DevKeysFileError) exitWithError(err.message);
    throw err;
  }
}

/** A path under the working directory as the user would type it; others in full. */
function displayPath(file: string): string {
  const inside = relative(process.cwd(), file);
  return inside.startsWith('..') ? file : inside;
}
