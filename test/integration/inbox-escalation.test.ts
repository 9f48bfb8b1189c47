/**
 * Escalation on real Redis with a real Gotify double: with `inbox` first and escalateAfterSeconds,
 * the inbox item is stored at once (`delivering`, channel `inbox`); unread after the wait, the next
 * channel runs; read before, the notification ends `delivered` by the inbox the moment the read
 * answers and the next channel is never called; and a read racing the escalation never leaves a
 * record that says both (read, and a later attempt), nor starts a send after the read answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createAdapters } from '../../src/run/adapters.js';
import type { ChannelAdapters } from '../../src/channels/types.js';
import type { NotificationInput, Status } from '../../src/types.js';
import { Harness, until } from '../helpers/harness.js';
import { answeredMoment } from '../helpers/recording-adapter.js';

let h: Harness;
afterEach(async () => h?.close());

/** The escalations' queue has nothing left to run: every delayed escalation job has run. */
async function escalationsRun(harness: Harness): Promise<void> {
  await until(
    async () => (await harness.herald.stats()).queues['deliver-gotify']!,
    (q) => q.waiting === 0 && q.active === 0 && q.delayed === 0,
    15_000,
  );
}

/** The real inbox and Gotify adapters, Gotify's wrapped to note when each send starts, by notification id. */
async function recordingAdapters(harness: Harness, connections: number): Promise<{ adapters: ChannelAdapters; starts: Map<string, number[]> }> {
  const real = createAdapters(harness.config, ['gotify', 'inbox'], connections, {
    redis: await harness.herald.connection(),
    keys: harness.herald.cells.map((cell) => cell.keys),
  });
  const gotify = real.gotify!;
  const starts = new Map<string, number[]>();
  return {
    starts,
    adapters: {
      inbox: real.inbox!,
      gotify: {
        name: 'gotify',
        send: (message, target, ctx) => {
          starts.set(message.id, [...(starts.get(message.id) ?? []), performance.now()]);
          return gotify.send(message, target, ctx);
        },
        close: () => gotify.close(),
      },
    },
  };
}

describe('escalation from the inbox', () => {
  it('stores the item at once, then, still unread after the wait, runs the next channel', async () => {
    h = await Harness.create();
    await h.register('u-1');
    await h.startWorker(['inbox', 'gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', title: 'Ping', message: 'Are you there?', channels: ['inbox', 'gotify'], escalateAfterSeconds: 1 });
    const waiting = await h.waitForStatus(id, (s) => s.attempts.length === 1);
    expect(waiting).toMatchObject({ status: 'delivering', channel: 'inbox' });
    expect(waiting.attempts.map((a) => [a.channel, a.outcome])).toEqual([['inbox', 'delivered']]);
    expect(h.gotify.requests).toHaveLength(0);
    expect((await h.herald.inbox.list('u-1')).items.map((i) => i.id)).toEqual([id]);

    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('gotify');
    expect(final.attempts.map((a) => [a.channel, a.outcome])).toEqual([
      ['inbox', 'delivered'],
      ['gotify', 'delivered'],
    ]);
    expect(h.gotify.requests).toHaveLength(1);
    expect(h.gotify.json(0)).toMatchObject({ title: 'Ping', message: 'Are you there?' });
    // The item stays in the inbox, unread: the user may still read it there.
    expect((await h.herald.inbox.list('u-1')).unread).toBe(1);
  });

  it('read before the wait ends: delivered by the inbox as the read answers, and the next channel is never called', async () => {
    h = await Harness.create();
    await h.register('u-1');
    await h.startWorker(['inbox', 'gotify']);
    const { id } = await h.herald.notify({
      to: 'u-1',
      message: 'Seen in the app?',
      channels: ['inbox', 'gotify'],
      escalateAfterSeconds: 1,
      groupKey: 'room:1',
    });
    await h.waitForStatus(id, (s) => s.status === 'delivering');
    await h.herald.inbox.read('u-1', id);
    const read = await h.herald.status(id);
    expect(read).toMatchObject({ status: 'delivered', channel: 'inbox' });
    expect(read!.attempts.map((a) => a.channel)).toEqual(['inbox']);
    // Once the escalation's job has run, nothing was sent and nothing changed.
    await escalationsRun(h);
    expect(h.gotify.requests).toHaveLength(0);
    expect(await h.herald.status(id)).toEqual(read);
    // It left its group: nothing pending is left to cancel.
    expect(await h.herald.cancelGroup('u-1', 'room:1')).toBe(0);
    const stats = await h.herald.stats();
    expect(stats.notifications.delivered).toBe(1);
    expect(stats.channels.gotify.attempts).toBe(0);
  });

  it('a read racing the escalation never leaves a read notification with a later attempt, nor starts a send after the read answered', async () => {
    h = await Harness.create();
    await h.register('u-1');
    // A slow provider, so escalations are in flight while reads land.
    h.gotify.respond = () => ({ status: 200, body: '{"id":1}', delayMs: 5 + Math.floor(Math.random() * 20) });
    const { adapters, starts } = await recordingAdapters(h, 4);
    await h.startWorker(['inbox', 'gotify'], adapters, 4);
    const inputs = Array.from({ length: 60 }, (_, i): NotificationInput & { id: string } => ({
      id: `race-${i}`,
      to: 'u-1',
      message: `race ${i}`,
      channels: ['inbox', 'gotify'],
      escalateAfterSeconds: 1,
    }));
    await h.herald.notifyMany(inputs);
    const stored = await until(
      () => Promise.all(inputs.map((n) => h.herald.status(n.id))),
      (statuses) => statuses.every((s) => s?.status === 'delivering'),
    );
    const storedAt = new Map(stored.map((s) => [s!.id, performance.now() - (Date.now() - Date.parse(s!.updatedAt))]));
    // Each read lands somewhere from a little before to well after its escalation is due.
    const answered = new Map<string, number>();
    await Promise.all(
      inputs.map(async ({ id }) => {
        const due = storedAt.get(id)! + 1000;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now() - 200 + Math.random() * 800)));
        await h.herald.inbox.read('u-1', id);
        answered.set(id, await answeredMoment(h));
      }),
    );
    await escalationsRun(h);
    const finals = (await Promise.all(inputs.map((n) => h.herald.status(n.id)))) as Status[];
    let readFirst = 0;
    for (const final of finals) {
      expect(final.status, final.id).toBe('delivered');
      const sends = starts.get(final.id) ?? [];
      expect(
        sends.filter((at) => at > answered.get(final.id)!),
        final.id,
      ).toEqual([]);
      if (final.channel === 'inbox') {
        readFirst++;
        expect(
          final.attempts.map((a) => a.channel),
          final.id,
        ).toEqual(['inbox']);
      } else {
        expect(
          final.attempts.map((a) => a.channel),
          final.id,
        ).toEqual(['inbox', 'gotify']);
        expect(sends, final.id).toHaveLength(1);
      }
    }
    // Both sides of the race were reached (reads spread around the moment each escalation is due).
    expect(readFirst).toBeGreaterThan(0);
    expect(readFirst).toBeLessThan(finals.length);
  });
});
