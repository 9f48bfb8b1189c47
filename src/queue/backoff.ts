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

/** Thrown by the processor to have BullMQ run the job again after `delayMs`. */
export class RetryLaterError extends Error {
  readonly delayMs: number;
  constructor(code: string, delayMs: number) {
    super(`${code}: retrying in ${delayMs} ms`);
    this.name = 'RetryLaterError';
    this.delayMs = delayMs;
  }
}

/** BullMQ backoff strategy: the processor already chose the delay and put it on the error. */
export function heraldBackoffStrategy(_attemptsMade: number, _type?: string, err?: Error): number {
  return err instanceof RetryLaterError ? err.delayMs : 1000;
}
