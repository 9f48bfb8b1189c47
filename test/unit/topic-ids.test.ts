import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { NotificationId } from '../../src/schemas.js';
import { recipientNotification, recipientNotificationId } from '../../src/store/topics.js';

describe("a topic notification's recipient ids", () => {
  it('are valid notification ids, the same every time, and differ per member and per topic notification', () => {
    const id = recipientNotificationId('msg-1', 'alice');
    expect(id).toMatch(/^msg-1:[0-9a-f]{32}$/);
    expect(recipientNotificationId('msg-1', 'alice')).toBe(id);
    expect(recipientNotificationId('msg-1', 'bob')).not.toBe(id);
    expect(recipientNotificationId('msg-2', 'alice')).not.toBe(id);
    // The separator between the two inputs cannot be forged by moving characters across it.
    expect(recipientNotificationId('msg-1a', 'lice')).not.toBe(id);
  });

  it('stay within 128 characters of [A-Za-z0-9._:-] for the longest ids and any user id', () => {
    const longest = 'x'.repeat(128);
    for (const member of ['u', 'ü 👩‍💻 / é', 'y'.repeat(128)]) {
      const id = recipientNotificationId(longest, member);
      expect(id.length).toBeLessThanOrEqual(128);
      expect(Value.Check(NotificationId, id), id).toBe(true);
    }
    // Two long parents that share their first 95 characters still give different ids.
    expect(recipientNotificationId(`${'x'.repeat(100)}a`, 'u')).not.toBe(recipientNotificationId(`${'x'.repeat(100)}b`, 'u'));
  });

  it("make a member's notification of the topic notification: same message and options, to the member, without topic or exclude", () => {
    const parent = { id: 'msg-1', topic: 'room:42', exclude: ['u-7'], message: 'Hello', priority: 6, ttlSeconds: 60, category: 'chat' };
    expect(recipientNotification(parent, 'u-1')).toEqual({
      id: recipientNotificationId('msg-1', 'u-1'),
      to: 'u-1',
      message: 'Hello',
      priority: 6,
      ttlSeconds: 60,
      category: 'chat',
    });
    expect(parent.topic).toBe('room:42');
  });
});
