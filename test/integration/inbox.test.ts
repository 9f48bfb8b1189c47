/**
 * The inbox channel and its store on a real Redis: a delivery stores one item per notification
 * (a delivery run again stores no second one), the inbox keeps at most HERALD_INBOX_MAX_ITEMS
 * (the oldest dropped with its read mark), every key of it expires, pages go newest first and
 * never repeat or skip an item, and reads are counted and announced on the live feed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, rejection, until } from '../helpers/harness.js';
import { InboxStore, type InboxEvent } from '../../src/store/inbox.js';
import { parseEventEntry } from '../../src/store/events.js';
import type { InboxItem } from '../../src/types.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function item(id: string, createdAt: number): InboxItem {
  return { id, notificationId: id, message: `message ${id}`, createdAt: new Date(createdAt).toISOString(), readAt: null };
}

describe('the inbox channel', () => {
  it('stores the notification as an item of its recipient, and counts it delivered', async () => {
    h = await Harness.create({ noGotify: true });
    await h.register('u-1');
    await h.startWorker(['inbox']);
    const { id } = await h.herald.notify({
      to: 'u-1',
      channels: ['inbox'],
      title: 'Hello',
      message: 'In the app',
      url: 'https://app.example.org/r/1',
      category: 'chat',
      data: { room: 1 },
    });
    const status = await h.waitForStatus(id, 'delivered');
    expect(status.channel).toBe('inbox');
    expect(status.attempts.map((a) => [a.channel, a.outcome])).toEqual([['inbox', 'delivered']]);
    const page = await h.herald.inbox.list('u-1');
    expect(page).toMatchObject({ unread: 1, next: null });
    expect(page.items).toEqual([
      {
        id,
        notificationId: id,
        title: 'Hello',
        message: 'In the app',
        url: 'https://app.example.org/r/1',
        category: 'chat',
        data: { room: 1 },
        createdAt: expect.any(String),
        readAt: null,
      },
    ]);
    expect((await h.herald.stats()).channels.inbox).toMatchObject({ attempts: 1, delivered: 1 });

    // The inbox goes with its recipient.
    await h.herald.recipients.delete('u-1');
    expect(await h.herald.inbox.list('u-1')).toEqual({ items: [], unread: 0, next: null });
  });
});

describe('the inbox store', () => {
  it('stores an id once: a delivery run again adds nothing and announces nothing', async () => {
    h = await Harness.create({ noGotify: true });
    const redis = await h.herald.connection();
    const store = new InboxStore(redis, h.herald.keys, { maxItems: 10, retentionSeconds: 3600 }, h!.herald.eventLog);
    const events: InboxEvent[] = [];
    const stop = await h.herald.inbox.subscribe('u', (e) => events.push(e));
    expect(await store.add('u', item('n-1', 1000))).toBe(true);
    expect(await store.add('u', item('n-1', 2000))).toBe(false);
    await until(
      async () => events.length,
      (n) => n === 1,
    );
    expect(events[0]).toEqual({ event: 'inbox', data: item('n-1', 1000) });
    const page = await store.list('u');
    expect(page.items.map((i) => [i.id, i.createdAt])).toEqual([['n-1', new Date(1000).toISOString()]]);
    await stop();
  });

  it('keeps the newest items up to the cap, dropping the oldest with its read mark, and every key expires', async () => {
    h = await Harness.create({ noGotify: true });
    const redis = await h.herald.connection();
    const keys = h.herald.keys;
    const store = new InboxStore(redis, keys, { maxItems: 3, retentionSeconds: 600 }, h!.herald.eventLog);
    await store.add('u', item('a', 1000));
    await h.herald.inbox.read('u', 'a');
    for (const [i, id] of ['b', 'c', 'd'].entries()) await store.add('u', item(id, 2000 + i));
    const page = await store.list('u');
    expect(page.items.map((i) => i.id)).toEqual(['d', 'c', 'b']);
    expect(page.unread).toBe(3);
    expect(await redis.hexists(keys.inboxReads('u'), 'a')).toBe(0);
    for (const key of [keys.inboxItems('u'), keys.inboxOrder('u'), keys.inboxUnread('u')]) {
      const ttl = await redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(590);
      expect(ttl, key).toBeLessThanOrEqual(600);
    }
    // The read marks' hash was emptied by the drop; a new mark gets the items' lifetime.
    await h.herald.inbox.read('u', 'c');
    expect(await redis.ttl(keys.inboxReads('u'))).toBeGreaterThan(590);
  });

  it('pages newest first through items stored in the same millisecond, never repeating or skipping one', async () => {
    h = await Harness.create({ noGotify: true });
    const store = new InboxStore(await h.herald.connection(), h.herald.keys, { maxItems: 100, retentionSeconds: 600 }, h!.herald.eventLog);
    const ids = Array.from({ length: 23 }, (_, i) => `n-${String(i).padStart(2, '0')}`);
    // Seven share one millisecond: the cursor must tell them apart by id.
    for (const [i, id] of ids.entries()) await store.add('u', item(id, i < 7 ? 5000 : 5000 + i));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await h.herald.inbox.list('u', { limit: 4, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((i) => i.id));
      if (!page.next) break;
      cursor = page.next;
    }
    expect(seen).toHaveLength(23);
    expect(new Set(seen).size).toBe(23);
    expect(seen.slice(0, 16)).toEqual(ids.slice(7).reverse());
    expect(seen.slice(16).sort()).toEqual(ids.slice(0, 7));
  });

  it("leaves alone a pending notification that reused an old item's id: reading the old item does not stop it", async () => {
    h = await Harness.create({ noGotify: true });
    const redis = await h.herald.connection();
    const store = new InboxStore(redis, h.herald.keys, { maxItems: 10, retentionSeconds: 600 }, h!.herald.eventLog);
    // Stored long ago by a notification whose record has expired since; a new one took its id.
    await store.add('u', item('n-reused', Date.now() - 3_600_000));
    await h.register('u');
    await h.herald.notify({ id: 'n-reused', to: 'u', message: 'new', channels: ['inbox', 'gotify'], escalateAfterSeconds: 60, delayMs: 30_000 });
    await h.herald.inbox.read('u', 'n-reused');
    expect(await redis.hget(h.herald.keys.record('n-reused'), 'inboxReadAt')).toBeNull();
    expect((await h.herald.status('n-reused'))?.status).toBe('scheduled');
  });

  it('marks one item or all of them read, counts the unread, lists only unread on ask, and announces what was read', async () => {
    h = await Harness.create({ noGotify: true });
    const store = new InboxStore(await h.herald.connection(), h.herald.keys, { maxItems: 100, retentionSeconds: 600 }, h!.herald.eventLog);
    for (const [i, id] of ['a', 'b', 'c'].entries()) await store.add('u', item(id, 1000 + i));
    const events: InboxEvent[] = [];
    const stop = await h.herald.inbox.subscribe('u', (e) => events.push(e));
    await h.herald.inbox.read('u', 'b');
    await h.herald.inbox.read('u', 'b');
    const afterOne = await h.herald.inbox.list('u');
    expect(afterOne.unread).toBe(2);
    expect(afterOne.items.find((i) => i.id === 'b')?.readAt).toEqual(expect.any(String));
    expect((await h.herald.inbox.list('u', { unread: true })).items.map((i) => i.id)).toEqual(['c', 'a']);
    await h.herald.inbox.readAll('u');
    expect((await h.herald.inbox.list('u')).unread).toBe(0);
    await until(
      async () => events.length,
      (n) => n === 2,
    );
    // The second read of b changed nothing and announced nothing.
    expect(events.map((e) => e.event === 'read' && [...e.data.ids].sort())).toEqual([['b'], ['a', 'c']]);
    // Each newly read item is one inbox.read event in the event log, written by the read itself.
    const redis = await h.herald.connection();
    const logged = (await redis.xrange(h.herald.eventLog.key, '-', '+')).map(([id, fields]) => parseEventEntry(id, fields));
    const reads = logged.filter((e) => e.type === 'inbox.read');
    expect(reads.map((e) => e.notificationId).sort()).toEqual(['a', 'b', 'c']);
    expect(reads[0]).toMatchObject({ type: 'inbox.read', to: 'u', channel: 'inbox', at: expect.any(String) });
    await stop();

    const missing = await rejection(h.herald.inbox.read('u', 'nope'));
    expect(missing.code).toBe('HERALD_ERR_NOT_FOUND');
    // Another user's inbox does not hold u's items.
    expect((await rejection(h.herald.inbox.read('v', 'a'))).code).toBe('HERALD_ERR_NOT_FOUND');
  });
});
