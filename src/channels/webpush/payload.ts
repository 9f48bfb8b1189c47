/**
 * The JSON a service worker receives in its `push` event, and how it is made to fit.
 *
 *   {"id", "title", "body", "url", "category", "priority", "data"}
 * (`title`, `url`, `category` and `data` only when the notification has them.)
 *
 * An encrypted body may be at most 4096 bytes, which leaves MAX_PLAINTEXT_BYTES of JSON. When the
 * JSON is longer, `body` (the notification's message) is cut at a character boundary and ends in
 * "…"; nothing else is touched, so the JSON stays whole and every other field exact. If even an
 * empty body does not fit (a long URL with large `data`), the notification cannot go by Web Push:
 * enqueue refuses it (see validate.ts) and a send fails permanently.
 * No I/O here: validate.ts uses it at enqueue time.
 */
import type { Notification } from '../../types.js';
import { MAX_PLAINTEXT_BYTES } from './crypto.js';

export const ELLIPSIS = '…';

/** The fields of a notification that the payload carries. */
export type PayloadSource = Pick<Notification, 'id' | 'title' | 'message' | 'priority' | 'url' | 'category' | 'data'>;

export interface FittedPayload {
  json: string;
  /** True when `body` was cut to fit. */
  truncated: boolean;
}

export function payloadJson(source: PayloadSource, body: string): string {
  // Key order is fixed by the object literal; undefined fields are left out by JSON.stringify.
  return JSON.stringify({
    id: source.id,
    title: source.title,
    body,
    url: source.url,
    category: source.category,
    priority: source.priority,
    data: source.data,
  });
}

function fits(json: string): boolean {
  return Buffer.byteLength(json, 'utf8') <= MAX_PLAINTEXT_BYTES;
}

/** True when the payload fits with the whole message: nothing would be cut. */
export function payloadFits(source: PayloadSource): boolean {
  return fits(payloadJson(source, source.message));
}

/** True when the payload fits with an empty body, i.e. when some cut of the message will fit. */
export function payloadCanFit(source: PayloadSource): boolean {
  return fits(payloadJson(source, ''));
}

/**
 * The payload JSON with the message cut just enough to fit, or null when even an empty body does
 * not fit. The cut is found by binary search over whole code points, since JSON escaping makes
 * the byte cost of a character vary.
 */
export function fitPayload(source: PayloadSource): FittedPayload | null {
  const whole = payloadJson(source, source.message);
  if (fits(whole)) return { json: whole, truncated: false };
  const chars = Array.from(source.message);
  let low = 0;
  let high = chars.length - 1;
  let best: string | null = null;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const candidate = payloadJson(source, chars.slice(0, middle).join('').trimEnd() + ELLIPSIS);
    if (fits(candidate)) {
      best = candidate;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  if (best !== null) return { json: best, truncated: true };
  // Not even the ellipsis fits; an empty body still says "there is something".
  const empty = payloadJson(source, '');
  return fits(empty) ? { json: empty, truncated: true } : null;
}
