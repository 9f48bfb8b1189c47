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
 * just read counts as answered: the end of the event loop's turn in which the answer was read.
 * The answer arrives on the test's own Redis connection, the worker's reads on another. A worker's
 * read that Redis ran before the cancel (so its delivery may still send: the send was under way
 * when the cancel took effect) was answered before the cancel's answer was even written, yet the
 * process may handle the two connections' replies in either order within one turn: such a send can
 * start a fraction of a millisecond after the test read the answer. By the end of that turn every
 * reply Redis had written before the answer has been handled, and each send it allowed has started
 * (a worker sends in the turn in which it read its record, see delivery/send.ts); a send that
 * starts later was allowed by a read that came after the cancel, which is what must never happen.
 */
export function answeredMoment(): Promise<number> {
  return new Promise((resolve) => setImmediate(() => resolve(performance.now())));
}
