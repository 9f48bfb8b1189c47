#!/usr/bin/env node
/**
 * The `herald` command. `npm start` runs `herald start`: the API and a worker for every channel in
 * one process, with a local redis-server when none is configured or running.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type LoadedConfig } from './config.js';
import { createLogger } from './logger.js';
import { exitWithError, stopOnSignal } from './run/process.js';
import { startApi, heraldFromConfig } from './run/api.js';
import { startWorkers } from './run/workers.js';
import { checkRedis } from './run/check-redis.js';
import { findOrStartLocalRedis, LOCAL_DATA_DIR, withLocalRedisPassword, type LocalRedis } from './redis/local-server.js';
import { CHANNEL_NAMES } from './types.js';
import { generateVapidKeys } from './channels/webpush/vapid.js';
import { HeraldError } from './errors.js';
import { runWorker } from './run/worker-command.js';

const USAGE = `Usage: herald <command>

  start                        API and a worker for every channel (starts redis-server if needed)
  api                          the HTTP API alone
  worker [--channels gotify,webpush,email] [--concurrency N]
                               delivery workers alone
  vapid                        print a new VAPID key pair
  send --to USER --message TEXT [--title T]
                               enqueue one notification
  dlq list | dlq replay ID | dlq delete ID
                               dead letters

Configuration comes from environment variables; see the README.`;

function config(): LoadedConfig {
  try {
    const loaded = loadConfig();
    return { ...loaded, config: withLocalRedisPassword(loaded.config) };
  } catch (err) {
    if (err instanceof ConfigError) exitWithError(err.message);
    throw err;
  }
}

async function start(): Promise<void> {
  const loaded = config();
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

async function api(): Promise<void> {
  const { config: cfg, warnings } = config();
  const logger = createLogger({ level: cfg.logLevel, pretty: cfg.logPretty });
  for (const warning of warnings) logger.warn(warning);
  await checkRedis(cfg, logger);
  const running = await startApi(cfg, logger);
  stopOnSignal(logger, cfg.shutdownMs + 5000, () => running.close());
}

function vapid(): void {
  const keys = generateVapidKeys();
  process.stdout.write(`VAPID_PUBLIC_KEY=${keys.publicKey}\nVAPID_PRIVATE_KEY=${keys.privateKey}\n`);
}

async function send(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { to: { type: 'string' }, message: { type: 'string' }, title: { type: 'string' }, id: { type: 'string' } },
    strict: true,
  });
  if (!values.to || !values.message) exitWithError('send needs --to USER and --message TEXT');
  const { config: cfg } = config();
  const herald = heraldFromConfig(cfg);
  try {
    const result = await herald.notify({
      to: values.to,
      message: values.message,
      ...(values.title ? { title: values.title } : {}),
      ...(values.id ? { id: values.id } : {}),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await herald.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start();
    case 'api':
      return api();
    case 'worker':
      return runWorker(rest);
    case 'vapid':
      return vapid();
    case 'send':
      return send(rest);
    case 'dlq': {
      const { runDlq } = await import('./run/dlq-command.js');
      const { config: cfg } = config();
      return runDlq(cfg, rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      exitWithError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof HeraldError)
    exitWithError(`${err.code}: ${err.message}${err.details.length ? `\n${err.details.map((d) => `  - ${d.field}: ${d.message}`).join('\n')}` : ''}`);
  exitWithError(err instanceof Error ? err.message : String(err));
});
