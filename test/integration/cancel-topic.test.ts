/**
 * Canceling a topic notification, on real Redis with the real Gotify adapter against its double:
 * the fan-out stops where it stood (no member after that point is ever notified), every recipient's
 * notification still pending ends canceled, no send starts after the cancel answered, and a
 * recipient's notification racing a worker ends canceled or delivered, never both, with the topic
 * notification's counts matching its recipients' own statuses.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { FanOutRunner } from '../../src/delivery/fan-out.js';
import { HeraldError } from '../../src/errors.js';
import { ChannelQueues } from '../../src/queue/queues.js';
import { recipientNotificationId, TopicStore } from '../../src/store/topics.js';
import { parseEventEntry } from '../../src/store/events.js';
import { type HeraldEvent, isTerminal, NOTIFICATION_STATUSES, type RecipientCounts, type Status, type TopicRecipient } from '../../src/types.js';
import { Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { answeredMoment, gotifyRequestsById, recordingGotify } from '../helpers/recording-adapter.js';
import { joinTopic, listRecipients, memberIds } from '../helpers/topics.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

/** The queues on a connection of the test's own, closed with the harness. */
function testQueues(): { redis: Redis; queues: ChannelQueues } {
  const redis = new Redis(h.redisUrl);
  const queues = new ChannelQueues(redis, h.prefix);
  h.onClose(async () => {
    await queues.close();
    redis.disconnect();
  });
  return { redis, queues };
}

/**
 * Runs the first `pages` fan-out pages of topic notification `id` (10 members each) with a runner
 * of the test's own, as a worker would, before any worker runs; the next page's job stays queued.
 */
async function fanOutPages(id: string, pages: number): Promise<{ redis: Redis; topics: TopicStore; runner: FanOutRunner }> {
  const { redis, queues } = testQueues();
  const topics = new TopicStore(redis, h.herald.keys);
  const runner = new FanOutRunner({ topics, queues, defaultChannels: ['gotify'], statusRetentionSeconds: 3600, pageSize: 10 });
  for (let page = 0; page < pages; page++) {
    const { token } = (await topics.topicRecord(id))!;
    expect((await runner.runPage({ id, token })).outcome).toBe('page');
  }
  return { redis, topics, runner };
}

/** A topic of `count` registered members, each reached through the shared Gotify token. */
async function room(topic: string, count: number): Promise<string[]> {
  const members = memberIds(count);
  await h.register(...members);
  await joinTopic(h, topic, members);
  return members;
}

/** The topic notification's recipients counted by their own status, as its record counts them. */
function tally(recipients: TopicRecipient[]): RecipientCounts {
  const counts = { total: recipients.length } as RecipientCounts;
  for (const status of NOTIFICATION_STATUSES) counts[status] = recipients.filter((r) => r.status === status).length;
  return counts;
}

/** Waits until every send that started has reached the double, then returns the requests by id. */
async function requestsOnceArrived(starts: Map<string, number[]>): Promise<Map<string, number>> {
  const started = [...starts.values()].reduce((sum, list) => sum + list.length, 0);
  await until(
    async () => h.gotify.requests.length,
    (received) => received >= started,
  );
  return gotifyRequestsById(h);
}

/** Sends that started after `answeredAt`, as `id: ms late` strings. */
function sendsAfter(starts: Map<string, number[]>, answeredAt: number): string[] {
  return [...starts].flatMap(([id, at]) => at.filter((t) => t > answeredAt).map((t) => `${id}: ${t - answeredAt} ms`));
}

/** Every event of the harness's event log, oldest first. */
async function eventsOf(harness: Harness): Promise<HeraldEvent[]> {
  const redis = await harness.herald.connection();
  return (await redis.xrange(harness.herald.keys.events(), '-', '+')).map(([id, fields]) => parseEventEntry(id, fields));
}

