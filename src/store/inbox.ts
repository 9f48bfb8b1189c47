/**
 * Recipients' in-app inboxes (the `inbox` channel's store). Per recipient: the items (InboxItem
 * JSON without its read mark), their order and the unread ones (sorted sets scored by when each was
 * stored), and the read marks; plus a pub/sub channel that carries new items and read marks to the
 * live streams of the API processes. Every change is one script (lua/inbox-*.lua), so the four keys
 * never disagree, and each inbox is bounded: at most `maxItems` items (the oldest dropped), every
 * key expiring `retentionSeconds` after the newest item.
 * An item's id is its notification's id: storing it again (a delivery run again) changes nothing.
 * Marking an item read emits `inbox.read` to the event log in the same script.
 */
import type { RedisClient } from '../redis/client.js';
import type { InboxItem, InboxPage } from '../types.js';
import type { EventLog } from './events.js';
import type { Keys } from './keys.js';
import { INBOX_ADD_LAYOUT, INBOX_LIST_LAYOUT, INBOX_READ_LAYOUT, scripts } from './scripts.js';
import { ScriptCall } from './script-layout.js';

export interface InboxLimits {
  /** Items kept per recipient (HERALD_INBOX_MAX_ITEMS). */
  maxItems: number;
  /** How long an inbox outlives its newest item (HERALD_INBOX_RETENTION_SECONDS). */
  retentionSeconds: number;
}

/** What an inbox's pub/sub channel carries: the SSE event name and its data. */
export type InboxEvent = { event: 'inbox'; data: InboxItem } | { event: 'read'; data: { ids: string[]; readAt: string } };

/** What marking items read did. */
export interface InboxReadResult {
  /** Ids that were unread and are read now. */
  read: string[];
  /** Ids whose notification is still pending (an escalation waiting on the read): to be ended now. */
  pending: string[];
  /** Ids not in the inbox (never stored, dropped past the cap, or expired). */
  missing: string[];
}

/** Items a page holds at most, and by default. */
export const INBOX_PAGE_MAX = 100;
export const INBOX_PAGE_DEFAULT = 50;

/** An inbox item with its position in the inbox's order. */
export interface InboxRow {
  item: InboxItem;
  id: string;
  /** When it was stored (ms): the inbox's order. */
  score: number;
}

/**
 * A page of one user's inbox kept in several stores (one per shard: an item lives in its
 * notification's shard), merged newest first, with the unread items of all of them counted. The
 * cursor is a position in that one order (score and id), so it pages every store at once.
 */
