/**
 * A delivery worker process's runtime: in each shard it serves (its cells, see src/shards.ts), one
 * BullMQ Worker per channel it serves, all sharing the cell's processor, and one more for the
 * fan-out pages of topic notifications (every worker process runs them, whatever its channels);
 * a heartbeat that tells the stats API which workers are alive, and
 * a graceful shutdown that stops fetching, lets in-flight deliveries finish, and hands back those
 * that do not finish within the deadline. It is handed everything it runs on (run/workers.ts builds it
 * from the configuration), so it reads no settings of its own.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { RedisClient } from '../redis/client.js';
import type { Logger } from '../logger.js';
import type { ChannelName } from '../types.js';
import { closeAdapters } from '../channels/index.js';
import type { ChannelAdapters } from '../channels/types.js';
import { Keys } from '../store/keys.js';
import { beat, HEARTBEAT_INTERVAL_MS, unregister } from '../store/workers.js';
import { itemsOf, type ChannelQueues, type DeliveryJobData, type FanOutJobData } from '../queue/queues.js';
import type { DeliveryProcessor, DeliveryReport } from './processor.js';
import type { FanOutRunner } from './fan-out.js';
import { heraldBackoffStrategy } from './backoff.js';
import { FetchLimit } from './fetch-limit.js';
import { RetrySummary } from './retry-summary.js';
import type { WebhookRuntime } from './webhook-runtime.js';

export { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_SECONDS } from '../store/workers.js';
/** How often a worker looks for jobs BullMQ failed by itself (see DeliveryProcessor#abandon). */
export const SWEEP_INTERVAL_MS = 60_000;
/**
 * Fan-out pages one worker process runs at once. A topic's pages follow one another (each queues
 * the next), so this is how many topics one process fans out side by side.
 */
export const FAN_OUT_CONCURRENCY = 2;

/** One shard a worker serves: its keys, queues, processor and fan-out, under the shard's prefix. */
export interface WorkerCell {
  shard: number;
  /** The shard's key prefix (BullMQ's queues take it too). */
  prefix: string;
  keys: Keys;
  queues: ChannelQueues;
  processor: DeliveryProcessor;
  fanOut: FanOutRunner;
}

/** What a worker runtime runs on; it owns all of it and releases it on close(). */
export interface WorkerRuntimeDeps {
  /** The `worker`-profile connection its BullMQ workers, queues and stores share, in every cell. */
  redis: RedisClient;
  /** The channel adapters, shared by every cell. */
  adapters: ChannelAdapters;
  logger: Logger;
  /** The shards it serves, in order. */
  cells: readonly WorkerCell[];
  /**
   * The event webhooks, whatever the process's channels: a dispatcher per shard served (of its event
   * log) and the sender of the deployment's webhook queue; absent when HERALD_EVENT_WEBHOOK_CONCURRENCY is 0.
   */
  webhooks?: WebhookRuntime;
}

export interface WorkerRuntimeSettings {
  channels: readonly ChannelName[];
  /** Deliveries run at once, per channel. */
  concurrency: Readonly<Record<ChannelName, number>>;
  /** How long a claim on a job lasts unrenewed (HERALD_JOB_LOCK_MS). */
  jobLockMs: number;
  /** Graceful shutdown deadline (HERALD_SHUTDOWN_MS). */
  shutdownMs: number;
}

export class WorkerRuntime {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly workers: Worker<DeliveryJobData | FanOutJobData>[] = [];
  /** Aborted at the shutdown deadline; every in-flight provider request listens to it. */
  private readonly abort = WorkerRuntime.shutdownController();
  private heartbeat?: NodeJS.Timeout;
  private sweeper?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private readonly logger: Logger;
  private readonly retries: RetrySummary;

  constructor(
    private readonly deps: WorkerRuntimeDeps,
    private readonly settings: WorkerRuntimeSettings,
  ) {
    // Every line this runtime and its deliveries log says which worker wrote it.
    this.logger = deps.logger.child({ workerId: this.id });
    this.retries = new RetrySummary(this.logger);
  }

  private static shutdownController(): AbortController {
    const controller = new AbortController();
    // One listener per in-flight delivery (up to the concurrency), removed when it ends: not a leak.
    setMaxListeners(0, controller.signal);
    return controller;
  }

