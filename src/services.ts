/**
 * Wiring of the long-running parts, shared by the `herald` commands: the HTTP API and the delivery
 * workers, each with a `close()` that releases everything it opened.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { buildApp } from './http/app.js';
import { Herald } from './sdk/herald.js';
import { WorkerRuntime } from './queue/worker.js';
import { CHANNEL_NAMES, type ChannelName } from './types.js';

export interface RunningApi {
  app: FastifyInstance;
  herald: Herald;
  /** `http://host:port` the API listens on. */
  url: string;
  close(): Promise<void>;
}

export function heraldFromConfig(config: Config): Herald {
  return new Herald({
    redis: config.redisUrl,
    prefix: config.prefix,
    defaultChannels: config.defaultChannels,
    statusRetentionSeconds: config.statusRetentionSeconds,
    webpushMaxSubscriptions: config.webpushMaxSubscriptions,
    deadLetterRetentionSeconds: config.deadLetterRetentionSeconds,
    allowPrivateEndpoints: config.allowPrivateEndpoints,
    appSchemes: config.appSchemes,
    enqueueLingerMs: config.enqueueLingerMs,
    // The API must answer 503 within a second when Redis is away, even on its first request.
    connectTimeoutMs: 800,
  });
}

export async function startApi(config: Config, logger: Logger): Promise<RunningApi> {
  const herald = heraldFromConfig(config);
  const app = await buildApp({ herald, config, logger });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url }, 'API listening');
  return {
    app,
    herald,
    url,
    close: async () => {
      await app.close();
      await herald.close();
    },
  };
}

/** Starts delivery workers; `concurrency` (from `--concurrency`) overrides the configured one for every channel. */
export function startWorkers(config: Config, logger: Logger, channels: readonly ChannelName[], concurrency?: number): Promise<WorkerRuntime> {
  const perChannel = concurrency === undefined ? config.concurrency : Object.fromEntries(CHANNEL_NAMES.map((c) => [c, concurrency])) as Record<ChannelName, number>;
  return WorkerRuntime.start({ config, logger, channels, concurrency: perChannel });
}
