import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ChannelQueues } from '../../src/queue/queues.js';
import { recipientNotificationId } from '../../src/store/topics.js';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const MEMBERS = 3000;
const PAGE_SIZE = 20;
const TOPIC = 'room:fault';

/** Member i, with a Gotify token of its own, so the provider's requests say whom each reached. */
const member = (i: number) => `member-${String(i).padStart(5, '0')}`;
const tokenOf = (i: number) => `Atok${String(i).padStart(5, '0')}`;

describe('a worker killed mid fan-out', () => {
  it('SIGKILL while a topic notification fans out: every member notified exactly once, none skipped', async () => {
    const { running, herald, redis } = await startWithMembers();
    const sender = 0;
    const accepted = await herald.notify({
      id: 'fault-fanout',
      topic: TOPIC,
      exclude: [member(sender)],
      message: 'Everyone but the sender',
      channels: ['gotify'],
    });
    expect(accepted.recipients).toBe(MEMBERS - 1);

    // The first worker serves no configured channel (SMTP is not set): it only fans out, so the
    // kill interrupts the fan-out and no delivery in flight.
    const fanner = running.spawn(['worker', '--channels', 'email']);
    const cursorKey = herald.keys.record('fault-fanout');
    // A few pages in: well inside the fan-out, whose 150 pages take seconds.
    await waitUntil(async () => ((await redis.hget(cursorKey, 'fanOutCursor')) ?? '') >= member(5 * PAGE_SIZE), 30_000);
    await running.stop(fanner, 'SIGKILL');
    const reachedAtKill = (await redis.hget(cursorKey, 'fanOutCursor')) ?? '';
    // The kill came mid fan-out: some pages were written, not all.
    expect(reachedAtKill > member(0)).toBe(true);
    expect(reachedAtKill < member(MEMBERS - 1)).toBe(true);

    // A worker that delivers takes the rest over, the interrupted page's job once its lock expires.
    running.worker(50);
    await running.settle(['fault-fanout'], 120_000);
    const [final] = await running.statuses(['fault-fanout']);
    const perMember = new Map<string, number>();
    for (const request of running.gotify.requests) {
      const token = String(request.headers['x-gotify-key']);
      perMember.set(token, (perMember.get(token) ?? 0) + 1);
    }
    const expected = Array.from({ length: MEMBERS }, (_, i) => i).filter((i) => i !== sender);
    const missing = expected.filter((i) => !perMember.has(tokenOf(i))).length;
    const duplicated = [...perMember.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
    record({
      scenario: 'SIGKILL a worker mid fan-out of a topic notification',
      load: `${MEMBERS} members, pages of ${PAGE_SIZE}, sender excluded`,
      faults: `SIGKILL during the fan-out (reached ${reachedAtKill}), 1 replacement worker`,
      notifications: expected.length,
      delivered: final?.recipients?.delivered ?? 0,
      lost: missing,
      duplicated,
      notes: 'each member notified exactly once; the sender never',
    });
    expect(final).toMatchObject({ status: 'delivered', recipients: { total: MEMBERS - 1, delivered: MEMBERS - 1 } });
    expect(missing).toBe(0);
    expect(duplicated).toBe(0);
    expect(perMember.has(tokenOf(sender))).toBe(false);
    expect(perMember.size).toBe(MEMBERS - 1);
  });
});

describe('a topic notification canceled while worker processes fan it out and deliver', () => {
  it('stops the fan-out where it stood and leaves every recipient canceled or delivered, never both', async () => {
    const { running, herald, redis } = await startWithMembers();
    // A provider that takes a little time, so that sends are under way when the cancel lands.
    running.gotify.respond = () => ({ status: 200, body: '{"id":1}', delayMs: 5 });
    await herald.notify({ id: 'fault-cancel', topic: TOPIC, message: 'Withdrawn soon', channels: ['gotify'] });
    const workers = [running.worker(20), running.worker(20)];
    const cursorKey = herald.keys.record('fault-cancel');
    await waitUntil(async () => ((await redis.hget(cursorKey, 'fanOutCursor')) ?? '') >= member(10 * PAGE_SIZE), 30_000);
    const canceled = await herald.cancel('fault-cancel');
    const answeredAt = Date.now();
    const reached = (await redis.hget(cursorKey, 'fanOutCursor')) ?? '';
    expect(canceled.status).toBe('canceled');
    expect(reached < member(MEMBERS - 1)).toBe(true);

    // Every job the workers still hold runs and finds its notification canceled: the queues empty.
    const connection = new Redis(running.redis.url, { maxRetriesPerRequest: null });
    const queues = new ChannelQueues(connection, running.env.HERALD_PREFIX!);
    await waitUntil(async () => {
      const counts = await Promise.all([queues.queues.gotify, queues.fanOut].map((q) => q.getJobCounts('waiting', 'delayed', 'active', 'prioritized')));
      return counts.every((c) => Object.values(c).every((n) => n === 0));
    }, 60_000);
    await queues.close();
    connection.disconnect();
    for (const worker of workers) await running.stop(worker, 'SIGTERM');

    const requestsById = new Map<string, number>();
    for (const request of running.gotify.requests) {
      const id = (JSON.parse(request.body.toString()) as { extras: { 'herald::notification': { id: string } } }).extras['herald::notification'].id;
      requestsById.set(id, (requestsById.get(id) ?? 0) + 1);
    }
    const problems: string[] = [];
    const counts = new Map<string, number>();
    for (let i = 0; i < MEMBERS; i++) {
      const id = recipientNotificationId('fault-cancel', member(i));
      const status = await herald.status(id);
      const state = status?.status ?? (member(i) > reached ? 'canceled' : 'missing');
      counts.set(state, (counts.get(state) ?? 0) + 1);
      const delivered = status?.attempts.filter((a) => a.outcome === 'delivered').length ?? 0;
      if (member(i) > reached && (status || requestsById.has(id))) problems.push(`${member(i)}: past the cursor, yet ${status?.status ?? 'sent'}`);
      if (state === 'canceled' && delivered > 0) problems.push(`${id}: canceled with a delivered attempt`);
      if (state === 'delivered' && requestsById.get(id) !== 1) problems.push(`${id}: delivered, ${requestsById.get(id)} requests`);
      if (state !== 'canceled' && state !== 'delivered') problems.push(`${id}: ${state}`);
    }
    // Sends under way when the cancel took effect may still arrive, no more than the workers run at once.
    const late = running.gotify.requests.filter((r) => r.at > answeredAt).length;
    const parent = (await herald.status('fault-cancel'))!;
    record({
      scenario: 'cancel a topic notification mid fan-out, 2 worker processes delivering',
      load: `${MEMBERS} members, pages of ${PAGE_SIZE}, provider answering in 5 ms`,
      faults: `cancel once the fan-out passed ${10 * PAGE_SIZE} members (it stood at ${reached})`,
      notifications: MEMBERS,
      delivered: counts.get('delivered') ?? 0,
      lost: problems.length,
      duplicated: 0,
      notes: `${counts.get('canceled') ?? 0} canceled; ${late} requests arrived after the cancel answered (sends already under way)`,
    });
    expect(problems).toEqual([]);
    expect(late).toBeLessThanOrEqual(40);
    expect(parent.status).toBe('canceled');
    expect(parent.recipients).toMatchObject({ total: MEMBERS, delivered: counts.get('delivered') ?? 0, canceled: counts.get('canceled') ?? 0 });
  });
});

/**
 * Starts the cluster (pages of PAGE_SIZE), registers the members, each with a Gotify token of its
 * own, and adds them to the topic.
 */
async function startWithMembers(): Promise<{ running: FaultCluster; herald: FaultCluster['herald']; redis: Redis }> {
  const c = await FaultCluster.start({ env: { HERALD_FANOUT_PAGE_SIZE: String(PAGE_SIZE) } });
  cluster = c;
  for (let from = 0; from < MEMBERS; from += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, MEMBERS - from) }, async (_, k) => {
        const i = from + k;
        await c.herald.recipients.set(member(i), { gotify: { token: tokenOf(i) } });
        await c.herald.topics.add(TOPIC, member(i));
      }),
    );
  }
  return { running: c, herald: c.herald, redis: (await c.herald.connection()) as Redis };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