  /** Starts fetching jobs, the heartbeat and the sweep of jobs BullMQ failed by itself. */
  async start(): Promise<this> {
    this.startWorkers();
    this.retries.start();
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => {}), HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
    return this;
  }

  private startWorkers(): void {
    const { logger, settings } = this;
    for (const cell of this.deps.cells) this.startCell(cell);
    this.deps.webhooks?.start(this.abort.signal);
    logger.info({ channels: settings.channels, concurrency: settings.concurrency, shards: this.shards }, 'worker started');
  }

  /** The shards this runtime serves. */
  get shards(): number[] {
    return this.deps.cells.map((cell) => cell.shard);
  }

  private startCell(cell: WorkerCell): void {
    const { logger, settings } = this;
    const { redis } = this.deps;
    const { processor, prefix } = cell;
    for (const channel of settings.channels) {
      const fetchLimit = new FetchLimit(settings.concurrency[channel]);
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
          connection: redis,
          prefix,
          concurrency: settings.concurrency[channel],
          settings: { backoffStrategy: heraldBackoffStrategy },
          // A job whose worker died is picked up again once its lock expires (checked as often);
          // a few stalls are tolerated before BullMQ gives up on it.
          lockDuration: settings.jobLockMs,
          stalledInterval: settings.jobLockMs,
          maxStalledCount: 5,
        },
      );
      worker.on('error', (err) => logger.warn({ err, channel, shard: cell.shard }, 'worker connection problem'));
      this.workers.push(worker as Worker<DeliveryJobData | FanOutJobData>);
    }
    this.startFanOut(cell);
  }

  /**
   * The fan-out pages. A page is one transaction: a worker stopped or killed mid-page leaves the
   * page's job to run again (on the same token), and one stopped between pages leaves the next
   * page's job queued, so shutdown needs nothing more than BullMQ's own.
   */
  private startFanOut(cell: WorkerCell): void {
    const { logger, settings } = this;
    const { redis } = this.deps;
    const { fanOut, prefix } = cell;
    const worker = new Worker<FanOutJobData>(
      Keys.fanOutQueueName,
      async (job: Job<FanOutJobData>) => {
        try {
          const report = await fanOut.runPage(job.data);
          if (logger.isLevelEnabled('debug'))
            logger.debug({ notificationId: report.id, outcome: report.outcome, written: report.written }, 'fan-out page done');
          return report.written;
        } catch (err) {
          logger.error({ err, notificationId: job.data.id }, 'fan-out page failed');
          throw err;
        }
      },
      {
        connection: redis,
        prefix,
        concurrency: FAN_OUT_CONCURRENCY,
        settings: { backoffStrategy: heraldBackoffStrategy },
        lockDuration: settings.jobLockMs,
        stalledInterval: settings.jobLockMs,
        maxStalledCount: 5,
      },
    );
    worker.on('error', (err) => logger.warn({ err, queue: Keys.fanOutQueueName }, 'worker connection problem'));
    this.workers.push(worker as Worker<DeliveryJobData | FanOutJobData>);
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
    for (const cell of this.deps.cells) swept += await this.sweepCell(cell);
    return swept;
  }

  private async sweepCell(cell: WorkerCell): Promise<number> {
    let swept = 0;
    for (const channel of this.settings.channels) {
      const queue = cell.queues.queues[channel];
      const failed = await queue.getFailed(0, 99);
      for (const job of failed) {
        if (!job?.id) continue;
        const reports = await cell.processor.abandon(channel, job.data, job.failedReason ?? 'failed by the queue');
        for (const report of reports.filter((r) => r.outcome === 'dead-lettered')) {
          swept++;
          this.logger.warn({ notificationId: report.id, channel, reason: job.failedReason }, 'abandoned job dead-lettered');
        }
        await queue.remove(job.id);
      }
    }
    return swept;
  }

  /** The periodic sweep of jobs BullMQ failed by itself; a failed sweep is tried again at the next. */
  private async sweep(): Promise<void> {
    await this.sweepFailedJobs().catch(() => {});
    await this.retryFailedFanOutPages().catch(() => {});
  }

  /**
   * Puts the fan-out pages BullMQ failed by itself (their worker kept dying on them, or Redis kept
   * refusing their commit) back in the queue with their attempts reset, until the fan-out is done:
   * a page job is idempotent (only the holder of the topic notification's token acts, and a
   * canceled one writes nothing), so running it again can only finish the fan-out, never repeat a
   * page or notify a member twice.
   */
  async retryFailedFanOutPages(): Promise<number> {
    let retried = 0;
    for (const cell of this.deps.cells) retried += await this.retryCellFanOutPages(cell);
    return retried;
  }

  private async retryCellFanOutPages(cell: WorkerCell): Promise<number> {
    const failed = await cell.queues.fanOut.getFailed(0, 99);
    let retried = 0;
    for (const job of failed) {
      if (!job?.id) continue;
      try {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } catch {
        // Another worker's sweep has just put it back.
        continue;
      }
      retried++;
      this.logger.warn({ notificationId: job.data.id, reason: job.failedReason }, 'failed fan-out page queued again');
    }
    return retried;
  }

  /** Records this worker as alive, with its channels and shards, in every shard it serves, for the stats API. */
  private async beat(): Promise<void> {
    const { shards } = this;
    await Promise.all(this.deps.cells.map((cell) => beat(this.deps.redis, cell.keys, this.id, this.settings.channels, shards)));
  }

  /**
   * Stops fetching, waits for in-flight deliveries up to `deadlineMs`, then aborts the rest: an
   * aborted delivery is handed back to the queue and retried later, never dropped.
   */
  close(deadlineMs: number = this.settings.shutdownMs): Promise<void> {
    this.closing ??= (async () => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      if (this.sweeper) clearInterval(this.sweeper);
      const timer = setTimeout(() => this.abort.abort(), deadlineMs);
      const { adapters, redis, cells } = this.deps;
      await Promise.all([...this.workers.map((worker) => worker.close()), this.deps.webhooks?.close()]);
      clearTimeout(timer);
      this.retries.stop();
      await closeAdapters(adapters);
      await Promise.all(cells.map((cell) => unregister(redis, cell.keys, this.id).catch(() => {})));
      await Promise.all(cells.map((cell) => cell.queues.close()));
      await redis.quit().catch(() => redis.disconnect());
      this.logger.info('worker stopped');
    })();
    return this.closing;
  }
}
