/**
 * The event log: one Redis stream per deployment (`<prefix>:events`, Keys.events) that records every
 * change of a notification as one entry, written by the same script (or MULTI) that makes the
 * change, so that a change never exists without its event nor an event without its change.
 * An entry's fields are `type`, `to` (the recipient's user id, or '') and `event`, the Event's
 * JSON without its `id`: the entry id is the Event's id. The stream is capped with
 * `MAXLEN ~ HERALD_EVENTS_RETENTION`.
 *
 * Lua scripts emit through lua/includes/emit-event.lua (their layout has the fixed key `events` and
 * the fixed argument `eventsMaxLen`, see EVENT_SLOTS); TypeScript that changes state in its own
 * MULTI queues its event with queueEvent.
 */
import type { ChainableCommander } from 'ioredis';
import { EVENT_TYPES, type HeraldEvent } from '../types.js';

/** Where events go and how many are kept. */
export interface EventLog {
  /** The stream's key (Keys.events()). */
  readonly key: string;
  /** MAXLEN ~ of every XADD (HERALD_EVENTS_RETENTION). */
  readonly maxLen: number;
}

/** An Event as written: without its id, which the stream gives it. */
export type EventBody = Omit<HeraldEvent, 'id'>;

/** The entry's `event` field: the Event's JSON without its id. */
export function encodeEvent(event: EventBody): string {
  return JSON.stringify(event);
}

/** Queues the XADD of one event on the caller's MULTI, beside the change it records. */
export function queueEvent(tx: ChainableCommander, log: EventLog, event: EventBody): void {
  tx.xadd(log.key, 'MAXLEN', '~', log.maxLen, '*', 'type', event.type, 'to', event.to ?? '', 'event', encodeEvent(event));
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * The Event of one stream entry (`fields` as XRANGE/XREAD return them: name, value, name, value…).
 * Throws on an entry that is not an event, which only a foreign writer to the key could make.
 */
export function parseEventEntry(id: string, fields: readonly string[]): HeraldEvent {
  let json: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'event') json = fields[i + 1];
  }
  if (json === undefined) throw new Error(`event log entry ${id} has no event field`);
  const body = JSON.parse(json) as EventBody;
  if (!KNOWN_TYPES.has(body.type)) throw new Error(`event log entry ${id} has an unknown type ${JSON.stringify(body.type)}`);
  return { id, ...body };
}

/** The type and recipient of an entry, read without parsing its JSON (for filtering). */
export function entryRoute(fields: readonly string[]): { type: string; to: string } {
  let type = '';
  let to = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'type') type = fields[i + 1]!;
    else if (fields[i] === 'to') to = fields[i + 1]!;
  }
  return { type, to };
}

/**
 * Stream ids compared as numbers (`ms-seq`): -1, 0 or 1. Ids are decimal, so a string compare
 * would put `9-0` after `10-0`.
 */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
