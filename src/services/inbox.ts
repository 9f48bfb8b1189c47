/**
 * The in-app inbox as applications and the API see it: inbox tokens for a user's browser, the
 * inbox's pages, its live feed, and marking items read. Marking read sits above two stores: the
 * inbox (the read marks, and `inboxReadAt` on records still pending) and the cancel script, which
 * ends at once, `delivered` under a new token, a notification whose escalation waited on the item,
 * so that no later channel starts once the read has answered (see store/cancellations.ts).
 *
 * With several shards an item lives in its notification's shard (the inbox channel writes it
 * beside the record): a page merges the shards' inboxes, the unread count sums them, and a read
 * goes to each item's shard. Inbox tokens are deployment-wide and live in shard 0.
 */
import { HeraldError, validationError } from '../errors.js';
import type { Cancellations } from '../store/cancellations.js';
import type { InboxFeed, InboxListener } from '../store/inbox-feed.js';
import { INBOX_PAGE_DEFAULT, INBOX_PAGE_MAX, isInboxCursor, listInboxes, type InboxStore } from '../store/inbox.js';
import { INBOX_TOKEN_TTL_SECONDS, type InboxTokenGrant, type InboxTokens } from '../store/inbox-tokens.js';
import type { InboxPage } from '../types.js';
import { validateInboxTokenRequest, validateUserId } from '../validate.js';

/** One shard's inbox and cancel script. */
export interface InboxCell {
  store: InboxStore;
  cancellations: Cancellations;
}

export interface InboxServiceDeps {
  /** Every shard's, shard 0 first. */
  cells: readonly InboxCell[];
  /** The shard of a notification id (an item's id is its notification's). */
  shardOf: (id: string) => number;
  tokens: InboxTokens;
  feed: InboxFeed;
  /** Waits for Redis on first use, then fails fast while it is down (Herald#connection). */
  connected: () => Promise<unknown>;
}

export interface InboxListOptions {
  cursor?: string;
  /** Only unread items. */
  unread?: boolean;
  /** 1 to 100, default 50. */
  limit?: number;
}

export class InboxService {
  constructor(private readonly deps: InboxServiceDeps) {}

  /**
   * A token that lets `userId`'s browser list, stream and mark read its own inbox, and nothing
   * else, for `ttlSeconds` (60 to 86400, default 3600).
   */
  async token(userId: string, options: { ttlSeconds?: number } = {}): Promise<{ token: string; expiresAt: string }> {
    validateUserId(userId);
    const { ttlSeconds } = validateInboxTokenRequest(options);
    await this.deps.connected();
    return this.deps.tokens.mint(userId, ttlSeconds ?? INBOX_TOKEN_TTL_SECONDS.default);
  }

  /** Whom an inbox token reaches, or null when it is unknown or expired. */
  async resolveToken(token: string): Promise<InboxTokenGrant | null> {
    await this.deps.connected();
    return this.deps.tokens.resolve(token);
  }

  /** A page of `userId`'s inbox, newest first, with the count of unread items. */
  async list(userId: string, options: InboxListOptions = {}): Promise<InboxPage> {
    validateUserId(userId);
    const limit = options.limit ?? INBOX_PAGE_DEFAULT;
    if (!Number.isInteger(limit) || limit < 1 || limit > INBOX_PAGE_MAX) {
      throw validationError([{ field: 'limit', message: `Expected a whole number from 1 to ${INBOX_PAGE_MAX}` }]);
    }
    if (options.cursor !== undefined && !isInboxCursor(options.cursor)) {
      throw validationError([{ field: 'cursor', message: "Expected the `next` of the inbox's previous page" }]);
    }
    await this.deps.connected();
    return listInboxes(
      this.deps.cells.map((cell) => cell.store),
      userId,
      { cursor: options.cursor, unreadOnly: options.unread === true, limit },
    );
  }

  /** Marks one item read (again is harmless); HERALD_ERR_NOT_FOUND when it is not in the inbox. */
  async read(userId: string, id: string): Promise<void> {
    validateUserId(userId);
    await this.deps.connected();
    const result = await this.markRead(userId, [id]);
    if (result.missing.length > 0) throw new HeraldError('HERALD_ERR_NOT_FOUND', 'No such item in this inbox');
  }

  /** Marks every item unread now read. */
  async readAll(userId: string): Promise<void> {
    validateUserId(userId);
    await this.deps.connected();
    await Promise.all(this.deps.cells.map(async (cell) => this.markReadIn(cell, userId, await cell.store.unreadIds(userId))));
  }

  /** Calls `listener` with every new item and read mark of `userId`'s inbox until the returned function is called. */
  async subscribe(userId: string, listener: InboxListener): Promise<() => Promise<void>> {
    await this.deps.connected();
    return this.deps.feed.subscribe(userId, listener);
  }

  close(): Promise<void> {
    return this.deps.feed.close();
  }

  /**
   * The read marks first (with their `inbox.read` events, and `inboxReadAt` on pending records,
   * which alone stops an escalation), then the end of the notifications still waiting on them:
   * once this answers, no later channel of theirs starts.
   */
  private async markRead(userId: string, ids: readonly string[]): Promise<{ missing: string[] }> {
    const byCell = new Map<number, string[]>();
    for (const id of ids) {
      const shard = this.deps.shardOf(id);
      byCell.set(shard, [...(byCell.get(shard) ?? []), id]);
    }
    const results = await Promise.all([...byCell].map(([shard, mine]) => this.markReadIn(this.deps.cells[shard]!, userId, mine)));
    return { missing: results.flatMap((result) => result.missing) };
  }

  private async markReadIn(cell: InboxCell, userId: string, ids: readonly string[]) {
    const now = Date.now();
    const result = await cell.store.read(userId, ids, now);
    await cell.cancellations.endOnRead(userId, result.pending, now);
    return result;
  }
}
