import { describe, expect, it } from 'vitest';
import { webhookAttempts, webhookDelayMs, webhookJobId, type WebhookRetryPolicy } from '../../src/queue/webhook-queue.js';
import { ENV } from '../../src/defaults.js';
import { validateWebhookInput } from '../../src/sdk/webhook-input.js';
import type { HeraldError } from '../../src/errors.js';

const DEFAULTS: WebhookRetryPolicy = {
  backoffMs: ENV.HERALD_EVENT_WEBHOOK_BACKOFF_MS.default,
  backoffMaxMs: ENV.HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS.default,
  retrySeconds: ENV.HERALD_EVENT_WEBHOOK_RETRY_SECONDS.default,
};

/** The waits between the tries of one delivery, in ms. */
function schedule(policy: WebhookRetryPolicy): number[] {
  return Array.from({ length: webhookAttempts(policy) - 1 }, (_, i) => webhookDelayMs(i + 1, policy));
}

describe('the event webhook retry schedule', () => {
  it('at the defaults: 10 s doubling to a 1 h cap, 33 tries over at least 24 h and not one more than needed', () => {
    const waits = schedule(DEFAULTS);
    expect(waits.slice(0, 10)).toEqual([10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600].map((s) => s * 1000));
    expect(waits).toHaveLength(32);
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(86_400_000);
    expect(total - waits.at(-1)!).toBeLessThan(86_400_000);
  });

  it('reaches the retry window for any policy, with a bounded count even when the cap is tiny', () => {
    for (const policy of [
      { backoffMs: 1, backoffMaxMs: 1, retrySeconds: 60 },
      { backoffMs: 20, backoffMaxMs: 100, retrySeconds: 86_400 },
      { backoffMs: 3_600_000, backoffMaxMs: 86_400_000, retrySeconds: 30 * 86_400 },
      { backoffMs: 1000, backoffMaxMs: 1000, retrySeconds: 1 },
    ]) {
      const waits = schedule(policy);
      const total = waits.reduce((a, b) => a + b, 0);
      expect(total, JSON.stringify(policy)).toBeGreaterThanOrEqual(policy.retrySeconds * 1000);
      expect(total - (waits.at(-1) ?? 0), JSON.stringify(policy)).toBeLessThan(policy.retrySeconds * 1000);
    }
    expect(webhookDelayMs(5000, { backoffMs: 1000, backoffMaxMs: 5000 })).toBe(5000);
  });

  it('names a job by event and endpoint, without the colon BullMQ refuses in custom ids', () => {
    expect(webhookJobId('1764511200000-3', 'wh_ab')).toBe('1764511200000-3.wh_ab');
  });
});

describe('the body of POST /v1/webhooks', () => {
  const fields = (body: unknown) => {
    try {
      validateWebhookInput(body);
      return [];
    } catch (err) {
      return (err as HeraldError).details.map((d) => d.field);
    }
  };
  it('takes event types or ["*"], and names every bad field', () => {
    expect(validateWebhookInput({ url: 'https://a.example/x', events: ['notification.failed', 'notification.failed'] })).toEqual({
      url: 'https://a.example/x',
      events: ['notification.failed'],
    });
    expect(fields({ url: 'https://a.example/x', events: ['*'] })).toEqual([]);
    expect(fields({ url: '', events: ['inbox.read', 'nope'], extra: 1 })).toEqual(['extra', 'url', 'events.1']);
    expect(fields(null)).toEqual(['']);
  });
});