describe('canceling a topic notification', () => {
  it('mid fan-out, over HTTP: ends it canceled at once, its written recipients canceled, and never notifies a member the fan-out had not reached', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '10' } });
    const members = await room('room:cut', 100);
    const app = await h.app();
    await h.herald.notify({ id: 'cut', topic: 'room:cut', message: 'hello room', channels: ['gotify'] });
    // Three pages written by a fan-out runner of the test's own, before any worker runs: the fan-out
    // stands after the 30th member, with the next page's job queued.
    const { topics, runner } = await fanOutPages('cut', 3);
    expect((await topics.topicRecord('cut'))?.fanOutCursor).toBe(members[29]);

    const queuedPage = (await topics.topicRecord('cut'))!.token;
    const canceled = await app.inject({ method: 'DELETE', url: '/v1/notifications/cut', headers: auth });
    expect(canceled.statusCode).toBe(200);
    // The 70 members not reached count as canceled at once; the 30 written were canceled one by one.
    expect(canceled.json()).toMatchObject({ id: 'cut', status: 'canceled', recipients: { total: 100, queued: 0, canceled: 100 } });
    // The next page's job finds another token; no job holds the one the cancel wrote, and even so
    // a canceled topic notification writes no page.
    expect(await runner.runPage({ id: 'cut', token: queuedPage })).toMatchObject({ outcome: 'stale', written: 0 });
    const { token } = (await topics.topicRecord('cut'))!;
    expect(await runner.runPage({ id: 'cut', token })).toMatchObject({ outcome: 'stale', written: 0 });

    // The worker runs the jobs queued before the cancel: four page jobs, the 30 first deliveries.
    await h.startWorker(['gotify']);
    const done = (msg: string) => h.logs.lines.filter((line) => line.msg === msg);
    await until(
      async () => [done('fan-out page done').length, done('delivery step done').length],
      ([pages, steps]) => pages === 4 && steps === 30,
    );
    expect(done('fan-out page done').every((line) => line.outcome === 'stale')).toBe(true);
    expect(done('delivery step done').every((line) => line.outcome === 'stale')).toBe(true);
    expect(h.gotify.requests).toHaveLength(0);
    // Only the first 30 members have a notification of their own; the listing shows every one canceled.
    const children = await Promise.all(members.map((member) => h.herald.status(recipientNotificationId('cut', member))));
    expect(children.slice(0, 30).every((child) => child?.status === 'canceled')).toBe(true);
    expect(children.slice(30).every((child) => child === null)).toBe(true);
    const listed = await listRecipients(h, 'cut');
    expect(listed.map((r) => r.to)).toEqual(members);
    expect(tally(listed)).toEqual((await h.herald.status('cut'))?.recipients);
    expect((await h.herald.stats()).notifications).toMatchObject({ accepted: 30, canceled: 30 });

    // The event log says the same: the topic notification and its 30 written recipients canceled.
    const logged = await eventsOf(h);
    expect(logged.filter((e) => e.notificationId === 'cut').map((e) => [e.type, e.status])).toEqual([
      ['notification.accepted', 'queued'],
      ['notification.canceled', 'canceled'],
    ]);
    expect(logged.filter((e) => e.type === 'notification.canceled' && e.notificationId !== 'cut').map((e) => e.to)).toEqual(
      expect.arrayContaining(members.slice(0, 30)),
    );
    expect(logged.filter((e) => e.type === 'notification.canceled')).toHaveLength(31);

    // Ended now: a second cancel answers 409 with its status, as for any notification.
    const again = await app.inject({ method: 'DELETE', url: '/v1/notifications/cut', headers: auth });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'HERALD_ERR_ALREADY_FINISHED', details: [{ field: 'status', message: 'canceled' }] } });
  });

  it('while workers fan out and deliver: no send starts after it answered, and no member past where the fan-out stopped is notified', async () => {
    // A page per member, so the fan-out is still far from done when the first deliveries arrive.
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '1' } });
    const members = await room('room:live', 1000);
    h.gotify.respond = () => ({ status: 200, body: '{"id":1}', delayMs: 2 + Math.floor(Math.random() * 5) });
    const { adapters, starts } = recordingGotify(h, 8);
    await h.herald.notify({ id: 'live', topic: 'room:live', message: 'hello room', channels: ['gotify'] });
    await h.startWorker(['gotify'], adapters, 8);
    await h.gotify.waitForRequests(10, 30_000);

    const canceled = await h.herald.cancel('live');
    const answeredAt = await answeredMoment(h);
    expect(canceled.status).toBe('canceled');
    const { fanOutCursor } = (await new TopicStore(await h.herald.connection(), h.herald.keys).topicRecord('live'))!;
    const reached = members.indexOf(fanOutCursor!) + 1;
    expect(reached).toBeGreaterThan(0);
    expect(reached).toBeLessThan(members.length);

    const requests = await requestsOnceArrived(starts);
    const listed = await listRecipients(h, 'live');
    expect(listed.every((r) => isTerminal(r.status))).toBe(true);
    expect(sendsAfter(starts, answeredAt)).toEqual([]);
    // Nobody after the cursor has a notification, or was sent anything.
    const unreached = new Set(members.slice(reached).map((member) => recipientNotificationId('live', member)));
    expect([...requests.keys()].filter((id) => unreached.has(id))).toEqual([]);
    expect((await Promise.all([...unreached].map((id) => h.herald.status(id)))).every((s) => s === null)).toBe(true);
    // Every recipient either got its one message before the cancel, or ended canceled.
    for (const r of listed) expect(r.status === 'delivered' ? requests.get(r.id) : r.status).toBe(r.status === 'delivered' ? 1 : 'canceled');
    const parent = (await h.herald.status('live'))!;
    expect(parent.status).toBe('canceled');
    expect(tally(listed)).toEqual(parent.recipients);
  });

  it('after a full fan-out, with the provider down: every recipient waiting for a retry ends canceled and none is sent again', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '10' } });
    const members = await room('room:down', 50);
    const children = members.map((member) => recipientNotificationId('down', member));
    h.gotify.respond = () => ({ status: 503, body: 'down' });
    const { adapters, starts } = recordingGotify(h, 8);
    await h.herald.notify({ id: 'down', topic: 'room:down', message: 'hello room', channels: ['gotify'] });
    await h.startWorker(['gotify'], adapters, 8);
    // Every recipient has been tried and is waiting for its next try.
    await until(
      () => Promise.all(children.map((id) => h.herald.status(id))),
      (statuses) => statuses.every((s) => s?.status === 'delivering' && s.attempts.length > 0),
      20_000,
    );

    const canceled = await h.herald.cancel('down');
    const answeredAt = await answeredMoment(h);
    expect(canceled).toMatchObject({ status: 'canceled', recipients: { total: 50, delivering: 0, canceled: 50 } });
    // The provider comes back; the retry queued for each recipient runs, finds its record canceled,
    // and queues nothing more: the gotify queue empties.
    h.gotify.respond = () => ({ status: 200, body: '{"id":1}' });
    const { queues } = testQueues();
    await until(
      () => queues.queues.gotify.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'waiting-children'),
      (counts) => Object.values(counts).every((n) => n === 0),
      20_000,
    );
    await requestsOnceArrived(starts);
    expect(sendsAfter(starts, answeredAt)).toEqual([]);
    const finals = (await Promise.all(children.map((id) => h.herald.status(id)))) as Status[];
    expect(finals.filter((s) => s.status !== 'canceled' || s.attempts.some((a) => a.outcome === 'delivered'))).toEqual([]);
    const parent = (await h.herald.status('down'))!;
    expect(parent.status).toBe('canceled');
    expect(tally(await listRecipients(h, 'down'))).toEqual(parent.recipients);
    expect((await h.herald.stats()).notifications).toMatchObject({ canceled: 50, delivered: 0 });
  });
});

