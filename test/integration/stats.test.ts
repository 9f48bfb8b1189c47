import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ChannelQueues } from '../../src/queue/queues.js';
import { hourIndex, latencyBucket, latencyBucketUpperMs, minuteIndex } from '../../src/store/stats-counters.js';
import { readStats, type Stats } from '../../src/stats/read.js';
import { HEARTBEAT_TTL_SECONDS, HEARTBEAT_INTERVAL_MS } from '../../src/store/workers.js';
import { CHANNEL_NAMES, type NotificationInput, type Status } from '../../src/types.js';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const idle = { waiting: 0, active: 0, delayed: 0 };
const emptyChannel = { attempts: 0, delivered: 0, failedAttempts: 0, permanentFailures: 0, successRate: null, latencyMs: { p50: null, p95: null, p99: null } };

async function getStats(app: FastifyInstance, query = ''): Promise<Stats> {
  const res = await app.inject({ method: 'GET', url: `/v1/stats${query}`, headers: admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Stats;
}

/** The nearest-rank percentile of exact latencies, to compare with the histogram's answer. */
function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.ceil(p * sorted.length) - 1]!;
}

describe('GET /v1/stats', () => {
  it('counts a scripted mix exactly as the Gotify double saw it', async () => {
    h = await Harness.create();
    await h.register('u-0', 'u-1', 'u-2', 'u-3', 'u-4', 'u-5', 'u-r1', 'u-r2', 'u-bad');
    // One notification that expires before any worker runs: it must count as expired, with no attempt.
    const doomed = await h.herald.notify({ to: 'u-0', message: 'expire-me', ttlSeconds: 1 });
    const created = Date.parse((await h.herald.status(doomed.id))!.createdAt);
    await new Promise((r) => setTimeout(r, Math.max(0, created + 1000 - Date.now()) + 5));

    // The double answers by message: ok-* at once, retry-* with one 503 first, refuse with 401.
    const answered: number[] = [];
    const seen = new Map<string, number>();
    h.gotify.respond = (request) => {
      const message = String((JSON.parse(request.body.toString()) as { message: string }).message);
      const count = (seen.get(message) ?? 0) + 1;
      seen.set(message, count);
      const status = message === 'refuse' ? 401 : message.startsWith('retry-') && count === 1 ? 503 : 200;
      answered.push(status);
      return { status, body: status === 200 ? '{"id":1}' : '{"error":"scripted"}' };
    };
    const worker = await h.startWorker();
    const inputs: NotificationInput[] = [
      ...[1, 2, 3, 4, 5].map((n) => ({ to: `u-${n}`, message: `ok-${n}` })),
      ...[1, 2].map((n) => ({ to: `u-r${n}`, message: `retry-${n}` })),
      { to: 'u-bad', message: 'refuse', channels: ['gotify'] },
    ];
    const results = await h.herald.notifyMany(inputs);
    const ids = results.map((r) => ('id' in r ? r.id : ''));
    const finals: Status[] = [];
    for (const id of ids) finals.push(await h.waitForStatus(id, (s) => ['delivered', 'failed'].includes(s.status)));
    await h.waitForStatus(doomed.id, 'expired');

    const app = await h.app();
    // A job is still `active` for a moment after its record ends; wait for the queues to drain.
    const stats = await until(
      () => getStats(app),
      (s) => Object.values(s.queues).every((q) => q.active === 0 && q.waiting === 0 && q.delayed === 0),
    );

    expect(answered).toHaveLength(h.gotify.requests.length);
    const delivered = answered.filter((s) => s === 200).length;
    expect([h.gotify.requests.length, delivered]).toEqual([10, 7]);
    expect(stats.notifications).toEqual({
      accepted: 9,
      delivered: 7,
      failed: 1,
      expired: 1,
      skipped: 0,
      merged: 0,
      canceled: 0,
      successRate: 7 / 8,
      failureRate: 1 / 8,
    });
    const { latencyMs, ...gotify } = stats.channels.gotify;
    expect(gotify).toEqual({
      attempts: h.gotify.requests.length,
      delivered,
      failedAttempts: answered.filter((s) => s !== 200).length,
      permanentFailures: answered.filter((s) => s === 401).length,
      successRate: delivered / h.gotify.requests.length,
    });
    expect(stats.channels.webpush).toEqual(emptyChannel);
    expect(stats.channels.email).toEqual(emptyChannel);
    expect(stats.channels.ntfy).toEqual(emptyChannel);
    expect(stats.channels.webhook).toEqual(emptyChannel);

    // Latency (enqueue → accepted) from the status records, against the histogram: within one 10% bucket.
    const exact = finals
      .filter((s) => s.status === 'delivered')
      .map((s) => Date.parse(s.attempts.find((a) => a.outcome === 'delivered')!.at) - Date.parse(s.createdAt))
      .sort((a, b) => a - b);
    expect(exact).toHaveLength(7);
    for (const [name, p] of [
      ['p50', 0.5],
      ['p95', 0.95],
      ['p99', 0.99],
    ] as const) {
      const truth = exactPercentile(exact, p);
      expect(latencyMs[name]).toBe(Math.round(latencyBucketUpperMs(latencyBucket(truth))));
      expect(latencyMs[name]!).toBeGreaterThanOrEqual(truth);
      expect(latencyMs[name]!).toBeLessThanOrEqual(Math.max(1, truth * 1.1 + 0.5));
    }

    expect(stats.queues).toEqual({
      'deliver-gotify': idle,
      'deliver-webpush': idle,
      'deliver-email': idle,
      'deliver-ntfy': idle,
      'deliver-webhook': idle,
      'deliver-inbox': idle,
      'fan-out': idle,
    });
    expect(stats.deadLetters).toBe(1);
    expect(stats.workers).toEqual([{ id: worker.id, channels: [...CHANNEL_NAMES], lastSeen: expect.any(String), shards: [0] }]);
    expect(Date.now() - Date.parse(stats.workers[0]!.lastSeen)).toBeLessThan(HEARTBEAT_TTL_SECONDS * 1000);
    expect(Date.parse(stats.window.to) - Date.parse(stats.window.from)).toBe(3600 * 1000);
    expect(stats.window.seconds).toBe(3600);

    // The SDK reads the same figures.
    const sdk = await h.herald.stats(3600);
    expect({ ...sdk, window: null }).toEqual({ ...stats, window: null });
  });

  it('gives the same answer from two API processes over three workers', async () => {
    h = await Harness.create();
    await h.register(...Array.from({ length: 12 }, (_, n) => `u-${n}`));
    h.gotify.respond = (request) => (String(JSON.parse(request.body.toString()).message).startsWith('bad') ? { status: 403 } : undefined);
    const workers = [await h.startWorker(['gotify']), await h.startWorker(['gotify', 'email']), await h.startWorker(['webpush'])];
    const results = await h.herald.notifyMany(
      Array.from({ length: 12 }, (_, n) => ({ to: `u-${n}`, message: n % 4 === 0 ? `bad-${n}` : `fine-${n}`, channels: ['gotify'] })),
    );
    for (const r of results) if ('id' in r) await h.waitForStatus(r.id, (s) => ['delivered', 'failed'].includes(s.status));

    const one = await h.app();
    const other = await h.otherApp();

    const drained = (s: Stats) => Object.values(s.queues).every((q) => q.active === 0);
    const a = await until(() => getStats(one, '?window=600'), drained);
    const b = await getStats(other, '?window=600');
    // Only the clock may differ: the window's bounds and, if a heartbeat landed in between, lastSeen.
    const comparable = (s: Stats) => ({ ...s, window: s.window.seconds, workers: s.workers.map(({ lastSeen: _, ...w }) => w) });
    expect(comparable(b)).toEqual(comparable(a));
    expect(a.notifications).toMatchObject({ accepted: 12, delivered: 9, failed: 3 });
    expect(a.channels.gotify).toMatchObject({ attempts: 12, delivered: 9, failedAttempts: 3, permanentFailures: 3 });
    expect(a.workers.map((w) => [w.id, w.channels]).sort()).toEqual(workers.map((w, i) => [w.id, [['gotify'], ['gotify', 'email'], ['webpush']][i]]).sort());
    for (let i = 0; i < a.workers.length; i++) {
      expect(Math.abs(Date.parse(a.workers[i]!.lastSeen) - Date.parse(b.workers[i]!.lastSeen))).toBeLessThanOrEqual(HEARTBEAT_INTERVAL_MS);
    }

    // A stopped worker leaves the list at once.
    await workers[2]!.close(1000);
    expect((await getStats(other)).workers.map((w) => w.id)).not.toContain(workers[2]!.id);
  });

  it('validates the window and needs the admin scope', async () => {
    h = await Harness.create();
    const app = await h.app();
    for (const bad of ['59', '604801', 'abc', '3600.5', '', '-60', '1e3', '60&window=120']) {
      const res = await app.inject({ method: 'GET', url: `/v1/stats?window=${bad}`, headers: admin });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'HERALD_ERR_VALIDATION', details: [{ field: 'window' }] });
    }
    expect((await getStats(app)).window.seconds).toBe(3600);
    expect((await getStats(app, '?window=60')).window.seconds).toBe(60);
    expect((await getStats(app, '?window=604800')).window.seconds).toBe(604800);
    await expect(h.herald.stats(59)).rejects.toMatchObject({ code: 'HERALD_ERR_VALIDATION', details: [{ field: 'window' }] });
    await expect(h.herald.stats(60.5)).rejects.toMatchObject({ code: 'HERALD_ERR_VALIDATION' });
    expect((await app.inject({ method: 'GET', url: '/v1/stats', headers: { authorization: `Bearer ${PUBLISH_KEY}` } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/v1/stats' })).statusCode).toBe(401);
  });

  it('reads minute buckets up to 180 minutes and hour buckets beyond, leaving out older ones', async () => {
    h = await Harness.create();
    const redis = await h.herald.connection();
    // 30 min 30 s into an hour: the window edges fall inside buckets, never on their bounds.
    const now = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 1_770_000;
    const m = minuteIndex(now);
    const hr = hourIndex(now);
    const minutes: [number, number][] = [
      [m, 1],
      [m - 1, 10],
      [m - 10, 100],
      [m - 180, 1000],
      [m - 181, 10_000],
    ];
    const hours: [number, number][] = [
      [hr, 100_000],
      [hr - 5, 1_000_000],
      [hr - 168, 10_000_000],
      [hr - 169, 100_000_000],
    ];
    for (const [index, accepted] of minutes) await redis.hset(h.herald.keys.statsBucket('m', index), 'accepted', accepted);
    for (const [index, accepted] of hours) await redis.hset(h.herald.keys.statsBucket('h', index), 'accepted', accepted);
    // A worker that stopped beating long ago is neither listed nor kept.
    await redis.zadd(h.herald.keys.workers(), now - (HEARTBEAT_TTL_SECONDS + 1) * 1000, 'dead-worker');

    const queues = new ChannelQueues(redis, h.prefix);
    h.onClose(() => queues.close());
    const sources = { cells: [{ redis, keys: h.herald.keys, queues, countDeadLetters: async () => 0 }] };
    const accepted = async (windowSeconds: number) => (await readStats(sources, windowSeconds, now)).notifications.accepted;
    expect(await accepted(60)).toBe(11);
    expect(await accepted(570)).toBe(11);
    expect(await accepted(600)).toBe(111);
    expect(await accepted(10_800)).toBe(1111);
    expect(await accepted(10_801)).toBe(100_000);
    expect(await accepted(604_800)).toBe(11_100_000);

    const stats = await readStats(sources, 60, now);
    expect(stats.window).toEqual({ seconds: 60, from: new Date(now - 60_000).toISOString(), to: new Date(now).toISOString() });
    expect(stats.workers).toEqual([]);
    expect(await redis.zscore(h.herald.keys.workers(), 'dead-worker')).toBeNull();
  });
});
