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
