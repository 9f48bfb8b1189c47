/**
 * The event webhook queue: one BullMQ job per (event, endpoint), apart from the channels' queues,
 * so a dead or slow endpoint backs up only its own jobs and never a notification's delivery.
 *
 * A job's id is `<event id>.<endpoint id>` (BullMQ refuses a `:` in custom ids): the dispatcher may
 * add the same event twice (it re-reads entries a killed worker never acknowledged), and a second
 * add of a job that is still waiting or retrying is a no-op. The job carries the whole event, so
 * its retries do not depend on the capped event stream still holding it.
 *
 * Retries are BullMQ's own (attempts and a custom backoff): try n+1 waits
 * min(backoffMs × 2^(n-1), backoffMaxMs) after try n fails, and a job gets as many tries as it
 * takes for the waits to add up to at least retrySeconds (webhookAttempts).
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/client.js';
import { Keys } from '../store/keys.js';
import type { HeraldEvent } from '../types.js';

export interface WebhookJobData {
  endpointId: string;
  event: HeraldEvent;
}

export interface WebhookRetryPolicy {
  /** Wait before the second try, in ms (HERALD_EVENT_WEBHOOK_BACKOFF_MS); it doubles at each try. */
  backoffMs: number;
  /** Longest wait between two tries, in ms (HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS). */
  backoffMaxMs: number;
  /** The waits of one delivery add up to at least this many seconds before it is given up (HERALD_EVENT_WEBHOOK_RETRY_SECONDS). */
  retrySeconds: number;
}

export const WEBHOOK_JOB_NAME = 'event';
/** Name of the backoff strategy of the webhook queue's jobs (webhookBackoffStrategy). */
export const WEBHOOK_BACKOFF_TYPE = 'webhook';

/** The wait after the `failedTries`-th failed try (1, 2, …), in ms. */
export function webhookDelayMs(failedTries: number, policy: Pick<WebhookRetryPolicy, 'backoffMs' | 'backoffMaxMs'>): number {
  // 2^52 and beyond is past any cap; the exponent is bounded so the product stays finite.
  return Math.min(policy.backoffMs * 2 ** Math.min(Math.max(failedTries - 1, 0), 52), policy.backoffMaxMs);
}

/** Tries one delivery gets: the fewest whose waits in between add up to retrySeconds or more. */
export function webhookAttempts(policy: WebhookRetryPolicy): number {
  const targetMs = policy.retrySeconds * 1000;
  let waitedMs = 0;
  let tries = 1;
  // Doubling phase: at most ~53 steps before the cap is reached.
  while (waitedMs < targetMs) {
    const delayMs = webhookDelayMs(tries, policy);
    if (delayMs >= policy.backoffMaxMs) {
      // Capped from here on: the rest is a division, not a loop.
      return tries + Math.ceil((targetMs - waitedMs) / policy.backoffMaxMs);
    }
    waitedMs += delayMs;
    tries++;
  }
  return tries;
}

/** The job id of an event's delivery to an endpoint. */
export function webhookJobId(eventId: string, endpointId: string): string {
  return `${eventId}.${endpointId}`;
}

export class WebhookQueue {
  readonly queue: Queue<WebhookJobData>;
  private readonly jobOptions: JobsOptions;

  constructor(connection: RedisClient, prefix: string, policy: WebhookRetryPolicy) {
    this.jobOptions = {
      attempts: webhookAttempts(policy),
      backoff: { type: WEBHOOK_BACKOFF_TYPE },
      removeOnComplete: true,
      // A delivery given up on is kept a week, so an operator can find it (docs/operations.md).
      removeOnFail: { age: 7 * 86_400 },
    };
    this.queue = new Queue<WebhookJobData>(Keys.webhookQueueName, { connection, prefix });
    this.queue.on('error', () => {});
  }

  /** Adds one job per delivery, in one round trip; a delivery whose job is still queued is not added twice. */
  async add(deliveries: readonly WebhookJobData[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.queue.addBulk(
      deliveries.map((data) => ({ name: WEBHOOK_JOB_NAME, data, opts: { ...this.jobOptions, jobId: webhookJobId(data.event.id, data.endpointId) } })),
    );
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
