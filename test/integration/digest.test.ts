import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { NotificationStore } from '../../src/store/notifications.js';
import type { NotificationInput } from '../../src/types.js';

let h: Harness;
afterEach(async () => h?.close());

const WINDOW = { windowSeconds: 1 };

/** What the Gotify double received, per request: the notification id and what a digest carries. */
interface Received {
  id: string;
  title?: string;
  message: string;
  at: number;
  data?: { digest?: string[]; digestCount?: number } & Record<string, unknown>;
}

function received(harness: Harness): Received[] {
  return harness.gotify.requests.map((request) => {
    const body = JSON.parse(request.body.toString()) as {
      title?: string;
      message: string;
      extras: { 'herald::notification': { id: string; data?: Received['data'] } };
    };
    const herald = body.extras['herald::notification'];
    return { id: herald.id, title: body.title, message: body.message, at: request.at, data: herald.data };
  });
}

/** Resolves once no delivery job is waiting, running or scheduled: every job, merged ones' included, has run. */
async function drained(harness: Harness): Promise<void> {
  await until(
    () => harness.herald.stats(),
    (stats) => Object.values(stats.queues).every((q) => q.waiting + q.active + q.delayed === 0),
    15_000,
  );
}

function digestOf(to: string, groupKey: string, extra: Partial<NotificationInput> = {}): Omit<NotificationInput, 'message'> {
  return { to, groupKey, digest: WINDOW, channels: ['gotify'], ...extra };
}

