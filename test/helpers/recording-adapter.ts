/**
 * The harness's real Gotify adapter, wrapped to note when each send starts (performance.now(), by
 * notification id): the moment the worker hands the delivery to the provider. Cancel tests compare
 * these moments with the moment a cancel answered.
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
