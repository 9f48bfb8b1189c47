import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, Harness, PUBLISH_KEY, recordCommands, until } from '../helpers/harness.js';
import { gotifyRequestsById } from '../helpers/recording-adapter.js';
import { joinTopic, listRecipients, memberIds } from '../helpers/topics.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { Redis } from 'ioredis';
import { FanOutRunner } from '../../src/delivery/fan-out.js';
import { ChannelQueues } from '../../src/queue/queues.js';
import { recipientNotificationId, TopicStore } from '../../src/store/topics.js';
import { isTerminal, type Status } from '../../src/types.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

const members = memberIds;
const join = (topic: string, userIds: string[]) => joinTopic(h, topic, userIds);

const allRecipients = (id: string, limit?: number) => listRecipients(h, id, limit);

function ended(status: Status): boolean {
  return isTerminal(status.status);
}

describe('topic members', () => {
  it('are added, listed by name a page at a time, and removed over HTTP with 204s', async () => {
    h = await Harness.create();
    const app = await h.app();
    for (const userId of ['carol', 'alice', 'bob']) {
      const put = await app.inject({ method: 'PUT', url: `/v1/topics/room:42/members/${userId}`, headers: auth });
      expect(put.statusCode).toBe(204);
    }
    // Adding a member twice changes nothing.
    expect((await app.inject({ method: 'PUT', url: '/v1/topics/room:42/members/alice', headers: auth })).statusCode).toBe(204);

    const first = await app.inject({ method: 'GET', url: '/v1/topics/room:42/members?limit=2', headers: auth });
    expect(first.statusCode).toBe(200);
    const firstPage = first.json() as { items: string[]; next: string | null };
    expect(firstPage.items).toEqual(['alice', 'bob']);
    expect(firstPage.next).toEqual(expect.any(String));
    const second = await app.inject({ method: 'GET', url: `/v1/topics/room:42/members?limit=2&cursor=${firstPage.next}`, headers: auth });
    expect(second.json()).toEqual({ items: ['carol'], next: null });

    expect((await app.inject({ method: 'DELETE', url: '/v1/topics/room:42/members/bob', headers: auth })).statusCode).toBe(204);
    // Removing someone who is not a member is not an error either.
    expect((await app.inject({ method: 'DELETE', url: '/v1/topics/room:42/members/bob', headers: auth })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/topics/room:42/members', headers: auth })).json()).toEqual({ items: ['alice', 'carol'], next: null });
    expect(await h.herald.topics.members('room:43')).toEqual({ items: [], next: null });
  });

  it('refuses a bad topic name, limit or cursor with an error that names it', async () => {
    h = await Harness.create();
    const app = await h.app();
    const badTopic = await app.inject({ method: 'PUT', url: '/v1/topics/room%2042/members/alice', headers: auth });
    expect(badTopic.statusCode).toBe(400);
    expect(badTopic.json()).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'topic' }] } });
    const badLimit = await app.inject({ method: 'GET', url: '/v1/topics/room:42/members?limit=0', headers: auth });
    expect(badLimit.json()).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'limit' }] } });
    const badCursor = await app.inject({ method: 'GET', url: '/v1/topics/room:42/members?cursor=%3D%3D', headers: auth });
    expect(badCursor.json()).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'cursor' }] } });
    expect((await app.inject({ method: 'PUT', url: '/v1/topics/room:42/members/alice' })).statusCode).toBe(401);
  });

  it('page stably: members present throughout are listed exactly once while others join and leave between pages', async () => {
    h = await Harness.create();
    const staying = members(60);
    await join('busy', staying);
    const leaving = members(20, 1000);
    await join('busy', leaving);
    const seen: string[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const page = await h.herald.topics.members('busy', { limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items);
      cursor = page.next ?? undefined;
      // Between pages: someone joins before and after the cursor, someone leaves.
      await h.herald.topics.add('busy', `a-joiner-${round}`);
      await h.herald.topics.add('busy', `z-joiner-${round}`);
      await h.herald.topics.remove('busy', leaving[round]!);
      round++;
    } while (cursor);
    for (const member of staying) expect(seen.filter((m) => m === member)).toHaveLength(1);
    expect(new Set(seen).size).toBe(seen.length);
    // Names come in order, so a page never goes back.
    expect([...seen].sort()).toEqual(seen);
  });
});