describe('a cancel by group during a fan-out', () => {
  it("reaches the recipient's notification of a topic notification accepted before it, even one the fan-out writes afterwards", async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '10' } });
    const members = await room('room:g', 100);
    const [reached, unreached] = [members[5]!, members[50]!];
    const input = { topic: 'room:g', message: 'hello room', groupKey: 'room:g', channels: ['gotify' as const] };
    await h.herald.notify({ ...input, id: 'before' });
    const { redis } = await fanOutPages('before', 2);

    // Both read on another device: one's notification is written and pending, the other's not yet.
    expect(await h.herald.cancelGroup(reached, 'room:g')).toBe(1);
    const canceledAt = Date.now();
    expect(await h.herald.cancelGroup(unreached, 'room:g')).toBe(0);
    // With no fan-out of its groupKey under way, a cancel by group writes nothing more.
    expect(await h.herald.cancelGroup(unreached, 'room:other')).toBe(0);
    expect(await redis.exists(h.herald.keys.groupCanceled(unreached, 'room:other'))).toBe(0);
    // A later topic notification of the same room is not canceled by the earlier call.
    await until(
      async () => Date.now(),
      (now) => now > canceledAt + 1,
    );
    await h.herald.notify({ ...input, id: 'after' });

    await h.startWorker(['gotify']);
    const before = await h.waitForStatus('before', (s) => isTerminal(s.status), 20_000);
    const after = await h.waitForStatus('after', (s) => isTerminal(s.status), 20_000);
    expect(before).toMatchObject({ status: 'delivered', recipients: { total: 100, delivered: 98, canceled: 2 } });
    expect(after).toMatchObject({ status: 'delivered', recipients: { total: 100, delivered: 100 } });
    const childOf = (id: string, member: string) => h.herald.status(recipientNotificationId(id, member));
    expect(await childOf('before', unreached)).toMatchObject({ status: 'canceled', attempts: [] });
    // The fan-out wrote that one canceled, and said so in the event log (not accepted).
    const unreachedEvents = (await eventsOf(h)).filter((e) => e.notificationId === recipientNotificationId('before', unreached));
    expect(unreachedEvents.map((e) => [e.type, e.to])).toEqual([['notification.canceled', unreached]]);
    expect((await childOf('after', unreached))?.status).toBe('delivered');
    const requests = gotifyRequestsById(h);
    expect([reached, unreached].map((member) => requests.get(recipientNotificationId('before', member)))).toEqual([undefined, undefined]);
    expect(tally(await listRecipients(h, 'before'))).toEqual(before.recipients);
    expect((await h.herald.stats()).notifications).toMatchObject({ accepted: 200, canceled: 2, delivered: 198 });
    // Both fan-outs are done: the room has none under way.
    expect(await redis.zcard(h.herald.keys.groupFanOuts('room:g'))).toBe(0);
  });
});

