import { describe, expect, it } from 'vitest';
import { DIGEST_PREVIEW_CHARS, digestNotification } from '../../src/delivery/digest.js';
import { payloadFits } from '../../src/channels/webpush/payload.js';
import type { Notification } from '../../src/types.js';

const holder: Notification = {
  id: 'n-1',
  to: 'u-42',
  title: 'alice in #general',
  message: 'hi all',
  priority: 6,
  url: 'mesh://room/42',
  category: 'chat',
  data: { room: 42, from: 'alice' },
  channels: ['webpush', 'gotify'],
  ttlSeconds: 3600,
  collapseKey: 'room-42',
  groupKey: 'room:42',
  digest: { windowSeconds: 60 },
};

const newest: Notification = {
  ...holder,
  id: 'n-3',
  title: 'bob in #general',
  message: 'see you at 5',
  url: 'mesh://room/42?m=3',
  data: { from: 'bob' },
  priority: 9,
};

describe('digestNotification', () => {
  it("shows the newest notification with the count, and goes the holder's way", () => {
    const shown = digestNotification(holder, { merged: ['n-2', 'n-3'], latest: newest });
    expect(shown).toEqual({
      ...holder,
      title: 'bob in #general',
      message: 'see you at 5\n\n(+2 more)',
      url: 'mesh://room/42?m=3',
      // The holder's data with the newest's on top.
      data: { room: 42, from: 'bob', digest: ['n-1', 'n-2', 'n-3'], digestCount: 3 },
    });
  });

  it("keeps the holder's title and url where the newest has none", () => {
    const bare: Notification = { id: 'n-2', to: 'u-42', message: 'plain', priority: 5, ttlSeconds: 60 };
    const shown = digestNotification(holder, { merged: ['n-2'], latest: bare });
    expect(shown).toMatchObject({
      title: holder.title,
      url: holder.url,
      message: 'plain\n\n(+1 more)',
      data: { room: 42, from: 'alice', digest: ['n-1', 'n-2'] },
    });
  });

  it('sends a window nothing joined as its holder, with its id listed', () => {
    expect(digestNotification(holder, { merged: [] })).toEqual({ ...holder, data: { ...holder.data, digest: ['n-1'], digestCount: 1 } });
    const { data: _data, ...withoutData } = holder;
    expect(digestNotification(withoutData, { merged: [] }).data).toEqual({ digest: ['n-1'], digestCount: 1 });
  });

  it('cuts a long newest message to the preview, so the count is never what a channel cuts', () => {
    const long = { ...newest, message: `${'é'.repeat(DIGEST_PREVIEW_CHARS)}tail` };
    const shown = digestNotification(holder, { merged: ['n-2'], latest: long });
    expect(shown.message).toBe(`${'é'.repeat(DIGEST_PREVIEW_CHARS)}…\n\n(+1 more)`);
  });

  it('lists as many ids as fit in a Web Push payload beside the message, and counts them all', () => {
    const merged = Array.from({ length: 300 }, (_, i) => `merged-notification-${String(i).padStart(4, '0')}`);
    const shown = digestNotification(holder, { merged, latest: newest });
    const listed = shown.data!.digest as string[];
    expect(shown.data!.digestCount).toBe(301);
    expect(listed.length).toBeGreaterThan(10);
    expect(listed.length).toBeLessThan(301);
    expect(listed).toEqual(['n-1', ...merged].slice(0, listed.length));
    expect(payloadFits(shown)).toBe(true);
    // One more would not have fitted.
    const oneMore = { ...shown, data: { ...shown.data, digest: ['n-1', ...merged].slice(0, listed.length + 1) } };
    expect(payloadFits(oneMore)).toBe(false);
  });
});
