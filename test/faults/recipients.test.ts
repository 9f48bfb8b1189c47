import { afterEach, describe, expect, it } from 'vitest';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';
import type { Status } from '../../src/types.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const PER_KIND = 50;
const SHARED_TOKEN = 'AsharedInboxToken';

function messageOf(body: Buffer): string {
  return (JSON.parse(body.toString()) as { message: string }).message;
}

describe('recipients the registry does not know', () => {
  it('with GOTIFY_TOKEN shared, an unknown and a deleted recipient get nothing through it: skipped, with their codes', async () => {
    cluster = await FaultCluster.start({ env: { GOTIFY_TOKEN: SHARED_TOKEN, HERALD_GOTIFY_SHARED: '1' } });
    const { herald } = cluster;
    // A registered recipient without a token of its own: the control, reached through the shared token.
    await herald.recipients.set('member', { email: 'member@example.org' });
    await herald.recipients.set('leaver', { email: 'leaver@example.org' });
    const batch = (to: string) => Array.from({ length: PER_KIND }, (_, i) => ({ id: `${to}-${i}`, to, message: `${to} ${i}`, channels: ['gotify' as const] }));
    await herald.notifyMany([...batch('member'), ...batch('stranger'), ...batch('leaver')]);
    // Deleted while its notifications wait in the queue (no worker runs yet).
    await herald.recipients.delete('leaver');
    cluster.worker();

    const statuses = async (to: string): Promise<Status[]> => {
      const ids = batch(to).map((n) => n.id);
      await cluster!.settle(ids, 30_000);
      return (await cluster!.statuses(ids)).map((s) => s!);
    };
    const [member, stranger, leaver] = [await statuses('member'), await statuses('stranger'), await statuses('leaver')];
    const codes = (list: Status[]) => new Set(list.map((s) => `${s.status} ${s.attempts.map((a) => `${a.outcome}:${a.code ?? a.tokenKind}`).join(',')}`));
    const sentFor = (to: string) => cluster!.gotify.requests.filter((r) => messageOf(r.body).startsWith(`${to} `));
    record({
      scenario: 'unknown and deleted recipients, GOTIFY_TOKEN shared',
      load: `${PER_KIND} never registered + ${PER_KIND} deleted while queued + ${PER_KIND} registered (control)`,
      faults: 'HERALD_GOTIFY_SHARED=1; recipient deleted with notifications queued',
      notifications: PER_KIND * 3,
      delivered: member.filter((s) => s.status === 'delivered').length,
      lost: [...member, ...stranger, ...leaver].filter((s) => !['delivered', 'skipped'].includes(s.status)).length,
      duplicated: sentFor('member').length - PER_KIND,
      notes: `${stranger.length + leaver.length} skipped (HERALD_UNKNOWN_RECIPIENT, HERALD_RECIPIENT_DELETED); ${sentFor('stranger').length + sentFor('leaver').length} sent through the shared token; the control all through it`,
    });

    expect(codes(stranger)).toEqual(new Set(['skipped skipped:HERALD_UNKNOWN_RECIPIENT']));
    expect(codes(leaver)).toEqual(new Set(['skipped skipped:HERALD_RECIPIENT_DELETED']));
    expect(codes(member)).toEqual(new Set(['delivered delivered:shared']));
    expect(sentFor('stranger')).toHaveLength(0);
    expect(sentFor('leaver')).toHaveLength(0);
    expect(sentFor('member')).toHaveLength(PER_KIND);
    expect(cluster.gotify.requests.every((r) => r.headers['x-gotify-key'] === SHARED_TOKEN)).toBe(true);
  });
});
