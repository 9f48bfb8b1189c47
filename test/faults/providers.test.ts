import { afterEach, describe, expect, it } from 'vitest';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';
import { PushService, vapidEnv, type TestBrowser } from '../helpers/push-service.js';
import type { ScriptedAnswer } from '../helpers/http-double.js';

let cluster: FaultCluster | undefined;
let push: PushService | undefined;
afterEach(async () => {
  await cluster?.close();
  await push?.close();
  cluster = push = undefined;
});

const PER_CHANNEL = 100;

interface Outcome {
  gotify: { delivered: number; failed: number; expired: number; lost: number; maxRequestsPerNotification: number };
  webpushDelivered: number;
  /** Slowest enqueue → push-service time of the Web Push notifications. */
  webpushMaxLatencyMs: number;
}

/**
 * Sends Gotify and Web Push notifications side by side while Gotify misbehaves, and reports how
 * each channel fared: Gotify's notifications must end within bounded retries, and Web Push's must
 * not wait for Gotify (separate queues).
 */
async function misbehave(
  name: string,
  gotify: { script?: ScriptedAnswer[]; fallback: ScriptedAnswer; notification?: Record<string, unknown> },
  env: Record<string, string>,
  settleMs: number,
): Promise<Outcome> {
  const vapid = vapidEnv();
  push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
  cluster = await FaultCluster.start({
    env: { ...vapid, HERALD_ALLOW_PRIVATE_ENDPOINTS: '1', HERALD_MAX_ATTEMPTS: '3', HERALD_PROVIDER_TIMEOUT_MS: '1000', ...env },
  });
  cluster.gotify.fallback = gotify.fallback;
  if (gotify.script) cluster.gotify.answer(...gotify.script);
  cluster.worker(20);
  const browser: TestBrowser = push.browser();
  const started = Date.now();
  const gotifyIds = await cluster.enqueue(PER_CHANNEL, `${name}-g`, gotify.notification);
  const pushIds = await cluster.enqueue(PER_CHANNEL, `${name}-w`, { channels: ['webpush'], targets: { webpush: [browser.subscription] } });
  const pushTally = await cluster.settle(pushIds, 30_000);
  const webpushMaxLatencyMs = Math.max(...push.received.map((r) => r.at - started));
  const gotifyTally = await cluster.settle(gotifyIds, settleMs);
  const perNotification = new Map<string, number>();
  for (const request of cluster.gotify.requests) {
    const id = (JSON.parse(request.body.toString()) as { extras: { 'herald::notification': { id: string } } }).extras['herald::notification'].id;
    perNotification.set(id, (perNotification.get(id) ?? 0) + 1);
  }
  expect(push.received.every((r) => r.problems.length === 0)).toBe(true);
  return {
    gotify: {
      delivered: gotifyTally.delivered,
      failed: gotifyTally.failed,
      expired: gotifyTally.expired,
      lost: gotifyTally.lost,
      maxRequestsPerNotification: Math.max(...perNotification.values()),
    },
    webpushDelivered: pushTally.delivered,
    webpushMaxLatencyMs,
  };
}

function report(scenario: string, faults: string, outcome: Outcome, notes: string): void {
  record({
    scenario,
    load: `${PER_CHANNEL} Gotify + ${PER_CHANNEL} Web Push`,
    faults,
    notifications: PER_CHANNEL * 2,
    delivered: outcome.gotify.delivered + outcome.webpushDelivered,
    lost: outcome.gotify.lost,
    duplicated: 0,
    notes: `${notes}; Web Push all in ${outcome.webpushMaxLatencyMs} ms`,
  });
}

describe('a misbehaving provider', () => {
  it('flapping (fails, then recovers): retried within the attempt limit, all delivered', async () => {
    const outcome = await misbehave('flap', { script: Array.from({ length: 150 }, () => ({ status: 503 })), fallback: { status: 200 } }, {}, 60_000);
    report('Gotify flaps (150 × 503, then 200)', 'provider errors', outcome, `at most ${outcome.gotify.maxRequestsPerNotification} tries per notification`);
    expect(outcome.gotify.delivered).toBe(PER_CHANNEL);
    expect(outcome.gotify.maxRequestsPerNotification).toBeLessThanOrEqual(3);
    expect(outcome.webpushDelivered).toBe(PER_CHANNEL);
  });

  it('hanging (never answers): deadlines fire, retried until the ttl, then expired, none dead-lettered; Web Push unaffected', async () => {
    const ttlSeconds = 8;
    const outcome = await misbehave('hang', { fallback: { hang: true }, notification: { ttlSeconds } }, {}, 60_000);
    report(
      'Gotify hangs (no answer)',
      '1 s deadline per request',
      outcome,
      `${outcome.gotify.expired} expired at their ${ttlSeconds} s ttl after up to ${outcome.gotify.maxRequestsPerNotification} tries, none dead-lettered`,
    );
    expect(outcome.gotify.expired).toBe(PER_CHANNEL);
    expect(outcome.gotify.failed).toBe(0);
    expect(outcome.gotify.lost).toBe(0);
    // Each try ends at its 1 s deadline and starts before the expiry: at most ttl / 1 s + 1 of them.
    expect(outcome.gotify.maxRequestsPerNotification).toBeLessThanOrEqual(ttlSeconds + 1);
    expect(outcome.webpushDelivered).toBe(PER_CHANNEL);
    // Web Push did not wait for Gotify's deadlines (3 tries × 1 s each, 100 notifications).
    expect(outcome.webpushMaxLatencyMs).toBeLessThan(5000);
  });

  it('slow (800 ms answers): delivered once each, nothing retried', async () => {
    // Slow, yet well inside the deadline: an answer that comes at 800 ms of a 1 s deadline is cut
    // off whenever the machine is busy, which would test the machine rather than Herald.
    const outcome = await misbehave('slow', { fallback: { status: 200, delayMs: 800 } }, { HERALD_PROVIDER_TIMEOUT_MS: '5000' }, 60_000);
    report('Gotify answers in 800 ms', 'slow provider', outcome, 'no retries');
    expect(outcome.gotify.delivered).toBe(PER_CHANNEL);
    expect(outcome.gotify.maxRequestsPerNotification).toBe(1);
    expect(outcome.webpushDelivered).toBe(PER_CHANNEL);
  });

  it('rate limiting (429 with Retry-After): waits as told, then delivers', async () => {
    const outcome = await misbehave(
      'limit',
      { script: Array.from({ length: 50 }, () => ({ status: 429, headers: { 'retry-after': '1' } })), fallback: { status: 200 } },
      {},
      60_000,
    );
    report('Gotify answers 429, Retry-After: 1', 'rate limiting', outcome, 'retried after the advertised delay');
    expect(outcome.gotify.delivered).toBe(PER_CHANNEL);
    expect(outcome.webpushDelivered).toBe(PER_CHANNEL);
  });
});