describe('a topic notification', () => {
  it('gives every member but the excluded a notification of its own, counted in its status and listed with theirs', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '40' } });
    const room = members(300);
    await h.register(...room);
    await join('room:7', room);
    const sender = room[3]!;
    const app = await h.app();
    await h.startWorker(['gotify']);

    const accepted = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: auth,
      payload: { id: 'msg-1', topic: 'room:7', exclude: [sender, 'not-a-member'], title: 'Alice in room 7', message: 'Hello room', channels: ['gotify'] },
    });
    expect(accepted.statusCode).toBe(202);
    expect(accepted.json()).toEqual({ id: 'msg-1', status: 'queued', duplicate: false, recipients: 299 });

    const final = await h.waitForStatus('msg-1', ended, 30_000);
    expect(final).toMatchObject({ id: 'msg-1', status: 'delivered', topic: 'room:7', attempts: [] });
    expect(final.to).toBeUndefined();
    expect(final.recipients).toEqual({
      total: 299,
      queued: 0,
      scheduled: 0,
      delivering: 0,
      delivered: 299,
      failed: 0,
      expired: 0,
      skipped: 0,
      merged: 0,
      canceled: 0,
    });

    // Exactly one Gotify message per member but the sender, each under that member's own id.
    const received = gotifyRequestsById(h);
    const expected = room.filter((m) => m !== sender).map((m) => recipientNotificationId('msg-1', m));
    expect([...received.keys()].sort()).toEqual([...expected].sort());
    expect([...received.values()].every((n) => n === 1)).toBe(true);

    const listed = await allRecipients('msg-1', 64);
    expect(listed.map((r) => r.to)).toEqual(room.filter((m) => m !== sender));
    expect(listed.every((r) => r.status === 'delivered' && r.id === recipientNotificationId('msg-1', r.to))).toBe(true);
    const child = await h.herald.status(listed[0]!.id);
    expect(child).toMatchObject({ status: 'delivered', to: room[0], channel: 'gotify' });
    expect(child?.recipients).toBeUndefined();

    const page = await app.inject({ method: 'GET', url: '/v1/notifications/msg-1/recipients?limit=2', headers: auth });
    expect(page.statusCode).toBe(200);
    expect(page.json()).toEqual({
      items: room.slice(0, 2).map((to) => ({ to, id: recipientNotificationId('msg-1', to), status: 'delivered' })),
      next: expect.any(String),
    });
  });

  it('reaches the members at acceptance: a later join is not notified, a later leave still is', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '2' } });
    await h.register('ann', 'ben', 'cid', 'dan');
    await join('room:8', ['ann', 'ben', 'cid']);
    const { recipients } = await h.herald.notify({ id: 'snap', topic: 'room:8', message: 'Before the change', channels: ['gotify'] });
    expect(recipients).toBe(3);
    await h.herald.topics.remove('room:8', 'ben');
    await h.herald.topics.add('room:8', 'dan');
    await h.startWorker(['gotify']);
    await h.waitForStatus('snap', 'delivered', 15_000);
    expect([...gotifyRequestsById(h).keys()].sort()).toEqual(['ann', 'ben', 'cid'].map((m) => recipientNotificationId('snap', m)).sort());
  });

  it('is counted per recipient: members not registered end skipped, and the topic notification is delivered if any was', async () => {
    h = await Harness.create();
    await h.register('reg-1', 'reg-2');
    await join('mixed', ['reg-1', 'reg-2', 'ghost-1']);
    await h.startWorker(['gotify']);
    await h.herald.notify({ id: 'mix', topic: 'mixed', message: 'Hi', channels: ['gotify'] });
    const final = await h.waitForStatus('mix', ended, 15_000);
    expect(final.status).toBe('delivered');
    expect(final.recipients).toMatchObject({ total: 3, delivered: 2, skipped: 1 });
    const ghost = await h.herald.status(recipientNotificationId('mix', 'ghost-1'));
    expect(ghost?.attempts).toEqual([expect.objectContaining({ outcome: 'skipped', code: 'HERALD_UNKNOWN_RECIPIENT' })]);

    // Nobody registered: every recipient skipped, so is the topic notification; no members at all: skipped too.
    await join('ghosts', ['ghost-2', 'ghost-3']);
    await h.herald.notify({ id: 'ghosts', topic: 'ghosts', message: 'Hi', channels: ['gotify'] });
    expect((await h.waitForStatus('ghosts', ended, 15_000)).recipients).toMatchObject({ total: 2, skipped: 2 });
    expect((await h.herald.status('ghosts'))?.status).toBe('skipped');
    expect(await h.herald.notify({ id: 'empty', topic: 'nobody', message: 'Hi' })).toMatchObject({ status: 'queued', recipients: 0 });
    const empty = await h.waitForStatus('empty', ended, 15_000);
    expect(empty).toMatchObject({ status: 'skipped', recipients: { total: 0 } });
    expect(await allRecipients('empty')).toEqual([]);
  });

  it('under the same id twice, sequentially or at once, notifies each member once and answers duplicate with the same count', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '7' } });
    const room = members(50);
    await h.register(...room);
    await join('room:9', room);
    const input = { id: 'twice', topic: 'room:9', exclude: [room[0]!], message: 'Once only', channels: ['gotify'] as const };
    const together = await Promise.all([h.herald.notify({ ...input, channels: ['gotify'] }), h.herald.notify({ ...input, channels: ['gotify'] })]);
    expect(together.map((r) => r.duplicate).sort()).toEqual([false, true]);
    expect(together.map((r) => r.recipients)).toEqual([49, 49]);
    await h.startWorker(['gotify']);
    const again = await h.herald.notify({ ...input, channels: ['gotify'] });
    expect(again).toMatchObject({ duplicate: true, recipients: 49 });
    // In one batch too.
    const batch = await h.herald.notifyMany([
      { ...input, channels: ['gotify'] },
      { ...input, channels: ['gotify'] },
    ]);
    expect(batch).toEqual([expect.objectContaining({ duplicate: true, recipients: 49 }), expect.objectContaining({ duplicate: true, recipients: 49 })]);

    const final = await h.waitForStatus('twice', ended, 20_000);
    expect(final.recipients).toMatchObject({ total: 49, delivered: 49 });
    const received = gotifyRequestsById(h);
    expect(received.size).toBe(49);
    expect([...received.values()].every((n) => n === 1)).toBe(true);
  });

  it('refuses topic with to or targets, and exclude without topic, naming the field', async () => {
    h = await Harness.create();
    const refusal = (input: Record<string, unknown>) =>
      h.herald.notify({ message: 'x', ...input }).then(
        () => null,
        (err: { details?: unknown }) => err.details,
      );
    expect(await refusal({ topic: 'room:1', to: 'u' })).toEqual([expect.objectContaining({ field: 'to' })]);
    expect(await refusal({ topic: 'room:1', targets: { email: 'a@example.org' } })).toEqual([expect.objectContaining({ field: 'targets' })]);
    expect(await refusal({ to: 'u', exclude: ['v'] })).toEqual([expect.objectContaining({ field: 'exclude' })]);
    expect(await refusal({ topic: 'room 1' })).toEqual([expect.objectContaining({ field: 'topic' })]);
    expect(await refusal({ topic: 'room:1', groupKey: 'room:1', digest: { windowSeconds: 60 } })).toEqual([expect.objectContaining({ field: 'digest' })]);
    expect(await refusal({ topic: 'room:1', exclude: Array.from({ length: 101 }, (_, i) => `u${i}`) })).toEqual([
      expect.objectContaining({ field: 'exclude' }),
    ]);
    const app = await h.app();
    const plain = await h.herald.notify({ to: 'u', message: 'not a topic one' });
    const notTopic = await app.inject({ method: 'GET', url: `/v1/notifications/${plain.id}/recipients`, headers: auth });
    expect(notTopic.statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/notifications/nope/recipients', headers: auth })).statusCode).toBe(404);
  });

  it('of 10 000 members is accepted with the same few commands as one of 3, and fanned out by the workers', async () => {
    h = await Harness.create();
    const big = members(10_000);
    await join('big', big);
    await join('small', members(3));
    await h.herald.notify({ id: 'warm-up', topic: 'small', message: 'warm-up' });
    const redis = (await h.herald.connection()) as Redis;
    const commandsOf = async (id: string, topic: string) => {
      const recorder = recordCommands(redis);
      try {
        return { result: await h.herald.notify({ id, topic, message: 'Everyone', channels: ['gotify'] }), names: recorder.names };
      } finally {
        recorder.stop();
      }
    };
    const small = await commandsOf('small-1', 'small');
    const large = await commandsOf('big-1', 'big');
    expect(large.result).toMatchObject({ status: 'queued', duplicate: false, recipients: 10_000 });
    expect(large.names).toEqual(small.names);
    expect(large.names.filter((name) => name === 'exec')).toHaveLength(1);

    // No worker yet: nobody's notification exists; all are queued, waiting for the fan-out.
    expect(await h.herald.status(recipientNotificationId('big-1', big[0]!))).toBeNull();
    const waiting = await h.herald.topics.recipients('big-1', { limit: 1000 });
    expect(waiting?.items.every((r) => r.status === 'queued')).toBe(true);
    expect((await h.herald.status('big-1'))?.recipients).toMatchObject({ total: 10_000, queued: 10_000 });

    // The members are not registered: each of their notifications ends skipped, without a provider.
    await h.startWorker(['gotify']);
    const final = await h.waitForStatus('big-1', ended, 120_000);
    expect(final).toMatchObject({ status: 'skipped', recipients: { total: 10_000, skipped: 10_000, queued: 0 } });
    const listed = await allRecipients('big-1', 1000);
    expect(listed).toHaveLength(10_000);
    expect(new Set(listed.map((r) => r.id)).size).toBe(10_000);
    expect(listed.every((r) => r.status === 'skipped')).toBe(true);
    const stats = await h.herald.stats();
    expect(stats.topics).toEqual({ accepted: 3, recipients: 10_006 });
  }, 180_000);

  it('scheduled: the recipients wait scheduled, and go out at sendAt, never before', async () => {
    h = await Harness.create();
    await h.register('sam', 'sue');
    await join('later', ['sam', 'sue']);
    await h.startWorker(['gotify']);
    // Far ahead: the fan-out writes their notifications at once, and they wait.
    const far = await h.herald.notify({ id: 'far', topic: 'later', message: 'Tomorrow', channels: ['gotify'], delayMs: 3_600_000 });
    expect(far).toMatchObject({ status: 'scheduled', recipients: 2 });
    const children = ['sam', 'sue'].map((m) => recipientNotificationId('far', m));
    const written = await until(
      () => Promise.all(children.map((id) => h.herald.status(id))),
      (statuses) => statuses.every((s) => s !== null),
    );
    expect(written.map((s) => s?.status)).toEqual(['scheduled', 'scheduled']);
    expect((await h.herald.status('far'))?.recipients).toMatchObject({ total: 2, scheduled: 2 });

    // Soon: delivered at sendAt.
    const sendAt = new Date(Date.now() + 1500).toISOString();
    await h.herald.notify({ id: 'soon', topic: 'later', message: 'Soon', channels: ['gotify'], sendAt });
    const final = await h.waitForStatus('soon', 'delivered', 15_000);
    expect(final.recipients).toMatchObject({ total: 2, delivered: 2, scheduled: 0 });
    expect(h.gotify.requests).toHaveLength(2);
    expect(h.gotify.requests.every((r) => r.at >= Date.parse(sendAt))).toBe(true);
    expect((await h.herald.status('far'))?.status).toBe('scheduled');
  });

  it('is counted in /v1/stats and /metrics: topic notifications, the recipients fanned out, each recipient as a notification', async () => {
    h = await Harness.create();
    await h.register('s-1', 's-2');
    await join('counted', ['s-1', 's-2', 's-3']);
    await h.startWorker(['gotify']);
    await h.herald.notify({ id: 'counted-1', topic: 'counted', exclude: ['s-3'], message: 'Hi', channels: ['gotify'] });
    await h.waitForStatus('counted-1', 'delivered', 15_000);
    const app = await h.app();
    // The last page's job completes just after its commit: wait for BullMQ to record it.
    const stats = await until(
      async () => (await app.inject({ method: 'GET', url: '/v1/stats', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json(),
      (body) => body.queues?.['fan-out']?.active === 0,
    );
    expect(stats.topics).toEqual({ accepted: 1, recipients: 2 });
    expect(stats.notifications).toMatchObject({ accepted: 2, delivered: 2 });
    expect(stats.queues['fan-out']).toEqual({ waiting: 0, active: 0, delayed: 0 });
    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const families = parsePrometheusText(metrics.body);
    expect(sampleValue(families, 'herald_topic_notifications_accepted_total', {})).toBe(1);
    expect(sampleValue(families, 'herald_topic_recipients_total', {})).toBe(2);
    expect(sampleValue(families, 'herald_notifications_accepted_total', {})).toBe(2);
  });

  it('follows its recipients through the dead-letter queue: failed when they all failed, delivering while one is replayed, then delivered', async () => {
    h = await Harness.create();
    await h.register('f-1', 'f-2', 'f-3');
    await join('refused', ['f-1', 'f-2', 'f-3']);
    h.gotify.answer({ status: 401 }, { status: 401 }, { status: 401 });
    const worker = await h.startWorker(['gotify']);
    await h.herald.notify({ id: 'refused-1', topic: 'refused', message: 'Hi', channels: ['gotify'] });
    const failed = await h.waitForStatus('refused-1', ended, 15_000);
    expect(failed).toMatchObject({ status: 'failed', recipients: { total: 3, failed: 3 } });

    await worker.close(1000);
    const replayed = recipientNotificationId('refused-1', 'f-2');
    await h.herald.deadLetters.replay(replayed);
    expect(await h.herald.status('refused-1')).toMatchObject({ status: 'delivering', recipients: { failed: 2, queued: 1 } });
    await h.startWorker(['gotify']);
    const final = await h.waitForStatus('refused-1', ended, 15_000);
    expect(final).toMatchObject({ status: 'delivered', recipients: { total: 3, failed: 2, delivered: 1, queued: 0 } });
    expect((await h.herald.status(replayed))?.status).toBe('delivered');
  });

  it('writes a page once: two runs of the same page job at once, one finds the token moved on and writes nothing', async () => {
    h = await Harness.create();
    const room = members(25);
    await join('race', room);
    await h.herald.notify({ id: 'race-1', topic: 'race', message: 'Hi', channels: ['gotify'] });
    const redis = new Redis(h.redisUrl, { maxRetriesPerRequest: null });
    const queues = new ChannelQueues(redis, h.prefix);
    h.onClose(async () => {
      await queues.close();
      redis.disconnect();
    });
    const topics = new TopicStore(redis, h.herald.keys);
    const runner = new FanOutRunner({ topics, queues, defaultChannels: ['gotify'], statusRetentionSeconds: 3600, pageSize: 10 });
    const { token } = (await topics.topicRecord('race-1'))!;
    // Both read the record before either commits: only the page script's token check tells them apart.
    const reports = await Promise.all([runner.runPage({ id: 'race-1', token }), runner.runPage({ id: 'race-1', token })]);
    expect(reports.map((r) => r.outcome).sort()).toEqual(['page', 'stale']);
    expect(reports.map((r) => r.written).sort((a, b) => a - b)).toEqual([0, 10]);
    expect((await topics.topicRecord('race-1'))?.fanOutCursor).toBe(room[9]);
    expect((await h.herald.stats()).topics).toEqual({ accepted: 1, recipients: 10 });
    // Run again later, the same job is stale before it reads a member.
    expect(await runner.runPage({ id: 'race-1', token })).toEqual({ id: 'race-1', outcome: 'stale', written: 0 });
  });

  it('leaves nothing without an expiry but the members and the registry: its record, recipient list and recipients all expire, the recipients no sooner', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '3' } });
    await h.register('k-1', 'k-2');
    await join('kept', ['k-1', 'k-2', 'k-3', 'k-4']);
    await h.startWorker(['gotify']);
    await h.herald.notify({ id: 'kept-1', topic: 'kept', message: 'Hi', channels: ['gotify'], ttlSeconds: 600 });
    await h.waitForStatus('kept-1', ended, 15_000);
    const redis = await h.herald.connection();
    const keys = h.herald.keys;
    const parentTtl = await redis.pttl(keys.record('kept-1'));
    expect(parentTtl).toBeGreaterThan(0);
    expect(await redis.pttl(keys.recipientsOf('kept-1'))).toBeGreaterThan(0);
    for (const member of ['k-1', 'k-2', 'k-3', 'k-4']) {
      const child = recipientNotificationId('kept-1', member);
      // An ended recipient lives at least as long as its topic notification, so the list can show it.
      expect(await redis.pttl(keys.record(child)), member).toBeGreaterThanOrEqual(parentTtl - 5000);
      expect(await redis.pttl(keys.attempts(child)), member).toBeGreaterThanOrEqual(parentTtl - 5000);
    }
    const lasting: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${h.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) if ((await redis.pttl(key)) === -1) lasting.push(key.slice(h.prefix.length + 1));
    } while (cursor !== '0');
    // The event log has no expiry but is capped in length (HERALD_EVENTS_RETENTION); the queues keep their own settings.
    const allowed = [
      /^topic:kept:members$/,
      /^r:k-[12]$/,
      /^stats:total$/,
      /^workers$/,
      // The deployment's shard count (store/shard-count.ts): fixed for its life.
      /^shards$/,
      /^events$/,
      /^(deliver-(gotify|webpush|email|ntfy|webhook|inbox)|fan-out|webhook-events):/,
    ];
    expect(lasting.filter((key) => !allowed.some((pattern) => pattern.test(key)))).toEqual([]);
    expect(lasting).toContain('topic:kept:members');
  });
});
