/**
 * A deployment of four shards on one Redis (the hash tags are only key names there): every
 * notification lives, is delivered and is read back in its id's cell; recipients are in every
 * cell; stats, dead letters, events, inboxes and cancel by group cover every cell; workers serve
 * the shards they are given; a process with another shard count is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, testRedis, until, ADMIN_KEY } from '../helpers/harness.js';
import { PushService, vapidEnv } from '../helpers/push-service.js';
import { SseReader } from '../helpers/sse-reader.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { EventReceiver } from '../helpers/event-log.js';
import { shardOf } from '../../src/shards.js';
import { Herald } from '../../src/sdk/herald.js';
import { loadConfig } from '../../src/config.js';
import { startWorkerRuntime } from '../../src/run/workers.js';
import { ShardCountError } from '../../src/store/shard-count.js';
import { decodePosition } from '../../src/event-ids.js';
import type { HeraldEvent } from '../../src/types.js';

const SHARDS = 4;
let h: Harness;
afterEach(async () => h?.close());

/** `count` ids that land in `shard`, each starting with `stem`. */
function idsIn(shard: number, count: number, stem: string): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (shardOf(`${stem}${i}`, SHARDS) === shard) ids.push(`${stem}${i}`);
  return ids;
}

/** One id per shard (shard k's at index k), each starting with `stem`. */
function onePerShard(stem: string): string[] {
  return Array.from({ length: SHARDS }, (_, shard) => idsIn(shard, 1, `${stem}-s${shard}-`)[0]!);
}

/** Newest first by time, then id, both descending: the order of every merged listing. */
function newestFirst([aTime, aId]: [string, string], [bTime, bId]: [string, string]): number {
  if (aTime !== bTime) return aTime < bTime ? 1 : -1;
  return aId < bId ? 1 : aId > bId ? -1 : 0;
}

async function create(env: Record<string, string> = {}): Promise<Harness> {
  h = await Harness.create({ shards: SHARDS, env });
  return h;
}