describe('a topic cancel racing workers at full speed', () => {
  it.each([0, 40, 120, 400])(
    'leaves every recipient canceled or delivered, never both, its counts right, and no send after it answered (cancel after %i requests)',
    async (requestsFirst) => {
      h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '5' } });
      await room('room:race', 200);
      const { adapters, starts } = recordingGotify(h, 16);
      await h.herald.notify({ id: 'race', topic: 'room:race', message: 'hello room', channels: ['gotify'] });
      await h.startWorker(['gotify'], adapters, 16);
      const parentEnded = h.waitForStatus('race', (s) => isTerminal(s.status), 30_000);
      // The last of these comes only once the topic notification has ended (200 requests at most).
      await Promise.race([h.gotify.waitForRequests(requestsFirst, 30_000), parentEnded]);

      let answer: Status | HeraldError;
      try {
        answer = await h.herald.cancel('race');
      } catch (err) {
        answer = err as HeraldError;
      }
      const answeredAt = await answeredMoment(h);
      const parent = await h.waitForStatus('race', (s) => isTerminal(s.status), 30_000);
      if (answer instanceof HeraldError) {
        // Too late: every recipient had ended, and the answer says how.
        expect([answer.code, answer.details]).toEqual(['HERALD_ERR_ALREADY_FINISHED', [{ field: 'status', message: parent.status }]]);
        expect(parent.recipients!.canceled).toBe(0);
      } else {
        expect(answer.status).toBe('canceled');
        expect(parent.status).toBe('canceled');
      }
      const requests = await requestsOnceArrived(starts);
      const listed = await listRecipients(h, 'race');
      const problems: string[] = [];
      for (const r of listed) {
        const status = await h.herald.status(r.id);
        const delivered = status?.attempts.filter((a) => a.outcome === 'delivered').length ?? 0;
        if (r.status === 'canceled' && delivered > 0) problems.push(`${r.id}: canceled with a delivered attempt`);
        if (r.status === 'delivered' && (delivered !== 1 || requests.get(r.id) !== 1))
          problems.push(`${r.id}: delivered, ${delivered} attempts, ${requests.get(r.id)} requests`);
        if (r.status !== 'canceled' && r.status !== 'delivered') problems.push(`${r.id}: ${r.status}`);
      }
      problems.push(...sendsAfter(starts, answeredAt));
      expect(problems).toEqual([]);
      // A request for a canceled recipient is a send that was under way when the cancel took effect
      // (it started before the cancel answered: see above); it is not recorded.
      expect(tally(listed)).toEqual(parent.recipients);
    },
  );
});
