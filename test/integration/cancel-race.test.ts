/**
 * Cancel racing a worker, on real Redis and a real (slow) Gotify double: a record ends canceled or
 * delivered, never both, and no send starts once the cancel call has answered; a delivery loaded
 * before the cancel but still waiting for a slot sends nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/errors.js';
import type { NotificationInput, Status } from '../../src/types.js';
import { Harness, until } from '../helpers/harness.js';
import { answeredMoment, gotifyRequestsById, recordingGotify } from '../helpers/recording-adapter.js';

let h: Harness;
afterEach(async () => h?.close());

/** What one cancel call did: when it was made and answered (answeredMoment), and its answer. */
interface CancelCall {
  calledAt: number;
  answeredAt: number;
  status?: Status;
  error?: HeraldError;
}

async function cancelWhen(moment: Promise<unknown>, id: string): Promise<CancelCall> {
  await moment;
  // A little jitter, so a cancel does not always come right after a provider's request.
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
  const calledAt = performance.now();
  try {
    const status = await h.herald.cancel(id);
    return { calledAt, answeredAt: await answeredMoment(h), status };
  } catch (err) {
    if (!(err instanceof HeraldError)) throw err;
    return { calledAt, answeredAt: await answeredMoment(h), error: err };
  }
}

describe('cancel racing a worker', () => {
  it.each([4, 16])(
    'leaves each of 200 notifications canceled or delivered, never both, and starts no send after its cancel answered (concurrency %i)',
    async (concurrency) => {
      h = await Harness.create();
      await h.register('u-1');
      // A slow provider: sends overlap, deliveries wait for slots, and cancels land everywhere.
      h.gotify.respond = () => ({ status: 200, body: '{"id":1}', delayMs: 5 + Math.floor(Math.random() * 20) });
      const { adapters, starts } = recordingGotify(h, concurrency);
      const inputs = Array.from({ length: 200 }, (_, i): NotificationInput & { id: string } => ({
        id: `race-${concurrency}-${i}`,
        to: 'u-1',
        message: `race ${i}`,
        channels: ['gotify'],
      }));
      await h.herald.notifyMany(inputs);
      await h.startWorker(['gotify'], adapters, concurrency);
      const ids = inputs.map((n) => n.id);
      const ended = until(
        () => Promise.all(ids.map((id) => h.herald.status(id))),
        (statuses) => statuses.every((s) => s?.status === 'canceled' || s?.status === 'delivered'),
        30_000,
      );
      // Each cancel comes once the provider has seen a random number of requests (or, for one
      // waiting on more requests than the run makes, once everything has ended): timed by how far
      // the delivery has got rather than by the clock, cancels fall all over the run however fast
      // the machine is.
      const moment = () => Promise.race([h.gotify.waitForRequests(Math.floor(Math.random() * 200), 60_000), ended]);
      const calls = await Promise.all(ids.map((id) => cancelWhen(moment(), id)));
      await ended;
      const finals = (await Promise.all(ids.map((id) => h.herald.status(id)))) as Status[];
      // A send that started before its cancel answered may still be on its way to the provider.
      const started = [...starts.values()].reduce((sum, list) => sum + list.length, 0);
      await until(
        async () => h.gotify.requests.length,
        (received) => received >= started,
      );
      const requestsById = gotifyRequestsById(h);

      const problems: string[] = [];
      ids.forEach((id, i) => {
        const final = finals[i]!;
        const call = calls[i]!;
        const sends = starts.get(id) ?? [];
        const delivered = final.attempts.filter((a) => a.outcome === 'delivered');
        // Every attempt recorded is a send that started (a provider slower than the deadline
        // under a busy machine makes a timeout and a retry, so there may be more than one).
        if (final.attempts.length > sends.length) problems.push(`${id}: ${final.attempts.length} attempts for ${sends.length} sends`);
        if ((requestsById.get(id) ?? 0) > sends.length) problems.push(`${id}: ${sends.length} sends started, the provider saw ${requestsById.get(id)}`);
        if (sends.some((at) => at > call.answeredAt))
          problems.push(`${id}: a send started ${Math.max(...sends) - call.answeredAt} ms after its cancel answered`);
        if (final.status === 'canceled') {
          if (call.status?.status !== 'canceled')
            problems.push(`${id}: canceled, but the cancel answered ${JSON.stringify(call.error?.toJSON() ?? call.status)}`);
          if (delivered.length > 0) problems.push(`${id}: canceled with a delivered attempt ${JSON.stringify(final.attempts)}`);
          // The one send that was under way when the cancel took effect is not recorded; any other is.
          if (sends.length > final.attempts.length + 1) problems.push(`${id}: canceled after ${sends.length} sends, ${final.attempts.length} recorded`);
        } else {
          if (call.error?.code !== 'HERALD_ERR_ALREADY_FINISHED' || call.error.details[0]?.message !== 'delivered')
            problems.push(`${id}: delivered, but the cancel answered ${JSON.stringify(call.error?.toJSON() ?? call.status)}`);
          if (delivered.length !== 1 || final.attempts.at(-1)?.outcome !== 'delivered')
            problems.push(`${id}: delivered with attempts ${JSON.stringify(final.attempts)}`);
          if (sends.length !== final.attempts.length) problems.push(`${id}: delivered after ${sends.length} sends, ${final.attempts.length} recorded`);
        }
      });
      expect(problems).toEqual([]);

      const canceled = finals.filter((s) => s.status === 'canceled').length;
      // Random moments over the whole run: some cancels come first, some come too late.
      expect(canceled).toBeGreaterThan(0);
      expect(canceled).toBeLessThan(200);
      const stats = await h.herald.stats();
      expect({ canceled: stats.notifications.canceled, delivered: stats.notifications.delivered }).toEqual({ canceled, delivered: 200 - canceled });
    },
  );

  it('sends nothing for a delivery canceled while it waited for a slot, though it was loaded before the cancel', async () => {
    h = await Harness.create();
    await h.register('u-1');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The first send is held until the test lets it go; the second delivery waits for its slot.
    h.gotify.answer({ status: 200, body: '{"id":1}', heldUntil: held });
    await h.herald.notifyMany([
      { id: 'first', to: 'u-1', message: 'first', channels: ['gotify'] },
      { id: 'second', to: 'u-1', message: 'second', channels: ['gotify'] },
    ]);
    const { adapters, starts } = recordingGotify(h, 1);
    await h.startWorker(['gotify'], adapters, 1);
    // One job carries both: when the first reaches the provider, the second is loaded and waiting.
    await h.gotify.waitForRequests(1);
    expect((await h.herald.cancel('second')).status).toBe('canceled');
    release();

    await h.waitForStatus('first', 'delivered');
    // The worker has finished the second delivery (its report is in the log).
    await until(
      async () => h.logs.lines.filter((line) => line.notificationId === 'second' && line.msg === 'delivery step done'),
      (lines) => lines.length === 1,
    );
    expect(h.logs.lines.find((line) => line.notificationId === 'second' && line.msg === 'delivery step done')).toMatchObject({ outcome: 'stale' });
    expect([...starts.keys()]).toEqual(['first']);
    expect(h.gotify.requests).toHaveLength(1);
    expect(await h.herald.status('second')).toMatchObject({ status: 'canceled', attempts: [] });
  });
});
