/**
 * Reading the event log (events.ts): pages after an id (XRANGE), the next entries after an id
 * waiting for them (XREAD BLOCK, on a connection of the caller's that may block), the newest id,
 * and whether entries after an id have been trimmed away (a gap a resuming reader must be told of).
 * Entries stay raw (`[id, fields]`) so that a reader can filter on `type` and `to` without parsing
 * the Event's JSON, and frame it with its id without encoding it again (eventJson).
 */
import type { RedisClient } from '../redis/client.js';
import { compareIds, entryRoute, type EventLog } from './events.js';

/** One stream entry as Redis returns it. */
export type EventEntry = [id: string, fields: string[]];

/** Which events a reader wants: by type (none: every type) and by recipient. */
export interface EventFilter {
  types?: ReadonlySet<string> | undefined;
  to?: string | undefined;
}

export function matches(filter: EventFilter, fields: readonly string[]): boolean {
  if (!filter.types && filter.to === undefined) return true;
  const route = entryRoute(fields);
  return (!filter.types || filter.types.has(route.type)) && (filter.to === undefined || route.to === filter.to);
}

/** The Event's JSON with its id, from the entry's `event` field (stored without it). */
export function eventJson(id: string, fields: readonly string[]): string {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'event') {
      const body = fields[i + 1]!;
      return `{"id":${JSON.stringify(id)}${body.length > 2 ? `,${body.slice(1)}` : '}'}`;
    }
  }
  return JSON.stringify({ id });
}

/** The id of the newest entry, or `0-0` for an empty or absent stream. */
export async function newestId(redis: RedisClient, log: EventLog): Promise<string> {
  const [last] = await redis.xrevrange(log.key, '+', '-', 'COUNT', 1);
  return last ? last[0] : '0-0';
}

/** Up to `count` entries strictly after `after`, oldest first. */
export async function pageAfter(redis: RedisClient, log: EventLog, after: string, count: number): Promise<EventEntry[]> {
  return (await redis.xrange(log.key, `(${after}`, '+', 'COUNT', count)) as EventEntry[];
}

/**
 * Entries after `after`, waiting up to `blockMs` for the first (null when none came). `redis` must
 * be a connection that may block (not the fail-fast command connection).
 */
export async function readAfter(redis: RedisClient, log: EventLog, after: string, count: number, blockMs: number): Promise<EventEntry[] | null> {
  const reply = (await redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', log.key, after)) as [string, EventEntry[]][] | null;
  return reply?.[0]?.[1] ?? null;
}

/**
 * Whether entries after `after` may be gone from the stream. XDEL leaves the highest id it deleted
 * (max-deleted-entry-id); MAXLEN trims the oldest entries, so when entries were trimmed and the
 * oldest kept is after `after`, `after` itself was trimmed and what followed it may have been.
 * (That is a gap told in vain only when `after` was the very last entry trimmed.) The oldest id
 * kept is returned with it, for the reader to report.
 */
export async function trimmedAfter(redis: RedisClient, log: EventLog, after: string): Promise<{ gap: boolean; oldestId: string | null }> {
  let info: unknown[];
  try {
    info = (await redis.xinfo('STREAM', log.key)) as unknown[];
  } catch (err) {
    // No stream yet: nothing was ever written, so nothing was trimmed.
    if (err instanceof Error && /no such key/i.test(err.message)) return { gap: false, oldestId: null };
    throw err;
  }
  const field = (name: string): unknown => info[info.indexOf(name) + 1];
  const deleted = field('max-deleted-entry-id');
  const first = field('first-entry') as EventEntry | null;
  const removed = Number(field('entries-added')) > Number(field('length'));
  const trimmed = removed && first !== null && compareIds(first[0], after) > 0;
  const gap = trimmed || (typeof deleted === 'string' && compareIds(deleted, after) > 0);
  return { gap, oldestId: first ? first[0] : null };
}
