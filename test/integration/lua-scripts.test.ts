import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';
import { loadScript } from '../../src/store/lua-loader.js';
import { RECORD_FIELDS } from '../../src/store/record.js';
import { CLAIM_LAYOUT, DIGEST_CLOSE_LAYOUT, LOAD_LAYOUT, SCRIPTS, TRANSITION_LAYOUT } from '../../src/store/scripts.js';
import { ScriptCall } from '../../src/store/script-layout.js';

let h: Harness;
afterEach(async () => h?.close());

describe('the Redis scripts as Redis runs them', () => {
  it('each loads into Redis as the loader built it, and runs with an empty batch', async () => {
    h = await Harness.create();
    const redis = await h.herald.connection();
    const shas: Record<string, string> = {};
    for (const [name, { file, layout }] of Object.entries(SCRIPTS)) {
      const source = loadScript(file, layout);
      shas[name] = (await redis.script('LOAD', source)) as string;
      expect(shas[name], file).toBe(createHash('sha1').update(source).digest('hex'));
    }
    const stats = { statsMinute: `${h.prefix}:m`, statsHour: `${h.prefix}:h`, statsTotals: `${h.prefix}:t`, events: `${h.prefix}:e` };
    const claim = new ScriptCall(CLAIM_LAYOUT, stats, {
      now: Date.now(),
      acceptedField: 'accepted',
      mergedField: 'ended:merged',
      mergedStatus: 'merged',
      minuteTtl: 60,
      hourTtl: 3600,
      eventsMaxLen: 1000,
    });
    const transition = new ScriptCall(
      TRANSITION_LAYOUT,
      { ...stats, deadLetters: `${h.prefix}:d` },
      { eventsMaxLen: 1000, eventAt: new Date().toISOString(), changes: '[]' },
    );
    const load = new ScriptCall(LOAD_LAYOUT, {}, {});
    const digestClose = new ScriptCall(DIGEST_CLOSE_LAYOUT, {}, {});
    const run = (sha: string, call: ScriptCall<string, string, string, string>) => redis.evalsha(sha, call.keys.length, ...call.keys, ...call.args);
    expect(await run(shas.heraldClaim!, claim)).toEqual([]);
    expect(await run(shas.heraldTransition!, transition)).toEqual([]);
    expect(await run(shas.heraldLoad!, load)).toBe('{}');
    expect(await run(shas.heraldDigestClose!, digestClose)).toEqual([]);
    // An empty batch writes nothing, not even statistics or events.
    expect(await redis.exists(stats.statsMinute, stats.statsHour, stats.statsTotals, stats.events)).toBe(0);
  });

  it('writes only the record fields record.ts lists, through delivery, dead letter and replay', async () => {
    h = await Harness.create();
    await h.register('u');
    await h.startWorker(['gotify']);
    const redis = await h.herald.connection();
    const fieldsOf = async (id: string) => (await redis.hkeys(h.herald.keys.record(id))).sort();
    const known = new Set<string>(RECORD_FIELDS);

    const delivered = await h.herald.notify({ to: 'u', message: 'delivered', channels: ['gotify'] });
    await h.waitForStatus(delivered.id, 'delivered');
    h.gotify.fallback = { status: 401 };
    const failed = await h.herald.notify({ to: 'u', message: 'refused', channels: ['gotify'] });
    await h.waitForStatus(failed.id, 'failed');
    await h.herald.deadLetters.replay(failed.id);
    await h.waitForStatus(failed.id, (s) => s.status === 'failed' && s.attempts.length === 2);
    h.gotify.fallback = { status: 200, body: '{"id":1}' };
    const digest = { to: 'u', channels: ['gotify' as const], groupKey: 'g', digest: { windowSeconds: 1 } };
    const holder = await h.herald.notify({ ...digest, message: 'first' });
    const merged = await h.herald.notify({ ...digest, message: 'second' });
    await h.waitForStatus(holder.id, 'delivered');

    for (const id of [delivered.id, failed.id, holder.id, merged.id]) {
      const fields = await fieldsOf(id);
      expect(fields, id).toContain('status');
      expect(
        fields.filter((field) => !known.has(field)),
        id,
      ).toEqual([]);
    }
    expect(await fieldsOf(failed.id)).toEqual(expect.arrayContaining(['failedAt', 'replays', 'round', 'retrySteps']));
    expect(await fieldsOf(holder.id)).toEqual(expect.arrayContaining(['digest', 'digestLatest']));
    expect(await fieldsOf(merged.id)).toContain('mergedInto');
  });
});
