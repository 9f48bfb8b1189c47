import { afterEach, describe, expect, it } from 'vitest';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const OUTAGE_MS = 180_000;
/** Notifications already waiting when the outage begins, and those sent per second during it. */
const BURST = 1000;
const PER_SECOND = 10;
/** Caps the wait between tries, and so the delay a notification pays once the provider is back. */
const BACKOFF_MAX_MS = 10_000;

function idOf(body: Buffer): string {
  return (JSON.parse(body.toString()) as { extras: { 'herald::notification': { id: string } } }).extras['herald::notification'].id;
}

describe('an outage of the only channel', () => {
  it(
    'Gotify down for 3 minutes under load: nothing dead-lettered, everything delivered once it is back',
    async () => {
      cluster = await FaultCluster.start({ env: { HERALD_BACKOFF_MAX_MS: String(BACKOFF_MAX_MS) } });
      let down = true;
      cluster.gotify.respond = () => (down ? { status: 503 } : undefined);
      cluster.worker(50);

      const started = Date.now();
      const ids = await cluster.enqueue(BURST, 'outage-burst');
      // A steady producer for the rest of the outage, paced by the clock (not synchronisation).
      for (let second = 0; Date.now() - started < OUTAGE_MS; second++) {
        ids.push(...(await cluster.enqueue(PER_SECOND, `outage-${second}`)));
        await new Promise((r) => setTimeout(r, Math.max(0, started + (second + 1) * 1000 - Date.now())));
      }
      // The double answers in this process's event loop: every request before this index got 503,
      // every one after it 200.
      const failedDuringOutage = cluster.gotify.requests.length;
      down = false;
      const recoveredAt = Date.now();

      const tally = await cluster.settle(ids, 120_000);
      const deadLetters = await cluster.herald.deadLetters.count();
      const tries = new Map<string, number>();
      for (const request of cluster.gotify.requests) tries.set(idOf(request.body), (tries.get(idOf(request.body)) ?? 0) + 1);
      const accepted = cluster.gotify.requests.slice(failedDuringOutage);
      const acceptedTwice = accepted.length - new Set(accepted.map((r) => idOf(r.body))).size;
      const lastDeliveryMs = Math.max(...accepted.map((r) => r.at)) - recoveredAt;
      record({
        scenario: 'Gotify down 3 minutes (503), the only channel',
        load: `${BURST} queued + ${PER_SECOND}/s for 3 min (${ids.length})`,
        faults: `${failedDuringOutage} answers 503; HERALD_BACKOFF_MAX_MS=${BACKOFF_MAX_MS}`,
        notifications: tally.total,
        delivered: tally.delivered,
        lost: tally.lost,
        duplicated: acceptedTwice,
        notes: `${deadLetters} dead-lettered; up to ${Math.max(...tries.values())} tries per notification; all delivered within ${(lastDeliveryMs / 1000).toFixed(1)} s of the recovery`,
      });

      expect(tally.delivered).toBe(ids.length);
      expect(tally.failed).toBe(0);
      expect(tally.expired).toBe(0);
      expect(tally.lost).toBe(0);
      expect(deadLetters).toBe(0);
      // The burst was tried past HERALD_MAX_ATTEMPTS (5) during the outage, where it used to be
      // dead-lettered; every notification was accepted exactly once after it.
      const failedTries = new Map<string, number>();
      for (const request of cluster.gotify.requests.slice(0, failedDuringOutage))
        failedTries.set(idOf(request.body), (failedTries.get(idOf(request.body)) ?? 0) + 1);
      expect(ids.slice(0, BURST).every((id) => (failedTries.get(id) ?? 0) > 5)).toBe(true);
      expect(accepted).toHaveLength(ids.length);
      expect(acceptedTwice).toBe(0);
    },
    OUTAGE_MS + 180_000,
  );
});
