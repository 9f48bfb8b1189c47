/**
 * A delivery worker process's runtime: one BullMQ Worker per channel it serves, all sharing one
 * processor, a heartbeat that tells the stats API which workers are alive, and a graceful
 * shutdown that stops fetching, lets in-flight deliveries finish, and hands back those that do
 * not finish within the deadline.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { enabledChannels, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { ChannelName } from '../types.js';
import { closeAdapters, createAdapters } from '../channels/index.js';
import type { ChannelAdapters } from '../channels/types.js';
import { Keys } from '../registry/keys.js';
import { NotificationStore } from '../registry/notifications.js';
import { beat, HEARTBEAT_INTERVAL_MS, unregister } from '../registry/workers.js';
import { createRedis } from '../redis/connection.js';
import { ChannelQueues, itemsOf, type DeliveryJobData } from './queues.js';
import { DeliveryProcessor, type DeliveryReport } from './processor.js';
import { heraldBackoffStrategy } from './backoff.js';
import { FetchLimit } from './fetch-limit.js';
import { RetrySummary } from './retry-summary.js';

export { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_SECONDS } from '../registry/workers.js';
/** How often a worker looks for jobs BullMQ failed by itself (see DeliveryProcessor#abandon). */
export const SWEEP_INTERVAL_MS = 60_000;

export interface WorkerRuntimeOptions {
  config: Config;
  channels: readonly ChannelName[];
  /** Deliveries run at once, per channel. */
  concurrency: Readonly<Record<ChannelName, number>>;
  logger: Logger;
  /** Adapters to use instead of building them from the configuration (tests, benchmarks). */
  adapters?: ChannelAdapters;
}

export class WorkerRuntime {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly workers: Worker<DeliveryJobData>[] = [];
  /** Aborted at the shutdown deadline; every in-flight provider request listens to it. */
  private readonly abort = WorkerRuntime.shutdownController();
  private heartbeat?: NodeJS.Timeout;
  private sweeper?: NodeJS.Timeout;
  private processor?: DeliveryProcessor;
  private closing?: Promise<void>;
  private readonly logger: Logger;
  private readonly retries: RetrySummary;

  private constructor(
    private readonly options: WorkerRuntimeOptions,
    private readonly redis: Redis,
    private readonly queues: ChannelQueues,
    private readonly adapters: ChannelAdapters,
    private readonly keys: Keys,
  ) {
    // Every line this runtime and its deliveries log says which worker wrote it.
    this.logger = options.logger.child({ workerId: this.id });
    this.retries = new RetrySummary(this.logger);
  }

  private static shutdownController(): AbortController {
    const controller = new AbortController();
    // One listener per in-flight delivery (up to the concurrency), removed when it ends: not a leak.
    setMaxListeners(0, controller.signal);
    return controller;
  }

  static async start(options: WorkerRuntimeOptions): Promise<WorkerRuntime> {
    const { config } = options;
    const redis = createRedis(config.redisUrl, 'worker', 'herald-worker');
    const keys = new Keys(config.prefix);
    const queues = new ChannelQueues(redis, config.prefix);
    // Enough keep-alive connections for the busiest channel's concurrent deliveries.
    const connections = Math.max(...options.channels.map((channel) => options.concurrency[channel]));
    const adapters = options.adapters ?? createAdapters(config, options.channels, connections);
    const runtime = new WorkerRuntime(options, redis, queues, adapters, keys);
    runtime.startWorkers();
    runtime.retries.start();
    await runtime.beat();
    runtime.heartbeat = setInterval(() => void runtime.beat().catch(() => {}), HEARTBEAT_INTERVAL_MS);
    runtime.heartbeat.unref();
    void runtime.sweepFailedJobs().catch(() => {});
    runtime.sweeper = setInterval(() => void runtime.sweepFailedJobs().catch(() => {}), SWEEP_INTERVAL_MS);
    runtime.sweeper.unref();
    return runtime;
  }

