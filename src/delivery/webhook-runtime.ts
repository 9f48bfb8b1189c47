/**
 * The event webhooks of a worker process: the dispatcher (event log → webhook queue) and the
 * BullMQ worker of the webhook queue (one signed POST per job). Its own queue, its own worker
 * slots (HERALD_EVENT_WEBHOOK_CONCURRENCY) and per-endpoint slots (webhook-sender.ts): a dead or slow
 * endpoint never takes a slot a notification's delivery needs, and never more than its share of
 * the webhook slots.
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../redis/client.js';
import type { Logger } from '../logger.js';
import { Keys } from '../store/keys.js';
import { DeliveryError } from '../channels/types.js';
import { webhookDelayMs, type WebhookJobData, type WebhookQueue, type WebhookRetryPolicy } from '../queue/webhook-queue.js';
import type { WebhookDispatcher } from './webhook-dispatcher.js';
import type { WebhookOutcome, WebhookSender } from './webhook-sender.js';

/**
 * How long a delivery whose endpoint has no free slot waits before it is fetched again, in ms: this
 * much and up to as much again at random, so the deliveries of a slow endpoint do not all come
 * back at once.
 */
export const ENDPOINT_BUSY_DELAY_MS = 500;

export interface WebhookRuntimeSettings {
  prefix: string;
  /** Webhook deliveries one worker process runs at once (HERALD_EVENT_WEBHOOK_CONCURRENCY). */
  concurrency: number;
  retry: WebhookRetryPolicy;
  jobLockMs: number;
}

export class WebhookRuntime {
  private worker?: Worker<WebhookJobData, WebhookOutcome>;

  constructor(
    /** `dispatchers`: one per event log read (a shard's), all feeding the one queue. */
    private readonly deps: { redis: RedisClient; queue: WebhookQueue; sender: WebhookSender; dispatchers: readonly WebhookDispatcher[]; logger: Logger },
    private readonly settings: WebhookRuntimeSettings,
  ) {}

  /** Starts the dispatcher and the worker; `signal` aborts in-flight requests at the shutdown deadline. */
  start(signal: AbortSignal): this {
    const { sender, logger } = this.deps;
    const { retry } = this.settings;
    this.worker = new Worker<WebhookJobData, WebhookOutcome>(
      Keys.webhookQueueName,
      async (job: Job<WebhookJobData>, token?: string) => {
        let outcome: WebhookOutcome;
        try {
          outcome = await sender.send(job.data, signal);
        } catch (err) {
          // A refused URL will be refused again: no retry. Every other failure retries (the
          // contract: anything but 2xx retries with backoff).
          if (err instanceof DeliveryError && err.kind === 'permanent' && err.code === 'HERALD_WEBHOOK_URL_REFUSED') throw new UnrecoverableError(err.message);
          throw err;
        }
        if (outcome === 'busy') {
          // Not a try: the job goes back, its tries untouched, and the slot serves another endpoint.
          await job.moveToDelayed(Date.now() + ENDPOINT_BUSY_DELAY_MS * (1 + Math.random()), token);
          throw new DelayedError();
        }
        return outcome;
      },
      {
        connection: this.deps.redis,
        prefix: this.settings.prefix,
        concurrency: this.settings.concurrency,
        settings: { backoffStrategy: (failedTries: number) => webhookDelayMs(failedTries, retry) },
        lockDuration: this.settings.jobLockMs,
        stalledInterval: this.settings.jobLockMs,
        maxStalledCount: 5,
      },
    );
    this.worker.on('error', (err) => logger.warn({ err, queue: Keys.webhookQueueName }, 'worker connection problem'));
    this.worker.on('failed', (job, err) => {
      if (!job || err instanceof DelayedError) return;
      const givenUp = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError;
      if (givenUp) logger.warn({ webhookId: job.data.endpointId, eventId: job.data.event.id, err }, 'webhook delivery given up');
    });
    for (const dispatcher of this.deps.dispatchers) dispatcher.start();
    return this;
  }

  /** Stops reading events, then lets in-flight requests end (the caller aborts them at its deadline). */
  async close(): Promise<void> {
    await Promise.all(this.deps.dispatchers.map((dispatcher) => dispatcher.close()));
    await this.worker?.close();
    await this.deps.sender.close();
    await this.deps.queue.close();
  }
}
