/**
 * Wiring of a delivery worker process: its Redis connection, channel adapters and, for each shard
 * it serves, the shard's queues, store and processor, built from the configuration and handed to a
 * WorkerRuntime.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { duplicateOf, type RedisClient } from '../redis/client.js';
import type { Config } from '../config.js';
import { enabledChannels, redisTarget } from '../config.js';
import type { Logger } from '../logger.js';
import { CHANNEL_NAMES, type ChannelName } from '../types.js';
import type { ChannelAdapters } from '../channels/types.js';
import { createClient } from '../redis/connection.js';
import { Keys } from '../store/keys.js';
import { NotificationStore } from '../store/notifications.js';
import { RecipientRegistry } from '../store/recipients.js';
import { claimShardCount } from '../store/shard-count.js';
import { eventIdOf } from '../event-ids.js';
import { ChannelQueues } from '../queue/queues.js';
import { DeliveryProcessor } from '../delivery/processor.js';
import type { RecipientCopies } from '../delivery/commit.js';
import { FanOutRunner } from '../delivery/fan-out.js';
import { TopicStore } from '../store/topics.js';
import { WorkerRuntime, type WorkerCell } from '../delivery/worker.js';
import { createAdapters } from './adapters.js';
import { WebhookStore } from '../store/webhooks.js';
import { WebhookQueue } from '../queue/webhook-queue.js';
import { WebhookSender } from '../delivery/webhook-sender.js';
import { WebhookDispatcher } from '../delivery/webhook-dispatcher.js';
import { WebhookRuntime } from '../delivery/webhook-runtime.js';
import { allShards, cellPrefix, eventsPerShard } from '../shards.js';

export interface WorkerOptions {
  config: Config;
  logger: Logger;
  channels: readonly ChannelName[];
  /** Deliveries run at once, per channel; the configured ones when absent. */
  concurrency?: Readonly<Record<ChannelName, number>>;
  /** Adapters to use instead of building them from the configuration (tests, benchmarks). */
  adapters?: ChannelAdapters;
  /** The shards to serve (`herald worker --shards`), checked against HERALD_SHARDS; every shard when absent. */
  shards?: readonly number[];
}

/**
 * Builds and starts a worker runtime. It first checks the deployment's shard count (waiting for
 * Redis if it is away): a worker with another count would look for notifications in the wrong
 * shards, so it refuses to start (ShardCountError).
 */
export async function startWorkerRuntime(options: WorkerOptions): Promise<WorkerRuntime> {
  const { config, logger, channels } = options;
  const concurrency = options.concurrency ?? config.concurrency;
  const served = options.shards ?? allShards(config.shards);
  const redis = createClient(redisTarget(config), 'worker', 'herald-worker');
  try {
    await claimShardCount(redis, config.prefix, config.shards);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const everyKeys = allShards(config.shards).map((shard) => new Keys(cellPrefix(config.prefix, shard, config.shards)));
  // Enough keep-alive connections for the busiest channel's concurrent deliveries.
  const connections = Math.max(...channels.map((channel) => concurrency[channel]));
  const adapters = options.adapters ?? createAdapters(config, channels, connections, { redis, keys: everyKeys });
  const recipientCopies = config.shards > 1 ? copiesOf(redis, everyKeys, config) : undefined;
  const cells = served.map((shard): WorkerCell => {
    const prefix = cellPrefix(config.prefix, shard, config.shards);
    const keys = everyKeys[shard]!;
    const queues = new ChannelQueues(redis, prefix);
    const processor = new DeliveryProcessor({
      store: new NotificationStore(redis, keys, eventsPerShard(config.eventsRetention, config.shards)),
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
      ...(recipientCopies ? { recipientCopies } : {}),
    });
    const fanOut = new FanOutRunner({
      topics: new TopicStore(redis, keys, eventsPerShard(config.eventsRetention, config.shards)),
      queues,
      defaultChannels: config.defaultChannels,
      statusRetentionSeconds: config.statusRetentionSeconds,
      pageSize: config.fanOutPageSize,
    });
    return { shard, prefix, keys, queues, processor, fanOut };
  });
  const runtime = new WorkerRuntime(
    {
      redis,
      adapters,
      logger,
      cells,
      // HERALD_EVENT_WEBHOOK_CONCURRENCY=0: event webhooks are left to other worker processes.
      ...(config.webhooks.concurrency > 0 ? { webhooks: webhookRuntime(config, redis, everyKeys, served, logger) } : {}),
    },
    { channels, concurrency, jobLockMs: config.jobLockMs, shutdownMs: config.shutdownMs },
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

/** Removes what a provider said is gone from every shard's copy of the recipient (the transition did it in one). */
function copiesOf(redis: RedisClient, everyKeys: readonly Keys[], config: Config): RecipientCopies {
  const registries = everyKeys.map((keys) => new RecipientRegistry(redis, keys, config.webpushMaxSubscriptions));
  return {
    removeGone: async (userId, gone) => {
      await Promise.all(
        registries.map(async (registry) => {
          for (const id of gone.subscriptions ?? []) await registry.removeWebPush(userId, id);
          if (gone.address) await registry.removeAddressIf(userId, gone.address.field, gone.address.value);
        }),
      );
    },
  };
}

/**
 * The event webhooks of a worker process: a dispatcher for the event log of every shard it serves,
 * and the deployment's endpoints, queue and sender, which live in shard 0 (whether or not it
 * serves shard 0: every worker process sends event webhooks).
 */
function webhookRuntime(config: Config, redis: RedisClient, everyKeys: readonly Keys[], served: readonly number[], logger: Logger): WebhookRuntime {
  const settings = config.webhooks;
  const retry = { backoffMs: settings.backoffMs, backoffMaxMs: settings.backoffMaxMs, retrySeconds: settings.retrySeconds };
  const home = everyKeys[0]!;
  const store = new WebhookStore(redis, home);
  const queue = new WebhookQueue(redis, home.prefix, retry);
  const sender = new WebhookSender(
    store,
    { timeoutMs: config.providerTimeoutMs, endpointConcurrency: settings.endpointConcurrency, allowPrivateEndpoints: config.allowPrivateEndpoints },
    logger,
  );
  const consumer = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const dispatchers = served.map(
    (shard) =>
      new WebhookDispatcher(redis, duplicateOf(redis), everyKeys[shard]!, store, queue, logger, {
        consumer,
        batchSize: 1000,
        blockMs: 2000,
        claimIdleMs: config.jobLockMs,
        eventId: (entryId) => eventIdOf(entryId, shard, config.shards),
        gatherMs: WEBHOOK_GATHER_MS,
        idleCheckMs: WEBHOOK_IDLE_CHECK_MS,
      }),
  );
  return new WebhookRuntime(
    { redis, queue, sender, dispatchers, logger },
    { prefix: home.prefix, concurrency: settings.concurrency, retry, jobLockMs: config.jobLockMs },
  );
}

/** Starts delivery workers; `concurrency` (from `--concurrency`) overrides the configured one for every channel. */
export function startWorkers(
  config: Config,
  logger: Logger,
  channels: readonly ChannelName[],
  concurrency?: number,
  shards?: readonly number[],
): Promise<WorkerRuntime> {
  const perChannel =
    concurrency === undefined ? config.concurrency : (Object.fromEntries(CHANNEL_NAMES.map((c) => [c, concurrency])) as Record<ChannelName, number>);
  return startWorkerRuntime({ config, logger, channels, concurrency: perChannel, ...(shards ? { shards } : {}) });
}