  private startWorkers(): void {
    const { config } = this.options;
    const { logger } = this;
    const enabled = new Set(enabledChannels(config));
    const processor = (this.processor = new DeliveryProcessor({
      store: new NotificationStore(this.redis, this.keys),
      queues: this.queues,
      adapters: this.adapters,
      env: { enabled, defaultChannels: config.defaultChannels, gotifySharedToken: config.gotify?.shared ? config.gotify.defaultToken : undefined },
      policy: {
        maxAttempts: config.maxAttempts,
        backoff: { baseMs: config.backoffMs, maxMs: config.backoffMaxMs },
        statusRetentionSeconds: config.statusRetentionSeconds,
        deadLetterRetentionSeconds: config.deadLetterRetentionSeconds,
      },
      concurrency: this.options.concurrency,
    }));
    for (const channel of this.options.channels) {
      const fetchLimit = new FetchLimit(this.options.concurrency[channel]);
      const worker: Worker<DeliveryJobData> = new Worker<DeliveryJobData>(
        Keys.queueName(channel),
        async (job: Job<DeliveryJobData>) => {
          const items = itemsOf(job.data);
          worker.concurrency = fetchLimit.observe(items.length);
          try {
            const reports = await processor.process(channel, job.data, this.abort.signal);
            this.logReports(channel, reports);
            return reports.length;
          } catch (err) {
            // Redis went away before some deliveries were committed: BullMQ runs the job again,
            // and the deliveries that were committed are stale by then and skipped.
            logger.error({ err, channel, notificationIds: items.map((item) => item.id) }, 'delivery step failed');
            throw err;
          }
        },
        {
          connection: this.redis,
          prefix: config.prefix,
          concurrency: this.options.concurrency[channel],
          settings: { backoffStrategy: heraldBackoffStrategy },
          // A job whose worker died is picked up again once its lock expires (checked as often);
          // a few stalls are tolerated before BullMQ gives up on it.
          lockDuration: config.jobLockMs,
          stalledInterval: config.jobLockMs,
          maxStalledCount: 5,
        },
      );
      worker.on('error', (err) => logger.warn({ err, channel }, 'worker connection problem'));
      this.workers.push(worker);
    }
    logger.info({ channels: this.options.channels, concurrency: this.options.concurrency }, 'worker started');
  }

  /**
   * Retries go to the periodic summary; each dead letter gets its own line (rare, and each one
   * needs someone to act); a line per delivery step only at debug level. A delivery's child logger
   * is made only when there is something to log: most deliveries log nothing.
   */
  private logReports(channel: ChannelName, reports: DeliveryReport[]): void {
    const debug = this.logger.isLevelEnabled('debug');
    for (const report of reports) {
      if (report.retry) this.retries.add(channel, report.retry.code);
      if (!debug && report.outcome !== 'dead-lettered') continue;
      const log = this.logger.child({ notificationId: report.id, channel, attempt: report.attempt });
      if (report.outcome === 'dead-lettered') log.warn({ code: report.code }, 'notification dead-lettered');
      if (debug) log.debug({ outcome: report.outcome, ...report.retry }, 'delivery step done');
    }
  }

  /**
   * Dead-letters the notifications of jobs that BullMQ failed without the processor deciding it
   * (the job stalled more than `maxStalledCount` times), then removes those jobs.
   */
  async sweepFailedJobs(): Promise<number> {
    let swept = 0;
    for (const channel of this.options.channels) {
      const queue = this.queues.queues[channel];
      const failed = await queue.getFailed(0, 99);
      for (const job of failed) {
        if (!job?.id) continue;
        const reports = await this.processor!.abandon(channel, job.data, job.failedReason ?? 'failed by the queue');
        for (const report of reports.filter((r) => r.outcome === 'dead-lettered')) {
          swept++;
          this.logger.warn({ notificationId: report.id, channel, reason: job.failedReason }, 'abandoned job dead-lettered');
        }
        await queue.remove(job.id);
      }
    }
    return swept;
  }

  /** Records this worker as alive, with its channels, for the stats API. */
  private beat(): Promise<void> {
    return beat(this.redis, this.keys, this.id, this.options.channels);
  }

  /**
   * Stops fetching, waits for in-flight deliveries up to `deadlineMs`, then aborts the rest: an
   * aborted delivery is handed back to the queue and retried later, never dropped.
   */
  close(deadlineMs: number = this.options.config.shutdownMs): Promise<void> {
    this.closing ??= (async () => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      if (this.sweeper) clearInterval(this.sweeper);
      const timer = setTimeout(() => this.abort.abort(), deadlineMs);
      await Promise.all(this.workers.map((worker) => worker.close()));
      clearTimeout(timer);
      this.retries.stop();
      await closeAdapters(this.adapters);
      await unregister(this.redis, this.keys, this.id).catch(() => {});
      await this.queues.close();
      await this.redis.quit().catch(() => this.redis.disconnect());
      this.logger.info('worker stopped');
    })();
    return this.closing;
  }
}
