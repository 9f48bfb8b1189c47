/**
 * What the webhook dispatcher needs of an event log entry besides its Event (store/events.ts):
 * when it was written.
 */

/** Milliseconds of a stream entry id (`<ms>-<seq>`): when the entry was written, by Redis's clock. */
export function entryTimeMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
