/**
 * Reading the event log (the `<prefix>:events` stream, keys.events()). Each state change of a
 * notification is one stream entry, written by the script that makes the change, with fields
 *   type   the event type, e.g. `notification.delivered`
 *   to     the recipient's user id, or '' when there is none
 *   event  the Event JSON without `id`: {type, at, notificationId, to?, channel?, status?, attempt?}
 * The Event's public `id` is the entry id (`1764511200000-3`): SSE `id:` lines and the webhooks'
 * `webhook-id` carry it, so a consumer that saw an id once has seen that event.
 * This parser is the consumer side's; an entry it cannot read is reported as null, never thrown,
 * so one bad entry cannot stop a consumer.
 */
import { isEventType, type HeraldEvent } from '../event-types.js';

/** The Event of one stream entry (`fields` as XRANGE/XREADGROUP give them: name, value, …), or null when it is not one. */
export function parseEventEntry(id: string, fields: readonly string[]): HeraldEvent | null {
  let json: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'event') json = fields[i + 1];
  if (json === undefined) return null;
  let body: unknown;
  try {
    body = JSON.parse(json);
  } catch {
    return null;
  }
  if (!body || typeof body !== 'object') return null;
  const event = body as Partial<HeraldEvent>;
  if (typeof event.type !== 'string' || !isEventType(event.type) || typeof event.notificationId !== 'string' || typeof event.at !== 'string') return null;
  // `id` first, as the contract writes an Event; the entry id wins over anything in the JSON.
  const parsed = { id, ...event } as HeraldEvent;
  parsed.id = id;
  return parsed;
}

/** Milliseconds of a stream entry id (`<ms>-<seq>`): when the entry was written, by Redis's clock. */
export function entryTimeMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