describe('digest', () => {
  it('merges 5 notifications of one window into one delivery at its end: the message says how many, data.digest lists every id, 4 end merged', async () => {
    h = await Harness.create();
    await h.register('u');
    const ids = ['room42-1', 'room42-2', 'room42-3', 'room42-4', 'room42-5'];
    const answers = [];
    for (const [i, id] of ids.entries()) {
      answers.push(
        await h.herald.notify({ ...digestOf('u', 'room:42', { data: { room: 42, n: i + 1 } }), id, title: `alice ${i + 1}`, message: `hello ${i + 1}` }),
      );
    }
    expect(answers).toEqual(ids.map((id) => ({ id, status: 'scheduled', duplicate: false })));
    // Merged at acceptance: the record says so before the window ends.
    for (const id of ids.slice(1)) expect(await h.herald.status(id)).toMatchObject({ id, status: 'merged', mergedInto: 'room42-1', to: 'u' });
    expect((await h.herald.status('room42-1'))?.status).toBe('scheduled');
    // Started only now, so however slow this machine, all five were accepted before the window could close.
    await h.startWorker(['gotify']);

    const holder = await h.waitForStatus('room42-1', 'delivered');
    await drained(h);
    const sent = received(h);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ id: 'room42-1', title: 'alice 5', message: 'hello 5\n\n(+4 more)' });
    expect(sent[0]!.data).toEqual({ room: 42, n: 5, digest: ids, digestCount: 5 });
    // Not before the window's end.
    expect(sent[0]!.at).toBeGreaterThanOrEqual(Date.parse(holder.createdAt) + 1000);
    for (const id of ids.slice(1)) expect((await h.herald.status(id))?.status).toBe('merged');
  });

  it('opens a new window for a notification that comes after the window closed', async () => {
    h = await Harness.create();
    await h.register('u');
    await h.startWorker(['gotify']);
    const first = await h.herald.notify({ ...digestOf('u', 'g'), id: 'w1-a', message: 'a' });
    await h.herald.notify({ ...digestOf('u', 'g'), id: 'w1-b', message: 'b' });
    await h.waitForStatus(first.id, 'delivered');
    const later = await h.herald.notify({ ...digestOf('u', 'g'), id: 'w2-a', message: 'c' });
    expect(later.status).toBe('scheduled');
    expect((await h.herald.status('w2-a'))?.status).toBe('scheduled');
    await h.waitForStatus('w2-a', 'delivered');
    await drained(h);
    expect(received(h).map((r) => [r.id, r.message, r.data?.digest])).toEqual([
      ['w1-a', 'b\n\n(+1 more)', ['w1-a', 'w1-b']],
      ['w2-a', 'c', ['w2-a']],
    ]);
  });

  it('merges only the same recipient and groupKey; a groupKey without digest is sent at once', async () => {
    h = await Harness.create();
    await h.register('u1', 'u2');
    await h.startWorker(['gotify']);
    const sent = await h.herald.notifyMany([
      { ...digestOf('u1', 'g1'), id: 'u1-g1', message: 'one' },
      { ...digestOf('u1', 'g2'), id: 'u1-g2', message: 'two' },
      { ...digestOf('u2', 'g1'), id: 'u2-g1', message: 'three' },
      { ...digestOf('u1', 'g1'), id: 'u1-g1-again', message: 'four' },
      { to: 'u1', groupKey: 'g1', channels: ['gotify'], id: 'u1-g1-plain', message: 'five' },
    ]);
    expect(sent.map((r) => ('id' in r ? r.status : r.error.code))).toEqual(['scheduled', 'scheduled', 'scheduled', 'scheduled', 'queued']);
    expect(await h.herald.status('u1-g1-again')).toMatchObject({ status: 'merged', mergedInto: 'u1-g1' });
    for (const id of ['u1-g1', 'u1-g2', 'u2-g1', 'u1-g1-plain']) await h.waitForStatus(id, 'delivered');
    await drained(h);
    const digests = Object.fromEntries(received(h).map((r) => [r.id, r.data?.digest ?? null]));
    expect(digests).toEqual({ 'u1-g1': ['u1-g1', 'u1-g1-again'], 'u1-g2': ['u1-g2'], 'u2-g1': ['u2-g1'], 'u1-g1-plain': null });
  });

  it('stays idempotent: the same ids again are duplicates and change nothing in the digest', async () => {
    h = await Harness.create();
    await h.register('u');
    await h.herald.notify({ ...digestOf('u', 'g'), id: 'd-1', message: 'one' });
    await h.herald.notify({ ...digestOf('u', 'g'), id: 'd-2', message: 'two' });
    const again = await h.herald.notifyMany([
      { ...digestOf('u', 'g'), id: 'd-1', message: 'one' },
      { ...digestOf('u', 'g'), id: 'd-2', message: 'two' },
      { ...digestOf('u', 'g'), id: 'd-3', message: 'three' },
      { ...digestOf('u', 'g'), id: 'd-3', message: 'three' },
    ]);
    expect(again).toEqual([
      { id: 'd-1', status: 'scheduled', duplicate: true },
      { id: 'd-2', status: 'merged', duplicate: true },
      { id: 'd-3', status: 'scheduled', duplicate: false },
      { id: 'd-3', status: 'scheduled', duplicate: true },
    ]);
    await h.startWorker(['gotify']);
    await h.waitForStatus('d-1', 'delivered');
    await drained(h);
    expect(received(h).map((r) => r.data?.digest)).toEqual([['d-1', 'd-2', 'd-3']]);
  });

  it('refuses a digest it cannot honour with a 400 naming the field', async () => {
    h = await Harness.create();
    const app = await h.app();
    const post = (body: unknown) =>
      app.inject({ method: 'POST', url: '/v1/notifications', headers: { authorization: `Bearer ${PUBLISH_KEY}` }, payload: body as object });
    const noGroup = await post({ to: 'u', message: 'm', digest: WINDOW });
    expect(noGroup.statusCode).toBe(400);
    expect(noGroup.json().error).toMatchObject({ code: 'HERALD_ERR_VALIDATION', details: [{ field: 'digest' }] });
    const tooLong = await post({ to: 'u', message: 'm', groupKey: 'g', digest: { windowSeconds: 60 }, ttlSeconds: 60 });
    expect(tooLong.json().error.details).toEqual([{ field: 'digest.windowSeconds', message: expect.stringMatching(/ttlSeconds/) }]);
    const redis = await h.herald.connection();
    // Nothing was written: no record, no window.
    expect([...(await redis.keys(`${h.prefix}:n:*`)), ...(await redis.keys(`${h.prefix}:r:*`))]).toEqual([]);
  });

  it('over HTTP, answers a merged notification 202 scheduled, and its status reads merged with mergedInto', async () => {
    h = await Harness.create();
    await h.register('u');
    const app = await h.app();
    const headers = { authorization: `Bearer ${PUBLISH_KEY}` };
    const post = (id: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/notifications',
        headers,
        payload: { id, to: 'u', message: id, groupKey: 'room:42', digest: { windowSeconds: 30 } },
      });
    for (const id of ['http-1', 'http-2']) {
      const res = await post(id);
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ id, status: 'scheduled', duplicate: false });
    }
    const status = await app.inject({ method: 'GET', url: '/v1/notifications/http-2', headers });
    expect(status.json()).toMatchObject({ id: 'http-2', status: 'merged', mergedInto: 'http-1', to: 'u' });
    expect((await post('http-2')).json()).toEqual({ id: 'http-2', status: 'merged', duplicate: true });
  });

  it('counts merged notifications in /v1/stats and /metrics', async () => {
    h = await Harness.create();
    await h.register('u');
    await h.startWorker(['gotify']);
    await h.herald.notifyMany(['s-1', 's-2', 's-3'].map((id) => ({ ...digestOf('u', 'g'), id, message: id })));
    await h.waitForStatus('s-1', 'delivered');
    const stats = await h.herald.stats();
    expect(stats.notifications).toMatchObject({ accepted: 3, delivered: 1, merged: 2 });
    const app = await h.app();
    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const families = parsePrometheusText(metrics.body);
    expect(sampleValue(families, 'herald_notifications_ended_total', { status: 'merged' })).toBe(2);
    expect(sampleValue(families, 'herald_notifications_ended_total', { status: 'delivered' })).toBe(1);
  });

  it('a notification racing the close joins the digest that is sent or opens the next window: never both, never neither', async () => {
    h = await Harness.create();
    await h.register('u');
    // The closes run on a connection of their own, as a worker's would.
    const workerRedis = new Redis(h.redisUrl);
    h.onClose(async () => void workerRedis.disconnect());
    const closer = new NotificationStore(workerRedis, h.herald.keys);
    const outcomes = { joined: 0, next: 0 };
    for (let i = 0; i < 150; i++) {
      const groupKey = `race-${i}`;
      const holder = await h.herald.notify({ ...digestOf('u', groupKey, { digest: { windowSeconds: 60 } }), id: `h-${i}`, message: 'first' });
      const token = (await h.herald.store.getRecord(holder.id))!.token;
      // One side starts a little after the other, by turns, so the close lands before, after and
      // amid the claims.
      const later = (i >> 1) % 4;
      const startingAfter = <T>(ms: number, run: () => Promise<T>) => new Promise((r) => setTimeout(r, ms)).then(run);
      const [late] = await Promise.all([
        startingAfter(i % 2 === 0 ? later : 0, () =>
          h.herald.notify({ ...digestOf('u', groupKey, { digest: { windowSeconds: 60 } }), id: `m-${i}`, message: 'racing' }),
        ),
        startingAfter(i % 2 === 1 ? later : 0, () => closer.load([{ id: holder.id, token, to: 'u', digestGroup: groupKey }])),
      ]);
      expect(late.status).toBe('scheduled');
      const closed = (await h.herald.store.getRecord(holder.id))!;
      const racer = (await h.herald.store.getRecord(late.id))!;
      const inDigest = closed.digest?.merged.includes(late.id) ?? false;
      if (racer.status === 'merged') {
        expect(racer.mergedInto, groupKey).toBe(holder.id);
        expect(inDigest, `${groupKey}: merged, so in the closed digest`).toBe(true);
        outcomes.joined++;
      } else {
        expect(racer.status, groupKey).toBe('scheduled');
        expect(inDigest, `${groupKey}: opened the next window, so not in the closed one`).toBe(false);
        // It holds the next window: a notification after it merges into it.
        const next = await h.herald.notify({ ...digestOf('u', groupKey), id: `n-${i}`, message: 'next' });
        expect(next.status).toBe('scheduled');
        expect((await h.herald.store.getRecord(next.id))?.mergedInto).toBe(late.id);
        outcomes.next++;
      }
      expect(closed.digest?.merged.length, groupKey).toBe(inDigest ? 1 : 0);
    }
    expect(outcomes.joined + outcomes.next).toBe(150);
  });

  it('under concurrent notify calls across window ends, every accepted id is delivered in exactly one digest', async () => {
    h = await Harness.create();
    await h.register('u1', 'u2');
    await h.startWorker(['gotify']);
    const groups = ['u1:a', 'u1:b', 'u1:c', 'u2:a', 'u2:b', 'u2:c'];
    const accepted: string[] = [];
    const stopAt = Date.now() + 3500;
    const producer = async (p: number) => {
      for (let n = 0; Date.now() < stopAt; n++) {
        const [to, groupKey] = groups[(p + n) % groups.length]!.split(':') as [string, string];
        const { id } = await h.herald.notify({ ...digestOf(to, groupKey), id: `p${p}-${n}`, message: `p${p} ${n}` });
        accepted.push(id);
        await new Promise((r) => setTimeout(r, 5 + ((p * 3 + n) % 7)));
      }
    };
    await Promise.all([0, 1, 2, 3].map(producer));

    const statuses = new Map<string, { status: string; mergedInto?: string }>();
    for (const id of accepted) {
      const status = await h.waitForStatus(id, (s) => s.status === 'delivered' || s.status === 'merged', 15_000);
      statuses.set(id, status);
    }
    await drained(h);
    const sent = received(h);
    const holders = [...statuses].filter(([, s]) => s.status === 'delivered').map(([id]) => id);
    // One request per window, each listing all its ids (they are few enough to be listed in full).
    expect(sent.map((r) => r.id).sort()).toEqual([...holders].sort());
    const inDigests = sent.flatMap((r) => {
      expect(r.data?.digest?.length, r.id).toBe(r.data?.digestCount);
      expect(r.data?.digest?.[0], r.id).toBe(r.id);
      return r.data?.digest ?? [];
    });
    expect([...inDigests].sort()).toEqual([...accepted].sort());
    const digestOfId = new Map(sent.flatMap((r) => (r.data?.digest ?? []).map((id) => [id, r.id] as const)));
    for (const [id, status] of statuses) {
      if (status.status === 'merged') expect(digestOfId.get(id), id).toBe(status.mergedInto);
    }
    // Windows closed while notifications kept coming: more windows than groups.
    expect(holders.length).toBeGreaterThan(groups.length);
  });
});
