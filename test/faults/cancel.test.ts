/**
 * Cancel racing real `herald worker` processes under load: half the notifications are canceled at
 * random moments while two workers deliver them to a slow Gotify. Every notification must end
 * exactly canceled or delivered, a canceled record holds no attempt, a delivered one exactly one,
 * and no notification reaches Gotify twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/errors.js';
import type { Status } from '../../src/types.js';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const NOTIFICATIONS = 1000;
const WORKERS = 2;
const CONCURRENCY = 8;

describe('cancel racing workers', () => {
  it('leaves every notification canceled or delivered, never both, when half are canceled at random moments', async () => {
    cluster = await FaultCluster.start();
    const c = cluster;
    c.gotify.respond = () => ({ status: 200, body: '{"id":1}', delayMs: 10 + Math.floor(Math.random() * 30) });
    await c.registerRecipient();
    const ids = await c.enqueue(NOTIFICATIONS, 'cancel');
    for (let i = 0; i < WORKERS; i++) c.worker(CONCURRENCY);

    // Every other notification is canceled, once Gotify has seen a random number of requests (the
    // other half alone make that many): timed by how far the delivery has got, not by the clock,
    // so the cancels fall all over the run however long the workers take to start.
    const targets = ids.filter((_, i) => i % 2 === 0);
    const answers = new Map<string, Status | HeraldError>();
    await Promise.all(
      targets.map(async (id) => {
        await c.gotify.waitForRequests(Math.floor(Math.random() * (NOTIFICATIONS - targets.length)), 60_000);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
        answers.set(
          id,
          await c.herald.cancel(id).catch((err: unknown) => {
            if (err instanceof HeraldError) return err;
            throw err;
          }),
        );
      }),
    );

    const deadline = Date.now() + 60_000;
    let statuses = await c.statuses(ids);
    while (Date.now() < deadline && !statuses.every((s) => s?.status === 'canceled' || s?.status === 'delivered')) {
      await new Promise((r) => setTimeout(r, 250));
      statuses = await c.statuses(ids);
    }
    const requests = new Map<string, number>();
    for (const request of c.gotify.requests) {
      const id = (JSON.parse(request.body.toString()) as { extras: { 'herald::notification': { id: string } } }).extras['herald::notification'].id;
      requests.set(id, (requests.get(id) ?? 0) + 1);
    }

    const problems: string[] = [];
    let canceled = 0;
    let reachedGotifyAnyway = 0;
    let tooLate = 0;
    ids.forEach((id, i) => {
      const status = statuses[i];
      const answer = answers.get(id);
      const sent = requests.get(id) ?? 0;
      if (sent > 1) problems.push(`${id}: reached Gotify ${sent} times`);
      if (status?.status === 'canceled') {
        canceled++;
        if (sent > 0) reachedGotifyAnyway++;
        if (!answer || answer instanceof HeraldError || answer.status !== 'canceled')
          problems.push(`${id}: canceled, but the cancel answered ${JSON.stringify(answer)}`);
        if (status.attempts.length > 0) problems.push(`${id}: canceled with attempts ${JSON.stringify(status.attempts)}`);
      } else if (status?.status === 'delivered') {
        if (answer instanceof HeraldError) {
          tooLate++;
          if (answer.code !== 'HERALD_ERR_ALREADY_FINISHED' || answer.details[0]?.message !== 'delivered')
            problems.push(`${id}: the cancel answered ${answer.code}`);
        } else if (answer) problems.push(`${id}: delivered, but the cancel answered ${JSON.stringify(answer)}`);
        if (sent !== 1 || status.attempts.filter((a) => a.outcome === 'delivered').length !== 1) problems.push(`${id}: delivered with ${sent} requests`);
      } else problems.push(`${id}: ended ${JSON.stringify(status)}`);
    });

    const delivered = statuses.filter((s) => s?.status === 'delivered').length;
    record({
      scenario: 'cancel racing workers',
      load: `${NOTIFICATIONS} queued, ${WORKERS} workers × ${CONCURRENCY}, Gotify answering in 10–40 ms`,
      faults: `${targets.length} canceled at random moments of the run`,
      notifications: NOTIFICATIONS,
      delivered,
      lost: NOTIFICATIONS - delivered - canceled,
      duplicated: [...requests.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      notes: `${canceled} canceled, ${reachedGotifyAnyway} of them already handed to Gotify when the cancel took effect; ${tooLate} cancels came after delivery (409); no record both canceled and delivered`,
    });
    expect(problems).toEqual([]);
    expect(canceled + delivered).toBe(NOTIFICATIONS);
    // Not one of the notifications left alone was canceled.
    expect(canceled).toBeLessThanOrEqual(targets.length);
    expect(canceled).toBeGreaterThan(0);
  });
});
