/**
 * What a digest sends: the notifications of one window, as one notification. Pure: send.ts calls
 * it for a record whose window has closed (`record.digest`), so a retry, a hand-off to the next
 * channel or a dead-letter replay sends the same digest.
 *
 * The digest goes where, and how, the window's first notification (its holder) goes: under its
 * id, to its recipient and targets, along its channels, with its priority, ttl, category and
 * collapseKey. It shows the newest notification of the window: its title and url (the holder's
 * where it has none) and its message, cut to DIGEST_PREVIEW_CHARS, followed by a blank line and
 * `(+N more)`, N being the window's other notifications. `data` is the holder's with the newest's
 * on top, plus `digest`, the ids of the window oldest first (the holder's first), and
 * `digestCount`, how many there are. `digest` lists as many ids as fit in a Web Push payload beside
 * the message (about 95 generated ids beside a short one), so that a long window never makes the
 * digest undeliverable by Web Push; `digestCount` counts them all.
 * A window nothing was merged into sends its holder unchanged but for those two data fields.
 */
import type { Notification } from '../types.js';
import type { ClosedDigest } from '../store/record.js';
import { ELLIPSIS, payloadFits } from '../channels/webpush/payload.js';

/** Characters of the newest message a digest shows; what follows them is left out. */
export const DIGEST_PREVIEW_CHARS = 500;

/** The notification a closed digest window sends. */
export function digestNotification(holder: Notification, digest: ClosedDigest): Notification {
  const ids = [holder.id, ...digest.merged];
  const shown: Notification = { ...holder };
  const newest = digest.latest;
  if (newest && digest.merged.length > 0) {
    shown.message = `${preview(newest.message)}\n\n(+${digest.merged.length} more)`;
    if (newest.title !== undefined) shown.title = newest.title;
    if (newest.url !== undefined) shown.url = newest.url;
  }
  const data = { ...holder.data, ...newest?.data };
  const withIds = (listed: number) => ({ ...data, digest: ids.slice(0, listed), digestCount: ids.length });
  shown.data = withIds(listedIds(ids.length, (listed) => payloadFits({ ...shown, data: withIds(listed) })));
  return shown;
}

/** The message's first DIGEST_PREVIEW_CHARS characters (whole code points), marked when cut. */
function preview(message: string): string {
  const chars = Array.from(message);
  return chars.length <= DIGEST_PREVIEW_CHARS ? message : chars.slice(0, DIGEST_PREVIEW_CHARS).join('').trimEnd() + ELLIPSIS;
}

/** The most ids (of `total`) for which `fits` holds, found by binary search; 0 when none fit. */
function listedIds(total: number, fits: (listed: number) => boolean): number {
  if (fits(total)) return total;
  let low = 0;
  let high = total - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (fits(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}
