import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';
import { ATTEMPTS_KEPT, ATTEMPTS_KEPT_HEAD } from '../../src/store/record.js';

let h: Harness;
afterEach(async () => h?.close());

describe('nothing grows unseen', () => {
  it("gives a notification's attempts list its record's TTL while it is still being retried", async () => {
    h = await Harness.create();
    await h.register('u');
    h.gotify.fallback = { status: 503 };
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u', message: 'in an outage', channels: ['gotify'] });
    await h.waitForStatus(id, (s) => s.status === 'delivering' && s.attempts.length >= 2);
    const redis = await h.herald.connection();
    const [recordTtl, attemptsTtl] = await Promise.all([redis.pttl(h.herald.keys.record(id)), redis.pttl(h.herald.keys.attempts(id))]);
    expect(recordTtl).toBeGreaterThan(0);
    expect(attemptsTtl).toBeGreaterThan(0);
    // Both count down from the same deadline (the record's), read a moment apart.
    expect(Math.abs(recordTtl - attemptsTtl)).toBeLessThan(5000);
  });

  it('prunes the dead-letter index when a dead letter is added, and lets the index expire, with no one listing it', async () => {
    h = await Harness.create({ env: { HERALD_DEAD_LETTER_RETENTION_SECONDS: '3600' } });
    await h.register('u');
    h.gotify.fallback = { status: 401 };
    const redis = await h.herald.connection();
    const index = h.herald.keys.deadLetters();
    // An entry past the retention (its record long expired), as an index nobody read would keep.
    await redis.zadd(index, String(Date.now() - 3_700_000), 'ancient');
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u', message: 'refused', channels: ['gotify'] });
    await h.waitForStatus(id, 'failed');
    expect(await redis.zrange(index, '0', '-1')).toEqual([id]);
    const ttl = await redis.pttl(index);
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it(`keeps the first ${ATTEMPTS_KEPT_HEAD} and the newest attempts, ${ATTEMPTS_KEPT} in all, and counts those left out`, async () => {
    h = await Harness.create({ env: { HERALD_BACKOFF_MS: '1', HERALD_BACKOFF_MAX_MS: '5', HERALD_MAX_ATTEMPTS: '3' } });
    await h.register('u');
    h.gotify.answer(...Array.from({ length: 10 }, () => ({ status: 500 })), ...Array.from({ length: 60 }, () => ({ status: 503 })));
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u', message: 'a long outage', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'delivered', 20_000);
    expect(h.gotify.requests).toHaveLength(71);
    expect(final.attempts).toHaveLength(ATTEMPTS_KEPT);
    expect(final.attemptsOmitted).toBe(71 - ATTEMPTS_KEPT);
    expect(final.attempts.slice(0, ATTEMPTS_KEPT_HEAD).map((a) => a.statusCode)).toEqual(Array.from({ length: ATTEMPTS_KEPT_HEAD }, () => 500));
    expect(final.attempts.slice(ATTEMPTS_KEPT_HEAD, -1).map((a) => a.statusCode)).toEqual(
      Array.from({ length: ATTEMPTS_KEPT - ATTEMPTS_KEPT_HEAD - 1 }, () => 503),
    );
    expect(final.attempts.at(-1)).toMatchObject({ outcome: 'delivered', statusCode: 200 });
  });
});
