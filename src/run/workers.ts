/**
 * Wiring of a delivery worker process: its Redis connection, queues, store, channel adapters and
 * processor, built from the configuration and handed to a WorkerRuntime.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { enabledChannels } from '../config.js';
import type { Logger } from '../logger.js';
import { CHANNEL_NAMES, type ChannelName } from '../types.js';
import type { ChannelAdapters } from '../channels/types.js';
import { createRedis } from '../redis/connection.js';
import { Keys } from '../store/keys.js';
import { NotificationStore } from '../store/notifications.js';
import { ChannelQueues } from '../queue/queues.js';
import { DeliveryProcessor } from '../delivery/processor.js';
import { FanOutRunner } from '../delivery/fan-out.js';
import { TopicStore } from '../store/topics.js';
import { WorkerRuntime } from '../delivery/worker.js';
import { createAdapters } from './adapters.js';
import { WebhookStore } from '../store/webhooks.js';
import { WebhookQueue } from '../queue/webhook-queue.js';
import { WebhookSender } from '../delivery/webhook-sender.js';
import { WebhookDispatcher } from '../delivery/webhook-dispatcher.js';
import { WebhookRuntime } from '../delivery/webhook-runtime.js';

export interface WorkerOptions {
  config: Config;
  logger: Logger;
  channels: readonly ChannelName[];
  /** Deliveries run at once, per channel; the configured ones when absent. */
  concurrency?: Readonly<Record<ChannelName, number>>;
  /** Adapters to use instead of building them from the configuration (tests, benchmarks). */
  adapters?: ChannelAdapters;
}

/** Builds and starts a worker runtime. */
export async function startWorkerRuntime(options: WorkerOptions): Promise<WorkerRuntime> {
  const { config, logger, channels } = options;
  const concurrency = options.concurrency ?? config.concurrency;
  const redis = createRedis(config.redisUrl, 'worker', 'herald-worker');
  const keys = new Keys(config.prefix);
  const queues = new ChannelQueues(redis, config.prefix);
  // Enough keep-alive connections for the busiest channel's concurrent deliveries.
  const connections = Math.max(...channels.map((channel) => concurrency[channel]));
  const adapters = options.adapters ?? createAdapters(config, channels, connections, { redis, keys });
  const processor = new DeliveryProcessor({
    store: new NotificationStore(redis, keys, config.eventsRetention),
    queues,
    adapters,
    env: {
      enabled: new Set(enabledChannels(config)),
      defaultChannels: config.defaultChannels,
      gotifySharedToken: config.gotify?.shared ? config.gotify.defaultToken : undefined,
    },
    policy: {
      maxAttempts: config.maxAttempts,
      backoff: { baseMs: config.backoffMs, maxMs: config.backoffMaxMs },
      statusRetentionSeconds: config.statusRetentionSeconds,
      deadLetterRetentionSeconds: config.deadLetterRetentionSeconds,
      quietBypassPriority: config.quietBypassPriority,
    },
    concurrency,
  });
  const fanOut = new FanOutRunner({
    topics: new TopicStore(redis, keys, config.eventsRetention),
    queues,
    defaultChannels: config.defaultChannels,
    statusRetentionSeconds: config.statusRetentionSeconds,
    pageSize: config.fanOutPageSize,
  });
  const runtime = new WorkerRuntime(
    {
      redis,
      keys,
      queues,
      adapters,
      processor,
      fanOut,
      logger,
      // HERALD_EVENT_WEBHOOK_CONCURRENCY=0: event webhooks are left to other worker processes.
      ...(config.webhooks.concurrency > 0 ? { webhooks: webhookRuntime(config, redis, keys, logger) } : {}),
    },
    { prefix: config.prefix, channels, concurrency, jobLockMs: config.jobLockMs, shutdownMs: config.shutdownMs },
  );
  return runtime.start();
}

/**
 * How long the webhook dispatcher lets events gather between reads (see DispatcherSettings): an
 * event reaches its webhook queue up to this much later, and at thousands of deliveries per second
 * the dispatcher reads a few times per second instead of once per few deliveries.
 */
const WEBHOOK_GATHER_MS = 50;
/** How often a dispatcher looks for a first endpoint while there is none (see DispatcherSettings). */
const WEBHOOK_IDLE_CHECK_MS = 250;

/** The event webhooks of a worker process: dispatcher, queue and sender. */
function webhookRuntime(config: Config, redis: Redis, keys: Keys, logger: Logger): WebhookRuntime {
  const settings = config.webhooks;
  const retry = { backoffMs: settings.backoffMs, backoffMaxMs: settings.backoffMaxMs, retrySeconds: settings.retrySeconds };
  const store = new WebhookStore(redis, keys);
  const queue = new WebhookQueue(redis, config.prefix, retry);
  const sender = new WebhookSender(
    store,
    { timeoutMs: config.providerTimeoutMs, endpointConcurrency: settings.endpointConcurrency, allowPrivateEndpoints: config.allowPrivateEndpoints },
    logger,
  );
  const dispatcher = new WebhookDispatcher(redis, redis.duplicate(), keys, store, queue, logger, {
    consumer: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    batchSize: 1000,
    blockMs: 2000,
    claimIdleMs: config.jobLockMs,
    gatherMs: WEBHOOK_GATHER_MS,
    idleCheckMs: WEBHOOK_IDLE_CHECK_MS,
  });
  return new WebhookRuntime(
    { redis, queue, sender, dispatcher, logger },
    { prefix: config.prefix, concurrency: settings.concurrency, retry, jobLockMs: config.jobLockMs },
  );
}

/** Starts delivery workers; `concurrency` (from `--concurrency`) overrides the configured one for every channel. */
export function startWorkers(config: Config, logger: Logger, channels: readonly ChannelName[], concurrency?: number): Promise<WorkerRuntime> {
  const perChannel =
    concurrency === undefined ? config.concurrency : (Object.fromEntries(CHANNEL_NAMES.map((c) => [c, concurrency])) as Record<ChannelName, number>);
  return startWorkerRuntime({ config, logger, channels, concurrency: perChannel });
}
