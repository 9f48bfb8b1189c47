import { afterEach, describe, expect, it } from 'vitest';
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
    cluster = await FaultCluster.start({ env: { HERALD_FANOUT_PAGE_SIZE: String(PAGE_SIZE) } });
    const { herald } = cluster;
    const redis = await herald.connection();
    for (let from = 0; from < MEMBERS; from += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, MEMBERS - from) }, async (_, k) => {
          const i = from + k;
          await herald.recipients.set(member(i), { gotify: { token: tokenOf(i) } });
          await herald.topics.add(TOPIC, member(i));
        }),
      );
    }
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
    const fanner = cluster.spawn(['worker', '--channels', 'email']);
    const cursorKey = herald.keys.record('fault-fanout');
    // A few pages in: well inside the fan-out, whose 150 pages take seconds.
    await waitUntil(async () => ((await redis.hget(cursorKey, 'fanOutCursor')) ?? '') >= member(5 * PAGE_SIZE), 30_000);
    await cluster.stop(fanner, 'SIGKILL');
    const reachedAtKill = (await redis.hget(cursorKey, 'fanOutCursor')) ?? '';
    // The kill came mid fan-out: some pages were written, not all.
    expect(reachedAtKill > member(0)).toBe(true);
    expect(reachedAtKill < member(MEMBERS - 1)).toBe(true);

    // A worker that delivers takes the rest over, the interrupted page's job once its lock expires.
    cluster.worker(50);
    await cluster.settle(['fault-fanout'], 120_000);
    const [final] = await cluster.statuses(['fault-fanout']);
    const perMember = new Map<string, number>();
    for (const request of cluster.gotify.requests) {
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

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
