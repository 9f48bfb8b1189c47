/**
 * `herald.events()`: the event log as an async iterator. It reads Redis directly, on a connection
 * of its own that may block (XREAD BLOCK), from the event after `after` (or from the newest at the
 * first call of next()) on, and filters by type and recipient as `/v1/events` does. The connection
 * closes when the loop breaks or returns, and when the Herald client closes.
 */
import type { RedisClient } from '../redis/client.js';
import type { EventLog } from '../store/events.js';
import { parseEventEntry } from '../store/events.js';
import { matches, newestId, readAfter, trimmedAfter, type EventEntry } from '../store/event-reader.js';
import type { HeraldEvent } from '../types.js';
import type { EventQuery } from '../validate.js';
import { encodePosition, eventIdOf } from '../event-ids.js';

export interface EventIteratorOptions extends EventQuery {
  /** Told once, before the first event, when events after `after` were already trimmed from the log. */
  onGap?: ((gap: { lastEventId: string; oldestId: string | null }) => void) | undefined;
  /** How long one XREAD waits before it is issued again, in ms. */
  blockMs?: number | undefined;
}

const READ_COUNT = 500;

export async function* eventIterator(
  open: () => RedisClient,
  log: EventLog,
  options: EventIteratorOptions,
  release: (connection: RedisClient) => void,
): AsyncGenerator<HeraldEvent, void, undefined> {
  // Opened at the first next(), so an iterator never started holds no connection.
  const connection = open();
  try {
    let after = options.after;
    if (after === undefined) {
      after = await newestId(connection, log);
    } else if (options.onGap) {
      const { gap, oldestId } = await trimmedAfter(connection, log, after);
      if (gap) options.onGap({ lastEventId: after, oldestId });
    }
    const filter = { types: options.types, to: options.to };
    for (;;) {
      let entries: EventEntry[] | null;
      try {
        entries = await readAfter(connection, log, after, READ_COUNT, options.blockMs ?? 5000);
      } catch (err) {
        // Closed under the loop (break, return, herald.close()): the iteration ends.
        if (connection.status === 'end' || connection.status === 'close') return;
        throw err;
      }
      for (const [id, fields] of entries ?? []) {
        after = id;
        if (matches(filter, fields)) yield parseEventEntry(id, fields);
      }
    }
  } finally {
    release(connection);
  }
}

/**
 * `herald.events()` with several shards: every shard's event log, each read on a connection of its
 * own (a blocking read cannot span shards on a Redis Cluster), one read in flight per shard, their
 * events yielded as they come. Each event's `id` is qualified by its shard, and its `position`
 * (src/event-ids.ts) is where the iterator stands in every log after it: `after` takes it back.
 */
export async function* shardedEventIterator(
  open: () => RedisClient,
  logs: readonly EventLog[],
  options: EventIteratorOptions,
  release: (connection: RedisClient) => void,
): AsyncGenerator<HeraldEvent, void, undefined> {
  const shards = logs.length;
  const connections = logs.map(() => open());
  try {
    const positions = options.afterIds ? [...options.afterIds] : await Promise.all(logs.map((log, shard) => newestId(connections[shard]!, log)));
    if (options.afterIds && options.onGap) {
      for (const [shard, log] of logs.entries()) {
        const { gap, oldestId } = await trimmedAfter(connections[shard]!, log, positions[shard]!);
        if (gap) options.onGap({ lastEventId: options.after!, oldestId: oldestId === null ? null : eventIdOf(oldestId, shard, shards) });
      }
    }
    const filter = { types: options.types, to: options.to };
    const read = (shard: number) =>
      readAfter(connections[shard]!, logs[shard]!, positions[shard]!, READ_COUNT, options.blockMs ?? 5000).then((entries) => ({ shard, entries }));
    const pending = new Map(logs.map((_, shard) => [shard, read(shard)]));
    for (;;) {
      let answer: { shard: number; entries: EventEntry[] | null };
      try {
        answer = await Promise.race(pending.values());
      } catch (err) {
        // Closed under the loop (break, return, herald.close()): the iteration ends.
        if (connections.some((connection) => connection.status === 'end' || connection.status === 'close')) return;
        throw err;
      }
      const { shard, entries } = answer;
      for (const [id, fields] of entries ?? []) {
        positions[shard] = id;
        if (matches(filter, fields)) yield { ...parseEventEntry(eventIdOf(id, shard, shards), fields), position: encodePosition(positions) };
      }
      pending.set(shard, read(shard));
    }
  } finally {
    for (const connection of connections) release(connection);
  }
}
