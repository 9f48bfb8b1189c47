/**
 * The dead-letter queue: notifications that no channel could deliver. A dead letter is the status
 * record itself (status `failed`, every attempt kept) plus an entry in a sorted set ordered by
 * failure time; nothing is copied, so the status and the dead letter can never disagree.
 */
import type { RedisClient } from '../redis/client.js';
import type { DeadLetter } from '../types.js';
import { HeraldError } from '../errors.js';
import type { NotificationStore } from './notifications.js';
import type { Keys } from './keys.js';
import type { StoredRecord } from './record.js';

export interface DeadLetterPage {
  items: DeadLetter[];
  next: string | null;
}

export interface DeadLetterOptions {
  statusRetentionSeconds: number;
  deadLetterRetentionSeconds: number;
}

interface Cursor {
  score: number;
  id: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.score, cursor.id])).toString('base64url');
}

function decodeCursor(raw: string): Cursor {
  try {
    const [score, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof score === 'number' && typeof id === 'string') return { score, id };
  } catch {
    // fall through to the validation error
  }
  throw new HeraldError('HERALD_ERR_VALIDATION', 'Invalid cursor', [{ field: 'cursor', message: 'Use the `next` value of the previous page' }]);
}

interface PositionedLetter {
  letter: DeadLetter;
  position: Cursor;
}

/** Newest first: failure time, then id, both descending (the order every queue's index pages in). */
function newerFirst(a: Cursor, b: Cursor): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * A page of the dead letters of several queues (one per shard), merged newest first. The cursor
 * is a position in that one order, (failure time, id), so it pages every queue at once: each
 * queue is read after it, and the page keeps the newest `limit` of what they return.
 */
export async function listDeadLetters(queues: readonly DeadLetterQueue[], limit: number, cursor?: string): Promise<DeadLetterPage> {
  const after = cursor ? decodeCursor(cursor) : undefined;
  const found = (await Promise.all(queues.map((queue) => queue.positions(limit, after)))).flat().sort((a, b) => newerFirst(a.position, b.position));
  const page = found.slice(0, limit);
  const tail = page.at(-1);
  return { items: page.map((f) => f.letter), next: found.length > limit && tail ? encodeCursor(tail.position) : null };
}

export class DeadLetterQueue {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly store: NotificationStore,
    private readonly options: DeadLetterOptions,
  ) {}

  /**
   * Drops index entries older than the retention (their records have expired with them). Adding a
   * dead letter prunes the same way (see the transition script), so the index stays bounded with
   * no reader; this pass only makes sure a read never shows an entry past the retention.
   */
  private async prune(now: number): Promise<void> {
    await this.redis.zremrangebyscore(this.keys.deadLetters(), '-inf', `(${now - this.options.deadLetterRetentionSeconds * 1000}`);
  }

  async count(now: number = Date.now()): Promise<number> {
    await this.prune(now);
    return this.redis.zcard(this.keys.deadLetters());
  }

  /** Newest first. The cursor is the last item's (failure time, id), stable under removals. */
  list(limit: number, cursor?: string): Promise<DeadLetterPage> {
    return listDeadLetters([this], limit, cursor);
  }

  /**
   * Up to `limit + 1` dead letters after the cursor's position, newest first (failure time, then
   * id, both descending: the order of ZREVRANGEBYSCORE), each with its position.
   */
  async positions(limit: number, cursor: Cursor | undefined): Promise<PositionedLetter[]> {
    await this.prune(Date.now());
    const found: PositionedLetter[] = [];
    let skip = cursor;
    let max = skip ? String(skip.score) : '+inf';
    const batchSize = limit + 20;
    // One item more than asked tells whether there is a next page.
    while (found.length <= limit) {
      const batch = await this.redis.zrevrangebyscore(this.keys.deadLetters(), max, '-inf', 'WITHSCORES', 'LIMIT', 0, batchSize);
      let last: Cursor | undefined;
      for (let i = 0; i < batch.length && found.length <= limit; i += 2) {
        const position = { id: batch[i]!, score: Number(batch[i + 1]) };
        last = position;
        // Equal scores come in reverse lexicographic order of id: these were on earlier pages.
        if (skip && position.score === skip.score && position.id >= skip.id) continue;
        const letter = await this.get(position.id);
        if (letter) found.push({ letter, position });
        else await this.redis.zrem(this.keys.deadLetters(), position.id);
      }
      if (!last || batch.length < batchSize * 2) break;
      max = String(last.score);
      skip = last;
    }
    return found;
  }

  /** A dead letter is a `failed` record that is still in the queue (not deleted from it). */
  async get(id: string): Promise<DeadLetter | null> {
    const [found, score] = await Promise.all([this.store.getWithAttempts(id), this.redis.zscore(this.keys.deadLetters(), id)]);
    if (found?.record.status !== 'failed' || score === null) return null;
    const { record, attempts } = found;
    const letter: DeadLetter = {
      id,
      notification: record.notification,
      failedAt: new Date(record.failedAt ?? record.updatedAt).toISOString(),
      attempts,
      replays: record.replays,
    };
    if (record.attemptsOmitted > 0) letter.attemptsOmitted = record.attemptsOmitted;
    return letter;
  }

  /** The record of a dead letter, or HERALD_ERR_NOT_FOUND: replay and delete start from it. */
  async deadRecord(id: string): Promise<StoredRecord> {
    const [record, score] = await Promise.all([this.store.getRecord(id), this.redis.zscore(this.keys.deadLetters(), id)]);
    if (record?.status !== 'failed' || score === null) throw new HeraldError('HERALD_ERR_NOT_FOUND', `No dead letter with id ${JSON.stringify(id)}`);
    return record;
  }

  /** Removes a dead letter; its status record stays readable for the status retention period. */
  async delete(id: string, now: number = Date.now()): Promise<void> {
    const record = await this.deadRecord(id);
    await this.store.transition(id, record.notification.to, record.token, { deadLetter: 'remove', expireSeconds: this.options.statusRetentionSeconds }, now);
  }
}
