/**
 * Retry timing. Exponential backoff with "full jitter" spreads the retries of many notifications
 * that failed together (a provider outage) instead of sending them back in one burst; a provider's
 * own `Retry-After` takes precedence when it gave one.
 */

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `retry` (1 for the first retry): a random value between half and all
 * of `base * 2^(retry-1)`, capped at `maxMs`. Keeping the lower half avoids near-zero delays that
 * would hammer a provider that just failed.
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/**
 * BullMQ backoff strategy for a job whose run threw (Redis went away while its results were being
 * committed): 1 s, doubling, capped at 30 s. Delivery retries do not come here; the processor
 * queues them as new jobs with `backoffDelayMs`.
 */
export function heraldBackoffStrategy(attemptsMade: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attemptsMade - 1));
}
