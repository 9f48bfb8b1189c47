import { afterEach, describe, expect, it } from 'vitest';
import type { NotificationInput } from '../../src/types.js';
import { FaultCluster, RECIPIENT } from './cluster.js';
import { record } from './report.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const GROUPS = 20;
const PER_GROUP = 5;

/** The digests the Gotify double received: holder id → the ids each request listed. */
function digestsReceived(c: FaultCluster): Map<string, string[][]> {
  const byHolder = new Map<string, string[][]>();
  for (const request of c.gotify.requests) {
    const body = JSON.parse(request.body.toString()) as { extras: { 'herald::notification': { id: string; data?: { digest?: string[] } } } };
    const { id, data } = body.extras['herald::notification'];
    byHolder.set(id, [...(byHolder.get(id) ?? []), data?.digest ?? []]);
  }
  return byHolder;
}

/**
 * Sends PER_GROUP rounds of one notification per group, each group its own digest window; the
 * first of each group holds the window. Returns the ids of each group, oldest first.
 */
async function sendDigests(c: FaultCluster, scenario: string, windowSeconds: number): Promise<string[][]> {
  await c.registerRecipient();
  const groups: string[][] = Array.from({ length: GROUPS }, () => []);
  for (let round = 0; round < PER_GROUP; round++) {
    const batch: NotificationInput[] = groups.map((_, g) => ({
      id: `${scenario}-g${g}-${round}`,
      to: RECIPIENT,
      message: `room ${g}, message ${round}`,
      channels: ['gotify'],
      groupKey: `room:${g}`,
      digest: { windowSeconds },
    }));
    const results = await c.retryWhileUnavailable(() => c.herald.notifyMany(batch));
    results.forEach((result, g) => {
      if (!('id' in result)) throw new Error(`enqueue refused: ${JSON.stringify(result.error)}`);
      groups[g]!.push(result.id);
    });
  }
  return groups;
}

/** Every id accounted for: each group's holder delivered, the others merged into it, and every request of a holder listing its whole group. */
async function account(c: FaultCluster, groups: string[][], timeoutMs: number) {
  const ids = groups.flat();
  const tally = await c.settle(ids, timeoutMs);
  const statuses = await c.statuses(ids);
  const byId = new Map(statuses.map((s, i) => [ids[i]!, s]));
  const received = digestsReceived(c);
  let incomplete = 0;
  let lost = 0;
  let requests = 0;
  for (const group of groups) {
    const [holder, ...merged] = group as [string, ...string[]];
    const sent = received.get(holder) ?? [];
    requests += sent.length;
    if (byId.get(holder)?.status !== 'delivered' || sent.length === 0) lost += group.length;
    else lost += merged.filter((id) => byId.get(id)?.status !== 'merged' || byId.get(id)?.mergedInto !== holder).length;
    incomplete += sent.filter((listed) => listed.join() !== group.join()).length;
  }
  return { tally, lost, incomplete, duplicated: requests - groups.length, delivered: ids.length - lost };
}

type Accounted = Awaited<ReturnType<typeof account>>;

/** One row of the fault suite's table; a merged notification counts as delivered once its digest is. */
function report(result: Accounted, row: { scenario: string; load: string; faults: string; notes: string }): void {
  record({ ...row, notifications: result.tally.total, delivered: result.delivered, lost: result.lost, duplicated: result.duplicated });
}

describe('digest windows and killed workers', () => {
  it('kill -9 of a worker while windows are open: each digest is still delivered once, with every id', async () => {
    cluster = await FaultCluster.start();
    const first = cluster.worker();
    // The worker is up and serving before the windows open.
    const [probe] = await cluster.enqueue(1, 'probe');
    await cluster.settle([probe!], 30_000);
    const groups = await sendDigests(cluster, 'open', 4);
    await cluster.stop(first, 'SIGKILL');
    // Killed while every window was still open: nothing of them was sent.
    const holders = await cluster.statuses(groups.map((g) => g[0]!));
    expect(holders.map((s) => s?.status)).toEqual(groups.map(() => 'scheduled'));
    expect(cluster.gotify.requests).toHaveLength(1);
    cluster.worker();
    const result = await account(cluster, groups, 60_000);
    report(result, {
      scenario: 'kill -9 a worker while digest windows are open',
      load: `${GROUPS} windows of ${PER_GROUP} notifications, 4 s each`,
      faults: 'SIGKILL of the only worker, 1 replacement',
      notes: `${GROUPS} digests, ${result.incomplete} missing an id; the rest merged`,
    });
    expect(result.tally.lost).toBe(0);
    expect(result.lost).toBe(0);
    expect(result.duplicated).toBe(0);
    expect(result.incomplete).toBe(0);
  });

  it('kill -9 of a worker while it sends the digests: each is delivered, every copy with every id', async () => {
    cluster = await FaultCluster.start();
    // Slow enough that the kill finds digests in flight, after their windows closed.
    cluster.gotify.fallback = { status: 200, body: '{"id":1}', delayMs: 1500 };
    const first = cluster.worker();
    const groups = await sendDigests(cluster, 'sending', 1);
    await cluster.gotify.waitForRequests(1, 30_000);
    await cluster.stop(first, 'SIGKILL');
    cluster.gotify.fallback = { status: 200, body: '{"id":1}' };
    cluster.worker();
    const result = await account(cluster, groups, 60_000);
    report(result, {
      scenario: 'kill -9 a worker while it sends digests',
      load: `${GROUPS} windows of ${PER_GROUP} notifications, 1 s each`,
      faults: 'SIGKILL with digests in flight (provider answers in 1.5 s), 1 replacement',
      notes: `duplicates are digests in flight at the kill (at-least-once); ${result.incomplete} copies missing an id`,
    });
    expect(result.tally.lost).toBe(0);
    expect(result.lost).toBe(0);
    expect(result.incomplete).toBe(0);
  });
});
