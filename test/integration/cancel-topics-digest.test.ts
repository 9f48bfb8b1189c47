/**
 * Cancel beside topics and digests: a topic recipient's notification is canceled like any other and
 * counted in its topic notification (canceling the topic notification itself: cancel-topic.test.ts);
 * the fan-out puts recipients' notifications in their groups; a canceled digest holder closes its
 * window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { recipientNotificationId } from '../../src/store/topics.js';
import { Harness, rejection, until } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

describe('cancel and topics', () => {
  it("cancels recipients' notifications one by one and by group and counts them in the topic notification, which ends canceled with them", async () => {
    h = await Harness.create();
    const members = ['alice', 'bob', 'carol'];
    await h.register(...members);
    for (const member of members) await h.herald.topics.add('room:1', member);
    // Scheduled an hour ahead: the recipients' notifications stay pending while the test cancels them.
    const { id } = await h.herald.notify({ id: 'room-msg', topic: 'room:1', message: 'hello room', groupKey: 'room:1', delayMs: 3_600_000 });
    await h.startWorker(['gotify']);
    const childOf = (member: string) => recipientNotificationId(id, member);
    // The fan-out has written every recipient's notification.
    await until(
      () => Promise.all(members.map((member) => h.herald.status(childOf(member)))),
      (statuses) => statuses.every((s) => s?.status === 'scheduled'),
    );

    expect((await h.herald.cancel(childOf('bob'))).status).toBe('canceled');
    expect((await h.herald.status(id))?.recipients).toMatchObject({ total: 3, scheduled: 2, canceled: 1 });

    // Each recipient's notification carries the topic notification's groupKey, in its member's group.
    expect(await h.herald.cancelGroup('alice', 'room:1')).toBe(1);
    expect(await h.herald.cancelGroup('carol', 'room:1')).toBe(1);
    const parent = await h.herald.status(id);
    expect(parent?.recipients).toMatchObject({ total: 3, scheduled: 0, canceled: 3 });
    // Every recipient ended canceled: so did the topic notification.
    expect(parent?.status).toBe('canceled');
    expect((await h.herald.topics.recipients(id))?.items.map((r) => r.status)).toEqual(['canceled', 'canceled', 'canceled']);
    // It has ended: canceling it now answers 409 with its status, as for any notification.
    const refused = await rejection(h.herald.cancel(id));
    expect([refused.code, refused.details]).toEqual(['HERALD_ERR_ALREADY_FINISHED', [{ field: 'status', message: 'canceled' }]]);
  });
});

describe('cancel and digests', () => {
  it('closes the window of a canceled holder: the merged ones stay merged into it, the next notification opens a new window', async () => {
    h = await Harness.create();
    await h.register('u');
    const digest = { to: 'u', groupKey: 'room:9', digest: { windowSeconds: 600 }, channels: ['gotify' as const] };
    const holder = await h.herald.notify({ ...digest, id: 'holder', message: 'first' });
    const merged = await h.herald.notify({ ...digest, id: 'merged', message: 'second' });
    expect([holder.status, (await h.herald.status(merged.id))?.status]).toEqual(['scheduled', 'merged']);
    // Only the pending holder is in the group: a merged notification has ended.
    const redis = await h.herald.connection();
    expect(await redis.zrange(h.herald.keys.group('u', 'room:9'), '0', '-1')).toEqual(['holder']);

    expect((await h.herald.cancel('holder')).status).toBe('canceled');
    expect((await rejection(h.herald.cancel('merged'))).details).toEqual([{ field: 'status', message: 'merged' }]);
    expect(await h.herald.status('merged')).toMatchObject({ status: 'merged', mergedInto: 'holder' });

    const next = await h.herald.notify({ ...digest, id: 'next', message: 'third' });
    expect(next.status).toBe('scheduled');
    expect((await h.herald.status('next'))?.mergedInto).toBeUndefined();
    expect(await h.herald.cancelGroup('u', 'room:9')).toBe(1);
    expect((await h.herald.status('next'))?.status).toBe('canceled');
  });
});