describe('shards on one Redis', () => {
  it('a notification is recorded, queued and delivered in its id cell, and the stats sum the cells', async () => {
    await create();
    await h.register('u-1');
    const ids = onePerShard('n');
    for (const id of ids) await h.herald.notify({ id, to: 'u-1', message: `to ${id}`, channels: ['gotify'] });
    // Each record is in its own cell and nowhere else.
    for (const [shard, id] of ids.entries()) {
      for (const cell of h.herald.cells) expect((await cell.store.status(id))?.status ?? null).toBe(cell.shard === shard ? 'queued' : null);
    }
    const stats = await h.herald.stats(60);
    expect(stats.notifications.accepted).toBe(SHARDS);
    expect(stats.queues['deliver-gotify']!.waiting).toBeGreaterThan(0);
    await h.startWorker(['gotify']);
    for (const id of ids) await h.waitForStatus(id, 'delivered');
    expect(h.gotify.requests.map((_, i) => h.gotify.json(i).message).sort()).toEqual(ids.map((id) => `to ${id}`).sort());
    const after = await h.herald.stats(60);
    expect(after.notifications).toMatchObject({ accepted: SHARDS, delivered: SHARDS });
    expect(after.channels.gotify.delivered).toBe(SHARDS);
    // One worker serving every shard is listed once, with its shards.
    expect(after.workers).toEqual([expect.objectContaining({ shards: [0, 1, 2, 3] })]);
    const totals = await h.herald.statsTotals();
    expect(totals.counters.accepted).toBe(SHARDS);
    // Over HTTP: a status by id from its cell, and /metrics summing the cells.
    const app = await h.app();
    const status = await app.inject({ url: `/v1/notifications/${ids[3]}`, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(status.json()).toMatchObject({ id: ids[3], status: 'delivered' });
    const metrics = parsePrometheusText((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).body);
    expect(sampleValue(metrics, 'herald_notifications_accepted_total')).toBe(SHARDS);
    const http = (await app.inject({ url: '/v1/stats?window=60', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json() as { workers: unknown[] };
    expect(http.workers).toEqual([expect.objectContaining({ shards: [0, 1, 2, 3] })]);
  });

  it('a batch is split by cell and answered in its order', async () => {
    await create();
    await h.register('u-1');
    const ids = [...idsIn(2, 3, 'b2-'), ...idsIn(0, 2, 'b0-'), ...idsIn(3, 1, 'b3-')];
    const results = await h.herald.notifyMany([...ids, ids[0]!].map((id) => ({ id, to: 'u-1', message: 'batch', channels: ['gotify' as const] })));
    expect(results.map((r) => ('id' in r ? [r.id, r.duplicate] : null))).toEqual([...ids.map((id) => [id, false]), [ids[0], true]]);
    for (const id of ids) expect(await h.herald.cellOf(id).store.status(id)).toMatchObject({ status: 'queued' });
  });

  it('recipient, preference, presence and topic writes reach every cell; deletes too', async () => {
    await create();
    await h.herald.recipients.set('u-r', { email: 'r@example.org' });
    await h.herald.recipients.setPreferences('u-r', { muteCategories: ['chat'] });
    await h.herald.presence.online('u-r', { ttlSeconds: 60, device: 'phone', context: 'room:1' });
    await h.herald.topics.add('room-1', 'u-r');
    for (const cell of h.herald.cells) {
      expect(await cell.recipients.get('u-r')).toMatchObject({ email: 'r@example.org', preferences: { muteCategories: ['chat'] } });
      expect(await cell.recipients.isOnline('u-r')).toBe(true);
      expect((await cell.topics.members('room-1', 10)).items).toEqual(['u-r']);
    }
    await h.herald.presence.offline('u-r');
    await h.herald.topics.remove('room-1', 'u-r');
    await h.herald.recipients.delete('u-r');
    for (const cell of h.herald.cells) {
      expect(await cell.recipients.get('u-r')).toBeNull();
      expect(await cell.recipients.isOnline('u-r')).toBe(false);
      expect((await cell.topics.members('room-1', 10)).items).toEqual([]);
    }
  });

  it('dead letters of every cell are listed newest first, page by page, each once; replay and delete go to the id cell', async () => {
    await create();
    await h.register('u-1');
    h.gotify.fallback = { status: 401 };
    const ids = [...idsIn(0, 2, 'dl0-'), ...idsIn(1, 2, 'dl1-'), ...idsIn(3, 3, 'dl3-')];
    await h.startWorker(['gotify']);
    for (const id of ids) {
      await h.herald.notify({ id, to: 'u-1', message: 'fails', channels: ['gotify'] });
      await h.waitForStatus(id, 'failed');
    }
    expect(await h.herald.deadLetters.count()).toBe(ids.length);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await h.herald.deadLetters.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((letter) => letter.id));
      cursor = page.next ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    // Newest first across the cells: by failure time, then id, both descending.
    const failedAt = new Map(await Promise.all(ids.map(async (id) => [id, (await h.herald.deadLetters.get(id))!.failedAt] as const)));
    expect(seen).toEqual([...ids].sort((a, b) => newestFirst([failedAt.get(a)!, a], [failedAt.get(b)!, b])));
    expect((await h.herald.stats(60)).deadLetters).toBe(ids.length);

    h.gotify.fallback = { status: 200 };
    await h.herald.deadLetters.replay(ids[6]!);
    await h.waitForStatus(ids[6]!, 'delivered');
    await h.herald.deadLetters.delete(ids[0]!);
    expect(await h.herald.deadLetters.get(ids[0]!)).toBeNull();
    expect((await h.herald.deadLetters.list({ limit: 10 })).items.map((letter) => letter.id)).toEqual(seen.filter((id) => id !== ids[0] && id !== ids[6]));
  });

  it('cancel goes to the id cell; cancelGroup reaches the group in every cell', async () => {
    await create();
    await h.register('u-g');
    const grouped = onePerShard('g');
    for (const id of grouped) await h.herald.notify({ id, to: 'u-g', message: 'later', groupKey: 'room:1', delayMs: 60_000, channels: ['gotify'] });
    const single = idsIn(3, 1, 'c-')[0]!;
    await h.herald.notify({ id: single, to: 'u-g', message: 'later', delayMs: 60_000, channels: ['gotify'] });
    expect(await h.herald.cancel(single)).toMatchObject({ id: single, status: 'canceled' });
    expect(await h.herald.cancelGroup('u-g', 'room:1')).toBe(SHARDS);
    for (const id of grouped) expect(await h.herald.status(id)).toMatchObject({ status: 'canceled' });
    expect((await h.herald.stats(60)).notifications.canceled).toBe(SHARDS + 1);
  });

  it("a topic notification's recipients' notifications are written and delivered in its cell", async () => {
    await create();
    const members = ['m-1', 'm-2', 'm-3', 'm-4', 'm-5'];
    await h.register(...members);
    for (const member of members) await h.herald.topics.add('room-9', member);
    await h.startWorker(['gotify']);
    for (const parent of [idsIn(1, 1, 'topic-')[0]!, `${'x'.repeat(100)}:tail`]) {
      const { id } = await h.herald.notify({ id: parent, topic: 'room-9', message: 'hello room', channels: ['gotify'] });
      await h.waitForStatus(id, 'delivered');
      const page = await h.herald.topics.recipients(id);
      expect(page!.items.map((item) => item.to).sort()).toEqual(members);
      const home = shardOf(id, SHARDS);
      for (const item of page!.items) {
        expect(shardOf(item.id, SHARDS)).toBe(home);
        for (const cell of h.herald.cells) expect((await cell.store.status(item.id))?.status ?? null).toBe(cell.shard === home ? 'delivered' : null);
      }
    }
  });

  it('a gone Web Push subscription is removed from every cell', async () => {
    const vapid = vapidEnv();
    await create(vapid);
    const push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
    h.onClose(() => push.close());
    const gone = push.browser();
    const kept = push.browser();
    const goneId = await h.herald.recipients.addWebPush('u-w', gone.subscription);
    const keptId = await h.herald.recipients.addWebPush('u-w', kept.subscription);
    for (const cell of h.herald.cells) expect((await cell.recipients.get('u-w'))!.webpush!.map((s) => s.id).sort()).toEqual([goneId, keptId].sort());
    push.always(gone, { status: 410 });
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({ id: idsIn(2, 1, 'wp-')[0]!, to: 'u-w', message: 'hi', channels: ['webpush'] });
    await h.waitForStatus(id, 'delivered');
    for (const cell of h.herald.cells) {
      await until(
        async () => (await cell.recipients.get('u-w'))!.webpush!.map((s) => s.id),
        (subs) => subs.length === 1,
      );
      expect((await cell.recipients.get('u-w'))!.webpush!.map((s) => s.id)).toEqual([keptId]);
    }
  });

  it("an inbox page merges the cells' items by time, the unread count sums them, read-all reads every cell", async () => {
    await create();
    await h.register('u-i');
    await h.startWorker(['inbox']);
    const ids = onePerShard('inbox');
    for (const id of ids) {
      await h.herald.notify({ id, to: 'u-i', message: id, channels: ['inbox'] });
      await h.waitForStatus(id, 'delivered');
    }
    const listed: { id: string; createdAt: string }[] = [];
    let cursor: string | undefined;
    let unread = -1;
    do {
      const page = await h.herald.inbox.list('u-i', { limit: 3, ...(cursor ? { cursor } : {}) });
      listed.push(...page.items);
      unread = page.unread;
      cursor = page.next ?? undefined;
    } while (cursor);
    expect(listed.map((item) => item.id).sort()).toEqual([...ids].sort());
    // Newest first across the cells: by the time each was stored, then id, both descending.
    expect(listed).toEqual([...listed].sort((a, b) => newestFirst([a.createdAt, a.id], [b.createdAt, b.id])));
    expect(unread).toBe(SHARDS);
    await h.herald.inbox.read('u-i', ids[3]!);
    expect((await h.herald.inbox.list('u-i')).unread).toBe(SHARDS - 1);
    await h.herald.inbox.readAll('u-i');
    expect((await h.herald.inbox.list('u-i')).unread).toBe(0);
  });

  it('a worker with --shards serves those shards only, and says so', async () => {
    await create();
    await h.register('u-1');
    const ids = onePerShard('part');
    for (const id of ids) await h.herald.notify({ id, to: 'u-1', message: id, channels: ['gotify'] });
    await h.startWorker(['gotify'], undefined, 10, [0, 2]);
    await h.waitForStatus(ids[0]!, 'delivered');
    await h.waitForStatus(ids[2]!, 'delivered');
    expect((await h.herald.stats(60)).workers).toEqual([expect.objectContaining({ shards: [0, 2] })]);
    // Nothing serves shards 1 and 3 yet: their notifications wait, queued.
    expect(await h.herald.status(ids[1]!)).toMatchObject({ status: 'queued' });
    expect(await h.herald.status(ids[3]!)).toMatchObject({ status: 'queued' });
    expect(h.gotify.requests).toHaveLength(2);
    await h.startWorker(['gotify'], undefined, 10, [1, 3]);
    await h.waitForStatus(ids[1]!, 'delivered');
    await h.waitForStatus(ids[3]!, 'delivered');
    expect((await h.herald.stats(60)).workers.map((w) => w.shards).sort()).toEqual([
      [0, 2],
      [1, 3],
    ]);
  });

  it('a client or worker with another shard count than the deployment is refused, saying what to do', async () => {
    await create();
    expect(await h.herald.status('nothing')).toBeNull();
    const redis = testRedis(h.redisUrl);
    try {
      expect(await redis.get(`${h.prefix}:shards`)).toBe(String(SHARDS));
    } finally {
      redis.disconnect();
    }
    const other = new Herald({ redis: h.redisUrl, prefix: h.prefix, shards: 2 });
    try {
      const err = await other.status('nothing').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ShardCountError);
      expect((err as ShardCountError).code).toBe('HERALD_ERR_SHARDS_MISMATCH');
      expect((err as Error).message).toContain('HERALD_SHARDS=4');
    } finally {
      await other.close();
    }
    const { config } = loadConfig({ ...h.env, HERALD_SHARDS: '2' });
    await expect(startWorkerRuntime({ config, logger: h.logger, channels: ['gotify'] })).rejects.toThrow(/HERALD_SHARDS is 2.*started with 4 shards/s);
  });
});

describe('events across shards', () => {
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  const frames = (reader: SseReader) => reader.messages.filter((message) => message.id !== undefined);
  const eventIds = (reader: SseReader) => frames(reader).map((message) => (JSON.parse(message.data) as HeraldEvent).id);

  it('one stream carries every cell; Last-Event-ID resumes every cell with nothing lost or repeated', async () => {
    await create();
    await h.register('u-1');
    const { url } = await h.listen();
    const batch = async (stem: string) => {
      for (const id of [...onePerShard(`${stem}a`), ...onePerShard(`${stem}b`)]) await h.herald.notify({ id, to: 'u-1', message: id, delayMs: 60_000 });
    };
    // Events from before the streams open: a stream without Last-Event-ID starts after them, and so
    // must a client resuming in a cell it has had no event from yet.
    await batch('e0');
    const whole = await SseReader.open(`${url}/v1/events`, admin);
    const first = await SseReader.open(`${url}/v1/events`, admin);
    await batch('e1');
    await first.until(() => frames(first).length === 2 * SHARDS);
    const cut = frames(first)[2]!;
    first.close();
    await batch('e2');
    await whole.until(() => frames(whole).length === 4 * SHARDS);
    // Events of every cell, each id qualified by its cell; every SSE id a position in the four logs.
    expect(new Set(eventIds(whole).map((id) => id.split('@')[1])).size).toBe(SHARDS);
    for (const message of frames(whole)) expect(decodePosition(message.id!, SHARDS)).toHaveLength(SHARDS);

    const resumed = await SseReader.open(`${url}/v1/events`, { ...admin, 'last-event-id': cut.id! });
    const seenFirst = new Set(eventIds(first).slice(0, 3));
    const expected = eventIds(whole).filter((id) => !seenFirst.has(id));
    await resumed.until(() => frames(resumed).length >= expected.length);
    // A marker after the catch-up: anything repeated would have come before it.
    const marker = idsIn(1, 1, 'marker-')[0]!;
    await h.herald.notify({ id: marker, to: 'u-1', message: 'marker', delayMs: 60_000 });
    await resumed.until(() => frames(resumed).some((message) => message.data.includes(marker)));
    const got = eventIds(resumed);
    expect(got.slice(0, -1).sort()).toEqual([...expected].sort());
    expect(new Set(got).size).toBe(got.length);
    whole.close();
    resumed.close();
  });

  it("event webhooks get every cell's events once, each with its cell-qualified id, from workers that together serve every shard", async () => {
    await create({ HERALD_EVENT_WEBHOOK_BACKOFF_MS: '20', HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS: '100' });
    await h.register('u-1');
    const receiver = new EventReceiver();
    const origin = await receiver.double.start();
    h.onClose(() => receiver.double.close());
    const app = await h.app();
    const created = await app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: admin,
      payload: { url: `${origin}/hook`, events: ['notification.delivered'] },
    });
    receiver.secret = created.json<{ secret: string }>().secret;
    // Two workers, two shards each: every cell's log is read by one of them.
    await h.startWorker(['gotify'], undefined, 10, [0, 1]);
    await h.startWorker(['gotify'], undefined, 10, [2, 3]);
    const ids = onePerShard('hook');
    for (const id of ids) await h.herald.notify({ id, to: 'u-1', message: id, channels: ['gotify'] });
    await until(
      async () => receiver.events(),
      (events) => events.length >= SHARDS,
    );
    const events = receiver.events();
    expect(events.map((event) => event.notificationId).sort()).toEqual([...ids].sort());
    for (const event of events) expect(event.id).toMatch(new RegExp(`^\\d+-\\d+@${shardOf(String(event.notificationId), SHARDS)}$`));
    expect(receiver.double.requests.map((request) => request.headers['webhook-id'])).toEqual(events.map((event) => event.id));
  });

  it('a Last-Event-ID that is not a position of this deployment is a 400 naming it', async () => {
    await create();
    const { url } = await h.listen();
    const reader = await SseReader.open(`${url}/v1/events`, { ...admin, 'last-event-id': '1764511200000-3' });
    expect(reader.response.statusCode).toBe(400);
    expect(JSON.stringify(await reader.json())).toContain('Last-Event-ID');
  });

  it('herald.events() reads every cell and resumes from an event position', async () => {
    await create();
    await h.register('u-1');
    const ids = [...onePerShard('it-a'), ...onePerShard('it-b')];
    for (const id of ids) await h.herald.notify({ id, to: 'u-1', message: id, delayMs: 60_000 });
    // A position at the start of every cell's log ('...': four empty parts) reads them from the beginning.
    const seen: HeraldEvent[] = [];
    for await (const event of h.herald.events({ types: ['notification.accepted'], after: '...' })) {
      seen.push(event);
      if (seen.length === ids.length) break;
    }
    expect(seen.map((event) => event.notificationId).sort()).toEqual([...ids].sort());
    const resumed: HeraldEvent[] = [];
    for await (const event of h.herald.events({ types: ['notification.accepted'], after: seen[2]!.position! })) {
      resumed.push(event);
      if (resumed.length === ids.length - 3) break;
    }
    expect(resumed.map((event) => event.id).sort()).toEqual(
      seen
        .slice(3)
        .map((event) => event.id)
        .sort(),
    );
  });
});
