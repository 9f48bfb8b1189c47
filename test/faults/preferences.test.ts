import { afterEach, describe, expect, it } from 'vitest';
import { FaultCluster, RECIPIENT } from './cluster.js';
import { record } from './report.js';
import type { Status } from '../../src/types.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const MINUTE_MS = 60_000;
const HELD = 300;
const MUTED = 50;
const URGENT = 30;

/** `HH:MM` of the UTC clock at `ms`. */
function utcClock(ms: number): string {
  const minutes = Math.floor(ms / MINUTE_MS) % 1440;
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

function notificationId(body: Buffer): string {
  return (JSON.parse(body.toString()) as { extras: { 'herald::notification': { id: string } } }).extras['herald::notification'].id;
}

describe('quiet hours through worker kills', () => {
  it('held deliveries wait out the window through SIGKILLs, then go once; preferences changed meanwhile apply', async () => {
    cluster = await FaultCluster.start();
    const { herald } = cluster;
    await cluster.registerRecipient();
    // A window in UTC that began an hour ago and ends at a minute boundary at least 40 s away, so
    // the holds and the first kill happen inside it.
    const now = Date.now();
    const windowEnd = (Math.floor(now / MINUTE_MS) + (now % MINUTE_MS <= 20_000 ? 1 : 2)) * MINUTE_MS;
    await herald.recipients.setPreferences(RECIPIENT, { quietHours: { timezone: 'UTC', start: utcClock(now - 60 * MINUTE_MS), end: utcClock(windowEnd) } });

    const held = await cluster.enqueue(HELD, 'held', { priority: 5, category: 'chat' });
    const muted = await cluster.enqueue(MUTED, 'file', { priority: 5, category: 'file' });
    const urgent = await cluster.enqueue(URGENT, 'call', { priority: 9, category: 'call' });
    const first = cluster.worker();

    // Calls ring through; everything else waits, scheduled.
    await cluster.gotify.waitForRequests(URGENT, 30_000);
    const waiting = async () => (await cluster!.statuses([...held, ...muted])).filter((s) => s?.status === 'scheduled').length;
    for (let deadline = Date.now() + 20_000; (await waiting()) < HELD + MUTED && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 200));
    expect(await waiting()).toBe(HELD + MUTED);
    expect(Date.now()).toBeLessThan(windowEnd);

    // The user mutes file shares while they wait; the worker holding the queue dies.
    await herald.recipients.setPreferences(RECIPIENT, {
      muteCategories: ['file'],
      quietHours: { timezone: 'UTC', start: utcClock(now - 60 * MINUTE_MS), end: utcClock(windowEnd) },
    });
    await cluster.stop(first, 'SIGKILL');
    const second = cluster.worker();

    // The window ends: kill the worker delivering the wave, in the middle of it.
    await new Promise((r) => setTimeout(r, Math.max(0, windowEnd - Date.now())));
    await cluster.gotify.waitForRequests(URGENT + HELD / 3, 60_000);
    await cluster.stop(second, 'SIGKILL');
    cluster.worker();

    const tally = await cluster.settle([...held, ...muted, ...urgent], 90_000);
    const statuses = (await cluster.statuses([...held, ...muted])).map((s) => s as Status);
    const heldIds = new Set(held);
    const early = cluster.gotify.requests.filter((r) => heldIds.has(notificationId(r.body)) && r.at < windowEnd).length;
    const mutedSent = cluster.gotify.requests.filter((r) => notificationId(r.body).startsWith('file-')).length;
    const mutedSkipped = statuses.filter((s) => s.status === 'skipped' && s.attempts.at(-1)?.code === 'HERALD_MUTED').length;
    record({
      scenario: 'quiet hours through worker kills',
      load: `${HELD} held (priority 5) + ${MUTED} of a category muted while held + ${URGENT} calls (priority 9)`,
      faults: 'SIGKILL while the deliveries are held; SIGKILL mid-wave when the window ends',
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: `calls rang through at once; ${early} sent inside the window; ${mutedSkipped} skipped (HERALD_MUTED) when they woke, ${mutedSent} sent; duplicates are deliveries in flight at the second kill (at-least-once)`,
    });

    expect(tally.lost).toBe(0);
    expect(tally.delivered).toBe(HELD + URGENT);
    expect(early).toBe(0);
    expect(mutedSkipped).toBe(MUTED);
    expect(mutedSent).toBe(0);
  });
});
