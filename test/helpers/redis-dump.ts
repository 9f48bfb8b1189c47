/**
 * Loads a Redis dump made by scripts/make-upgrade-fixture.mjs (every key of a deployment: type,
 * value, time to live) into a Redis under another prefix, so that a test can run today's Herald on
 * what an older release wrote.
 */
import type { Redis } from 'ioredis';

export interface DumpedKey {
  /** The key without the dump's prefix. */
  key: string;
  type: 'string' | 'hash' | 'list' | 'set' | 'zset' | 'stream';
  /** Milliseconds left when it was dumped; -1 for a key without an expiry. */
  pttl: number;
  value: unknown;
}

export interface Dump {
  release: string;
  prefix: string;
  /** When it was dumped (ms). */
  dumpedAt: number;
  accepted: { id: string; status: string; duplicate: boolean }[];
  keys: DumpedKey[];
}

/** The status record fields that hold times (ms): moved by the dump's age (see loadDump). */
const RECORD_TIMES = ['createdAt', 'updatedAt', 'expiresAt'];

/**
 * Writes every key of `dump` under `prefix`. The status records' times are moved forward by the
 * dump's age, as if it had been written just now: otherwise its notifications would be past their
 * ttl (a day by default) as soon as the fixture is older than that, and would end `expired`
 * rather than say anything about the upgrade. Everything else is written as it was.
 */
export async function loadDump(redis: Redis, dump: Dump, prefix: string, now: number = Date.now()): Promise<void> {
  const age = now - dump.dumpedAt;
  for (const { key, type, pttl, value } of dump.keys) {
    const name = `${prefix}:${key}`;
    switch (type) {
      case 'string':
        await redis.set(name, value as string);
        break;
      case 'hash': {
        const fields = { ...(value as Record<string, string>) };
        if (/^n:[^:]+$/.test(key)) for (const field of RECORD_TIMES) if (fields[field]) fields[field] = String(Number(fields[field]) + age);
        await redis.hset(name, fields);
        break;
      }
      case 'list':
        await redis.rpush(name, ...(value as string[]));
        break;
      case 'set':
        await redis.sadd(name, ...(value as string[]));
        break;
      case 'zset': {
        const flat = value as string[];
        for (let i = 0; i < flat.length; i += 2) await redis.zadd(name, flat[i + 1]!, flat[i]!);
        break;
      }
      case 'stream':
        for (const [id, fields] of value as [string, string[]][]) await redis.xadd(name, id, ...fields);
        break;
    }
    if (pttl > 0) await redis.pexpire(name, pttl);
  }
}
