/**
 * An upgrade: what the previous release (0b260e9, before shards) left in Redis, with notifications
 * accepted and no worker running, is delivered by today's worker with HERALD_SHARDS=1. The fixture
 * was written by that release itself (scripts/make-upgrade-fixture.mjs) and is loaded under the
 * test's prefix.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, testRedis } from '../helpers/harness.js';
import { loadDump, type Dump } from '../helpers/redis-dump.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/upgrade-0b260e9.json', import.meta.url), 'utf8')) as Dump;

let h: Harness;
afterEach(async () => h?.close());

describe('upgrading from the release before shards', () => {
  it('delivers every notification the previous release accepted, with the status records right', async () => {
    h = await Harness.create();
    const redis = testRedis(h.redisUrl);
    try {
      await loadDump(redis, fixture, h.prefix);
    } finally {
      redis.disconnect();
    }
    const ids = fixture.accepted.map((result) => result.id);
    expect(ids).toHaveLength(5);
    // Read as the previous release wrote them, before anything runs.
    expect(await h.herald.status('old-plain')).toMatchObject({ status: 'queued', to: 'u-old', attempts: [] });
    expect(await h.herald.status('old-scheduled')).toMatchObject({ status: 'scheduled' });
    expect(await h.herald.recipients.get('u-old')).toMatchObject({ userId: 'u-old', gotify: { token: expect.stringMatching(/oken$/) } });

    await h.startWorker(['gotify']);
    for (const id of ids) {
      const status = await h.waitForStatus(id, 'delivered');
      expect(status).toMatchObject({ channel: 'gotify', attempts: [expect.objectContaining({ channel: 'gotify', outcome: 'delivered', statusCode: 200 })] });
    }
    expect(h.gotify.requests).toHaveLength(5);
    const sent = h.gotify.requests.map((request, i) => ({ key: request.headers['x-gotify-key'], body: h.gotify.json(i) }));
    const full = sent.find((s) => s.body.message === 'with *markdown*')!;
    expect(full.key).toBe('AoldRecipientToken');
    expect(full.body).toMatchObject({ title: 'Old title', priority: 8 });
    expect(JSON.stringify(full.body.extras)).toContain('https://example.org/old');
    // The recipient without a token of its own is reached through the shared one.
    expect(sent.filter((s) => String(s.body.message).startsWith('batch')).map((s) => s.key)).toEqual(['AdefaultToken', 'AdefaultToken']);
    // The counters go on from the previous release's: accepted then, delivered now.
    const stats = await h.herald.stats(604_800);
    expect(stats.notifications).toMatchObject({ delivered: 5 });
    expect((await h.herald.statsTotals()).counters.accepted).toBe(5);
    // Its group index still serves a cancel by group (nothing pending is left in it).
    expect(await h.herald.cancelGroup('u-old', 'room:42')).toBe(0);
  });
});
