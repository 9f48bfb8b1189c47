/**
 * One BullMQ queue per channel, so a slow or failing provider only backs up its own queue. A job
 * carries just the notification id, the recipient id and the job token; everything else is read
 * from the status record when the job runs, so a replay or an edited recipient takes effect.
 */
import { Job, Queue, type JobsOptions } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import { CHANNEL_NAMES, type ChannelName } from '../types.js';
import { Keys } from '../registry/keys.js';

export interface DeliveryJobData {
  id: string;
  token: string;
  to?: string;
}

/**
 * BullMQ's own retry counter is only a backstop: the processor decides when a channel is spent
 * (HERALD_MAX_ATTEMPTS, read by the worker), so the job may be retried up to this many times.
 */
export const JOB_ATTEMPTS_CEILING = 1000;
export const JOB_NAME = 'deliver';
/** Name of the custom backoff strategy; workers compute the delay in the processor. */
export const BACKOFF_TYPE = 'herald';

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: JOB_ATTEMPTS_CEILING,
  backoff: { type: BACKOFF_TYPE },
  removeOnComplete: true,
  // The processor never lets a job fail on purpose; a job that still fails (a worker that kept
  // dying on it) is kept for a week so it can be found.
  removeOnFail: { age: 7 * 86_400 },
};

/** Minimal view of BullMQ's client wrapper: enough to open a transaction on it. */
interface TransactionClient {
  multi(): ChainableCommander;
}

export class ChannelQueues {
  readonly queues: Record<ChannelName, Queue<DeliveryJobData>>;
  private clientPromise?: Promise<TransactionClient>;

  constructor(connection: Redis, prefix: string) {
    const entries = CHANNEL_NAMES.map((channel) => [
      channel,
      new Queue<DeliveryJobData>(Keys.queueName(channel), { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }),
    ]);
    this.queues = Object.fromEntries(entries) as Record<ChannelName, Queue<DeliveryJobData>>;
    for (const queue of Object.values(this.queues)) queue.on('error', () => {});
  }

  /** A transaction on the queues' shared connection; Herald's scripts are defined on it. */
  async multi(): Promise<ChainableCommander> {
    // All queues share one connection, so any queue's client opens the transaction.
    this.clientPromise ??= this.queues.gotify.backend.client as unknown as Promise<TransactionClient>;
    const client = await this.clientPromise;
    return client.multi();
  }

  /**
   * Queues the insertion of a delivery job on `tx`. BullMQ's `Job#addJob` accepts a transaction,
   * which is what lets a job be added in the same MULTI as its status record change.
   */
  queueAdd(tx: ChainableCommander, channel: ChannelName, data: DeliveryJobData, delayMs: number): void {
    const opts: JobsOptions = { ...DEFAULT_JOB_OPTIONS };
    if (delayMs > 0) opts.delay = Math.ceil(delayMs);
    const job = new Job<DeliveryJobData>(this.queues[channel], JOB_NAME, data, opts);
    // The command is queued synchronously; the promise settles with the transaction.
    void job.addJob(tx as never).catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((queue) => queue.close()));
  }
}
