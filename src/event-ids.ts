/**
 * Event ids and resume positions across shards. Each shard keeps its own event log (a Redis
 * stream, events.ts), whose entry ids are unique only within it.
 *
 * - Event id: with one shard, the entry id itself (`1764511200000-3`), as before shards existed;
 *   with several, the entry id qualified by its shard (`1764511200000-3@2`), unique across them.
 * - Position: where a reader of every shard's log stands, one entry id per shard. With one shard it
 *   is that entry id. With several it is a vector, one part per shard in shard order, joined by
 *   `.`: each part is the entry id with its milliseconds and sequence in base 36 (`mip8hjk0` or
 *   `mip8hjk0-3`; empty for `0-0`, nothing read). `/v1/events` sends it as each event's SSE `id:`, so
 *   `Last-Event-ID` resumes every shard's log exactly where the client stood, with no event lost or
 *   repeated, whatever order the shards' events arrived in.
 */

/** The Event id of entry `entryId` of shard `shard`'s log. */
export function eventIdOf(entryId: string, shard: number, shards: number): string {
  return shards <= 1 ? entryId : `${entryId}@${shard}`;
}

function toBase36(decimal: string): string {
  return BigInt(decimal).toString(36);
}

function fromBase36(text: string): string {
  let value = 0n;
  for (const char of text) {
    const digit = Number.parseInt(char, 36);
    if (Number.isNaN(digit)) throw new RangeError(`not base 36: ${text}`);
    value = value * 36n + BigInt(digit);
  }
  return value.toString();
}

/** The position of a reader of every shard's log, each shard's last entry id given. */
export function encodePosition(entryIds: readonly string[]): string {
  if (entryIds.length === 1) return entryIds[0]!;
  return entryIds
    .map((id) => {
      const [ms = '0', seq = '0'] = id.split('-');
      if (ms === '0' && seq === '0') return '';
      return seq === '0' ? toBase36(ms) : `${toBase36(ms)}-${toBase36(seq)}`;
    })
    .join('.');
}

const PART = /^(?:[0-9a-z]{1,14}(?:-[0-9a-z]{1,14})?)?$/;

/** Each shard's last entry id from a position of `shards` shards; null when `text` is not one. */
export function decodePosition(text: string, shards: number): string[] | null {
  if (shards <= 1) return /^\d{1,20}-\d{1,20}$/.test(text) ? [text] : null;
  const parts = text.split('.');
  if (parts.length !== shards || !parts.every((part) => PART.test(part))) return null;
  return parts.map((part) => {
    if (part === '') return '0-0';
    const [ms = '0', seq = '0'] = part.split('-');
    return `${fromBase36(ms)}-${fromBase36(seq)}`;
  });
}