export async function listInboxes(
  stores: readonly InboxStore[],
  userId: string,
  options: { cursor?: string | undefined; unreadOnly?: boolean; limit?: number },
): Promise<InboxPage> {
  const limit = options.limit ?? INBOX_PAGE_DEFAULT;
  const pages = await Promise.all(stores.map((store) => store.rows(userId, { cursor: options.cursor, unreadOnly: options.unreadOnly === true, limit })));
  const rows = pages.flatMap((page) => page.rows).sort((a, b) => (a.score !== b.score ? b.score - a.score : a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return {
    items: rows.slice(0, limit).map((row) => row.item),
    unread: pages.reduce((sum, page) => sum + page.unread, 0),
    next: last ? `${last.score}:${last.id}` : null,
  };
}

export class InboxStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly limits: InboxLimits,
    /** Where a read's `inbox.read` events go (the deployment's event log). */
    private readonly eventLog: EventLog,
  ) {}

  /** Stores `item` in `userId`'s inbox and announces it; false when an item with its id is there already. */
  async add(userId: string, item: InboxItem): Promise<boolean> {
    const call = new ScriptCall(INBOX_ADD_LAYOUT, {}, { maxItems: this.limits.maxItems, retentionSeconds: this.limits.retentionSeconds });
    const { readAt: _unread, ...stored } = item;
    const message: InboxEvent = { event: 'inbox', data: item };
    call.item(this.inboxKeys(userId), {
      id: item.id,
      item: JSON.stringify(stored),
      createdAt: Date.parse(item.createdAt),
      channel: this.keys.inboxChannel(userId),
      message: JSON.stringify(message),
    });
    const [stored1] = await scripts(this.redis).heraldInboxAdd(call.keys.length, ...call.keys, ...call.args);
    return stored1 === 1;
  }

  /** A page of `userId`'s inbox, newest first; `cursor` is the previous page's `next`. */
  list(userId: string, options: { cursor?: string; unreadOnly?: boolean; limit?: number } = {}): Promise<InboxPage> {
    return listInboxes([this], userId, options);
  }

  /**
   * Up to `limit + 1` items after the cursor, newest first (score, then id, both descending), each
   * with its position, and the count of unread items.
   */
  async rows(userId: string, options: { cursor?: string | undefined; unreadOnly?: boolean; limit: number }): Promise<{ unread: number; rows: InboxRow[] }> {
    const after = parseCursor(options.cursor);
    const call = new ScriptCall(INBOX_LIST_LAYOUT, {}, { score: after.score, afterId: after.id, limit: options.limit, unreadOnly: options.unreadOnly ? 1 : 0 });
    call.item(this.inboxKeys(userId), {});
    const [unread, rows] = await scripts(this.redis).heraldInboxList(call.keys.length, ...call.keys, ...call.args);
    const found: InboxRow[] = [];
    for (const [id, json, readMs, score] of rows) {
      // An id whose item is gone (never the case but for a hand-edited inbox) is left out.
      if (!json) continue;
      const item: InboxItem = { ...(JSON.parse(json) as Omit<InboxItem, 'readAt'>), readAt: readMs ? new Date(Number(readMs)).toISOString() : null };
      found.push({ item, id, score: Number(score) });
    }
    return { unread, rows: found };
  }

  /**
   * Marks `ids` of `userId`'s inbox read (those already read keep their first mark) and announces
   * the newly read ones. Records of their notifications that are still pending get `inboxReadAt`.
   */
  async read(userId: string, ids: readonly string[], now: number = Date.now()): Promise<InboxReadResult> {
    const result: InboxReadResult = { read: [], pending: [], missing: [] };
    if (ids.length === 0) return result;
    const call = new ScriptCall(
      INBOX_READ_LAYOUT,
      {
        items: this.keys.inboxItems(userId),
        order: this.keys.inboxOrder(userId),
        unread: this.keys.inboxUnread(userId),
        reads: this.keys.inboxReads(userId),
        events: this.eventLog.key,
      },
      { now, nowIso: new Date(now).toISOString(), channel: this.keys.inboxChannel(userId), to: userId, eventsMaxLen: this.eventLog.maxLen },
    );
    for (const id of ids) call.item({ record: this.keys.record(id) }, { id });
    const replies = await scripts(this.redis).heraldInboxRead(call.keys.length, ...call.keys, ...call.args);
    replies.forEach(([fresh, pending], i) => {
      const id = ids[i]!;
      if (fresh === -1) result.missing.push(id);
      if (fresh === 1) result.read.push(id);
      if (pending === 1) result.pending.push(id);
    });
    return result;
  }

  /** The ids of `userId`'s unread items, oldest first (read-all marks these). */
  unreadIds(userId: string): Promise<string[]> {
    return this.redis.zrange(this.keys.inboxUnread(userId), '0', '-1');
  }

  private inboxKeys(userId: string): { items: string; order: string; unread: string; reads: string } {
    return {
      items: this.keys.inboxItems(userId),
      order: this.keys.inboxOrder(userId),
      unread: this.keys.inboxUnread(userId),
      reads: this.keys.inboxReads(userId),
    };
  }
}

/** A page cursor is the score (ms) and id of the previous page's last item; none starts at the newest. */
function parseCursor(cursor: string | undefined): { score: string; id: string } {
  if (!cursor) return { score: '+inf', id: '' };
  const colon = cursor.indexOf(':');
  return { score: cursor.slice(0, colon), id: cursor.slice(colon + 1) };
}

/** Whether `cursor` has the shape list() hands out (a bad one is a 400, not a Redis error). */
export function isInboxCursor(cursor: string): boolean {
  return /^\d{1,16}:.{1,128}$/s.test(cursor);
}
