/**
 * The harness's real Gotify adapter, wrapped to note when each send starts (performance.now(), by
 * notification id): the moment the worker hands the delivery to the provider. Cancel tests compare
 * these moments with the moment a cancel answered (answeredMoment).
 */
import { createAdapters } from '../../src/run/adapters.js';
import type { ChannelAdapters } from '../../src/channels/types.js';
import type { Harness } from './harness.js';

export function recordingGotify(harness: Harness, connections: number): { adapters: ChannelAdapters; starts: Map<string, number[]> } {
  const real = createAdapters(harness.config, ['gotify'], connections).gotify!;
  const starts = new Map<string, number[]>();
  const gotify: typeof real = {
    name: 'gotify',
    send: (message, target, ctx) => {
      starts.set(message.id, [...(starts.get(message.id) ?? []), performance.now()]);
      return real.send(message, target, ctx);
    },
    close: () => real.close(),
  };
  return { adapters: { gotify }, starts };
}

/** Notification id → how many requests the Gotify double received for it. */
export function gotifyRequestsById(harness: Harness): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < harness.gotify.requests.length; i++) {
    const extras = harness.gotify.json(i).extras as { 'herald::notification': { id: string } };
    const id = extras['herald::notification'].id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/**
 * The moment, to compare with send starts, at which a cancel (or a read) whose answer the test has
 * just read counts as answered. The answer comes on the test's Redis connection, the worker's
 * reads on another. A worker's read that Redis ran before the cancel took effect may still let its
 * delivery send (a send under way when the cancel took effect), and the process may handle its
 * reply after the answer: the two connections' replies are not read in the order Redis wrote
 * them, so such a send can start a fraction of a millisecond after the answer was read. Redis
 * answers a command sent after the answer only once it has written every reply to what it ran
 * before; the process handles all of those at the latest in the turn of the event loop in which it
 * reads that reply, and a worker sends in the turn in which it read its record (delivery/send.ts).
 * So this is the end of that turn: a send that starts later was allowed by a read that came after
 * the cancel, which must never happen.
 */
export async function answeredMoment(harness: Harness): Promise<number> {
  await (await harness.herald.connection()).ping();
  return new Promise((resolve) => setImmediate(() => resolve(performance.now())));
}
