import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';
import { parseLoadReply } from '../../src/store/scripts.js';

let h: Harness;
afterEach(async () => h?.close());

/** A stored record's current job token, as a delivery job carries it. */
async function tokenOf(id: string): Promise<string> {
  const record = await h.herald.store.getRecord(id);
  if (!record) throw new Error(`no record for ${id}`);
  return record.token;
}

describe('the delivery read (one script call for a whole job)', () => {
  it("returns each delivery's record and recipient in order (their hashes as objects), empty lists as lists, and null for stale or missing ones", async () => {
    h = await Harness.create();
    const { herald } = h;
    await herald.recipients.set('u-load', { email: 'load@example.org', gotify: { token: 'Aload' } });
    const endpoint = 'http://127.0.0.1:9/push/one';
    const subscriptionId = await herald.recipients.addWebPush('u-load', {
      endpoint,
      keys: { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' },
    });
    await herald.presence.online('u-load', { ttlSeconds: 60, device: 'laptop', context: 'room:42' });
    await herald.presence.online('u-load', { ttlSeconds: 60, device: 'phone' });
    await herald.recipients.setPreferences('u-load', { muteCategories: ['file'] });
    // Quotes, a slash, a backslash and non-ASCII text must come back byte for byte.
    const message = 'Fête "déployée" à 12/05 \\ ✓';
    const withRecipient = await herald.notify({ id: 'load-1', to: 'u-load', message });
    const bare = await herald.notify({ id: 'load-2', message: 'no recipient', channels: ['gotify'], targets: { gotify: { token: 'Abare' } } });
    const stale = await herald.notify({ id: 'load-3', to: 'u-load', message: 'token moved on' });

    const replies = await herald.store.load([
      { id: withRecipient.id, token: await tokenOf(withRecipient.id), to: 'u-load' },
      { id: bare.id, token: await tokenOf(bare.id) },
      { id: stale.id, token: 'not-the-current-token' },
      { id: 'never-enqueued', token: 'whatever' },
    ]);

    expect(replies).toHaveLength(4);
    const [first, second, third, fourth] = replies;
    expect(first).not.toBeNull();
    const [record, accepted, recipientFields, subscriptionFields, online, contexts] = first!;
    expect(JSON.parse(record.notification!).message).toBe(message);
    expect(record.status).toBe('queued');
    expect(accepted).toEqual([]);
    expect(recipientFields.email).toBe('load@example.org');
    // The preferences come with the recipient's addresses, in the same hash.
    expect(JSON.parse(recipientFields.preferences!)).toEqual({ muteCategories: ['file'] });
    expect(pairs(subscriptionFields).map(([id]) => id)).toEqual([subscriptionId]);
    expect(online).toBe(1);
    // The live devices' contexts; the phone gave none.
    expect(contexts).toEqual(['room:42']);

    expect(second).not.toBeNull();
    const [bareRecord, bareAccepted, bareRecipient, bareSubscriptions, bareOnline, bareContexts] = second!;
    expect(bareRecord.status).toBe('queued');
    // Redis's cjson writes these empty lists as {}: they must still read as lists (and the hash as empty).
    expect([bareAccepted, bareRecipient, bareSubscriptions, bareOnline, bareContexts]).toEqual([[], {}, [], 0, []]);

    expect(third).toBeNull();
    expect(fourth).toBeNull();
  });

  it('reads a JSON text whose entries are not lists as empty, and anything but a list of entries as no entries', () => {
    expect(parseLoadReply('[{}, [{"status": "queued"}, {}, {}, {}, 0, {}]]')).toEqual([null, [{ status: 'queued' }, [], {}, [], 0, []]]);
    // A hash written as anything but an object reads as empty.
    expect(parseLoadReply('[[[], {}, "x", {}, 0, {}]]')).toEqual([[{}, [], {}, [], 0, []]]);
    expect(parseLoadReply('{}')).toEqual([]);
  });
});

function pairs(flat: string[]): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) result.push([flat[i]!, flat[i + 1]!]);
  return result;
}
