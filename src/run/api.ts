/**
 * Wiring of the HTTP API: a Herald client built from the configuration, the Fastify app over it,
 * and a `close()` that releases both.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { buildApp } from '../http/app.js';
import { Herald } from '../sdk/herald.js';

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
    ...(config.redisClusterNodes ? { clusterNodes: config.redisClusterNodes } : {}),
    prefix: config.prefix,
    shards: config.shards,
    replicaAcks: config.replicaAcks,
    defaultChannels: config.defaultChannels,
    statusRetentionSeconds: config.statusRetentionSeconds,
    webpushMaxSubscriptions: config.webpushMaxSubscriptions,
    deadLetterRetentionSeconds: config.deadLetterRetentionSeconds,
    eventsRetention: config.eventsRetention,
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
