/**
 * herald.events(): the event log as an async iterator, reading Redis on a connection of its own,
 * resuming after an id, filtered like /v1/events, and closing its connection when the loop ends
 * or the client closes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Herald } from '../../src/index.js';
import type { HeraldEvent } from '../../src/types.js';
import { Harness, until } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

/** How many event readers of this prefix Redis has connected. */
async function readersOf(harness: Harness): Promise<number> {
  const redis = new Redis(harness.redisUrl);
  try {
    return String(await redis.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=herald-events:${harness.prefix} `)).length;
  } finally {
    redis.disconnect();
  }
}

async function logIds(harness: Harness, after = '-'): Promise<string[]> {
  const redis = await harness.herald.connection();
  return (await redis.xrange(harness.herald.keys.events(), after === '-' ? '-' : `(${after}`, '+')).map(([id]) => id);
}

describe('herald.events()', () => {
  it('yields the events after `after` and then live ones, filtered, and closes its connection on break', async () => {
    h = await Harness.create();
    await h.register('u-1', 'u-2');
    await h.herald.notifyMany([
      { to: 'u-1', message: 'a', delayMs: 60_000 },
      { to: 'u-2', message: 'b', delayMs: 60_000 },
      { to: 'u-1', message: 'c', delayMs: 60_000 },
    ]);
    const [first] = await logIds(h);
    const seen: HeraldEvent[] = [];
    const loop = (async () => {
      for await (const event of h.herald.events({ after: first!, to: 'u-1' })) {
        seen.push(event);
        if (seen.length === 2) break;
      }
    })();
    await until(
      async () => seen.length,
      (n) => n >= 1,
    );
    expect(await readersOf(h)).toBe(1);
    const live = await h.herald.notify({ to: 'u-1', message: 'live', delayMs: 60_000 });
    await loop;
    expect(seen.map((event) => [event.type, event.to, event.status])).toEqual([
      ['notification.accepted', 'u-1', 'scheduled'],
      ['notification.accepted', 'u-1', 'scheduled'],
    ]);
    expect(seen.at(-1)!.notificationId).toBe(live.id);
    // After the first: u-2's (filtered out), u-1's second, the live one.
    const after = await logIds(h, first!);
    expect(seen.map((event) => event.id)).toEqual([after[1], after[2]]);
    await until(
      () => readersOf(h),
      (n) => n === 0,
    );
  });

  it('starts from now without `after`, filters by type, and ends when the client closes', async () => {
    h = await Harness.create();
    await h.register('u-1');
    await h.herald.notify({ to: 'u-1', message: 'before', delayMs: 60_000 });
    const sdk = new Herald({ redis: h.redisUrl, prefix: h.prefix });
    const seen: HeraldEvent[] = [];
    const iterator = sdk.events({ types: ['notification.canceled'] });
    const loop = (async () => {
      for await (const event of iterator) seen.push(event);
    })();
    await until(
      () => readersOf(h),
      (n) => n === 1,
    );
    const { id } = await h.herald.notify({ to: 'u-1', message: 'soon canceled', delayMs: 60_000 });
    await h.herald.cancel(id);
    await until(
      async () => seen.length,
      (n) => n === 1,
    );
    expect(seen[0]).toMatchObject({ type: 'notification.canceled', notificationId: id, status: 'canceled' });
    await sdk.close();
    await loop;
    expect(await readersOf(h)).toBe(0);
  });

  it('names a bad option, and tells onGap when events after `after` were trimmed', async () => {
    h = await Harness.create();
    expect(() => h.herald.events({ types: ['nope'] })).toThrow(/types/);
    expect(() => h.herald.events({ after: 'yesterday' })).toThrow(/after/);
    await h.register('u-1');
    await h.herald.notifyMany(Array.from({ length: 6 }, (_, i) => ({ to: 'u-1', message: `n${i}`, delayMs: 60_000 })));
    const log = await logIds(h);
    const redis = await h.herald.connection();
    await redis.xtrim(h.herald.keys.events(), 'MINID', log[3]!);
    const gaps: unknown[] = [];
    const seen: string[] = [];
    for await (const event of h.herald.events({ after: log[0]!, onGap: (gap) => gaps.push(gap) })) {
      seen.push(event.id);
      if (seen.length === 3) break;
    }
    expect(gaps).toEqual([{ lastEventId: log[0], oldestId: log[3] }]);
    expect(seen).toEqual(log.slice(3));
  });
});
