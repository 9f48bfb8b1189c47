import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { LATENCY_BOUNDS_SECONDS } from '../../src/stats/metrics.js';
import type { Status } from '../../src/types.js';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { parsePrometheusText, sampleValue, type Family } from '../helpers/prometheus-text.js';

let h: Harness;
afterEach(async () => h?.close());

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

async function scrape(app: FastifyInstance): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: admin });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: res.body, families: parsePrometheusText(res.body) };
}

/** The deployment-wide part of a scrape: every herald_* sample, in order. */
function heraldSamples(families: Map<string, Family>): string[] {
  return [...families.values()]
    .filter((f) => f.name.startsWith('herald_'))
    .flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`));
}

describe('GET /metrics', () => {
  it('exposes deployment-wide counters, latency histogram and gauges in Prometheus text format', async () => {
    h = await Harness.create();
    await h.register('u-1', 'u-2', 'u-3', 'u-4');
    h.gotify.respond = (request) => {
      const message = String(JSON.parse(request.body.toString()).message);
      return message === 'refuse'
        ? { status: 401 }
        : message === 'flaky' && h.gotify.requests.filter((r) => r.body.includes('flaky')).length === 1
          ? { status: 502 }
          : undefined;
    };
    const worker = await h.startWorker(['gotify', 'email']);
    const results = await h.herald.notifyMany([
      { to: 'u-1', message: 'one', channels: ['gotify'] },
      { to: 'u-2', message: 'two', channels: ['gotify'] },
      { to: 'u-3', message: 'flaky', channels: ['gotify'] },
      // Email is not configured: it is skipped, then Gotify refuses for good.
      { to: 'u-4', message: 'refuse', channels: ['email', 'gotify'] },
    ]);
    const finals: Status[] = [];
    for (const r of results) if ('id' in r) finals.push(await h.waitForStatus(r.id, (s) => ['delivered', 'failed'].includes(s.status)));
    expect(finals.map((s) => s.status)).toEqual(['delivered', 'delivered', 'delivered', 'failed']);

    const app = await h.app();
    const { text, families } = await until(
      () => scrape(app),
      ({ families: f }) => sampleValue(f, 'herald_queue_jobs', { queue: 'deliver-gotify', state: 'active' }) === 0,
    );
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(families, name, labels);

    expect(families.get('herald_notifications_accepted_total')?.type).toBe('counter');
    expect(value('herald_notifications_accepted_total')).toBe(4);
    expect(value('herald_notifications_ended_total', { status: 'delivered' })).toBe(3);
    expect(value('herald_notifications_ended_total', { status: 'failed' })).toBe(1);
    expect(value('herald_notifications_ended_total', { status: 'expired' })).toBe(0);
    expect(value('herald_delivery_attempts_total', { channel: 'gotify', outcome: 'delivered' })).toBe(3);
    expect(value('herald_delivery_attempts_total', { channel: 'gotify', outcome: 'transient' })).toBe(1);
    expect(value('herald_delivery_attempts_total', { channel: 'gotify', outcome: 'permanent' })).toBe(1);
    expect(value('herald_delivery_attempts_total', { channel: 'gotify', outcome: 'gone' })).toBe(0);
    expect(value('herald_delivery_attempts_total', { channel: 'email', outcome: 'delivered' })).toBe(0);
    expect(value('herald_channel_skips_total', { channel: 'email' })).toBe(1);
    expect(families.get('herald_skips_total')?.type).toBe('counter');
    expect(families.get('herald_skips_total')?.samples.map((s) => [s.labels.reason, s.value])).toEqual([['HERALD_CHANNEL_DISABLED', 1]]);
    // Every request the double saw is one attempt.
    const attempts = families
      .get('herald_delivery_attempts_total')!
      .samples.filter((s) => s.labels.channel === 'gotify')
      .reduce((sum, s) => sum + s.value, 0);
    expect(attempts).toBe(h.gotify.requests.length);

    expect(families.get('herald_delivery_latency_seconds')?.type).toBe('histogram');
    expect(value('herald_delivery_latency_seconds_count', { channel: 'gotify' })).toBe(3);
    expect(value('herald_delivery_latency_seconds_bucket', { channel: 'gotify', le: '+Inf' })).toBe(3);
    expect(families.get('herald_delivery_latency_seconds')!.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.channel === 'gotify')).toHaveLength(
      LATENCY_BOUNDS_SECONDS.length + 1,
    );
    const exactSeconds = finals
      .filter((s) => s.status === 'delivered')
      .map((s) => (Date.parse(s.attempts.find((a) => a.outcome === 'delivered')!.at) - Date.parse(s.createdAt)) / 1000);
    expect(value('herald_delivery_latency_seconds_sum', { channel: 'gotify' })).toBeCloseTo(
      exactSeconds.reduce((a, b) => a + b, 0),
      2,
    );
    // Each `le` counts every latency up to le/1.1 for sure, and none above le.
    for (const le of LATENCY_BOUNDS_SECONDS) {
      const counted = value('herald_delivery_latency_seconds_bucket', { channel: 'gotify', le: String(le) })!;
      expect(counted, `le=${le}`).toBeGreaterThanOrEqual(exactSeconds.filter((x) => x <= le / 1.1).length);
      expect(counted, `le=${le}`).toBeLessThanOrEqual(exactSeconds.filter((x) => x <= le).length);
    }
    expect(value('herald_delivery_latency_seconds_count', { channel: 'webpush' })).toBe(0);

    expect(families.get('herald_queue_jobs')?.type).toBe('gauge');
    for (const queue of ['deliver-gotify', 'deliver-webpush', 'deliver-email']) {
      for (const state of ['waiting', 'active', 'delayed']) expect(value('herald_queue_jobs', { queue, state }), `${queue} ${state}`).toBe(0);
    }
    expect(value('herald_dead_letters')).toBe(1);
    expect(value('herald_workers_alive')).toBe(1);
    expect(value('herald_channel_workers_alive', { channel: 'gotify' })).toBe(1);
    expect(value('herald_channel_workers_alive', { channel: 'webpush' })).toBe(0);
    // Process metrics of the API process itself.
    expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(families.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
    expect(text).not.toContain(worker.id);
  });

  it('shows queued work and gives the same figures from two apps; counters never go down when time buckets expire', async () => {
    h = await Harness.create();
    // No worker: the notifications wait in the queues.
    await h.herald.notifyMany([
      { to: 'a', message: 'x', channels: ['gotify'] },
      { to: 'b', message: 'y', channels: ['email'] },
      { to: 'c', message: 'z', channels: ['gotify'], delayMs: 60_000 },
    ]);
    const one = await h.app();
    const other = await h.otherApp();
    const first = await scrape(one);
    expect(sampleValue(first.families, 'herald_queue_jobs', { queue: 'deliver-gotify', state: 'waiting' })).toBe(1);
    expect(sampleValue(first.families, 'herald_queue_jobs', { queue: 'deliver-gotify', state: 'delayed' })).toBe(1);
    expect(sampleValue(first.families, 'herald_queue_jobs', { queue: 'deliver-email', state: 'waiting' })).toBe(1);
    expect(sampleValue(first.families, 'herald_notifications_accepted_total')).toBe(3);
    expect(heraldSamples((await scrape(other)).families)).toEqual(heraldSamples(first.families));

    // Minute and hour buckets expire; the totals behind the counters do not.
    const redis = await h.herald.connection();
    const buckets = await redis.keys(`${h.prefix}:stats:[mh]:*`);
    expect(buckets.length).toBeGreaterThan(0);
    await redis.del(...buckets);
    expect(sampleValue((await scrape(one)).families, 'herald_notifications_accepted_total')).toBe(3);
    expect((await h.herald.stats(60)).notifications.accepted).toBe(0);
  });

  it('needs the admin scope', async () => {
    h = await Harness.create();
    const app = await h.app();
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${PUBLISH_KEY}` } })).statusCode).toBe(403);
  });
});
