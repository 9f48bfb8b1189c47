/**
 * Reads and changes status records. Writes go through the scripts in scripts.ts and may be queued
 * on a caller's transaction, so a record change and a queue move commit together.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Attempt, Notification, NotificationStatus, Status } from '../types.js';
import { field, HOUR_BUCKET_TTL_SECONDS, hourIndex, MINUTE_BUCKET_TTL_SECONDS, minuteIndex, type StatsDelta } from '../stats/counters.js';
import { Keys } from './keys.js';
import { parseAttempts, parseRecord, toStatus, type StoredRecord } from './record.js';
import { scripts } from './scripts.js';

/** A change computed by the processor (or a replay) and applied atomically by the transition script. */
export interface RecordChange {
  set?: Record<string, string>;
  attempts?: Attempt[];
  /** Web Push subscription ids that accepted the notification. */
  accepted?: string[];
  /** Forget which subscriptions accepted it (a replay starts afresh). */
  clearHistory?: boolean;
  expireSeconds?: number;
  deadLetter?: 'add' | 'remove';
  deadLetterScore?: number;
  /** Subscription ids of the recipient to delete (the push service said they are gone). */
  removeSubscriptions?: string[];
  stats?: StatsDelta;
}

/** A new notification to claim: its record is written with this status and job token. */
export interface Claim {
  notification: Notification;
  status: NotificationStatus;
  token: string;
  recordTtlSeconds: number;
}

export type TransitionResult = 'applied' | 'stale' | 'missing';

export class NotificationStore {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {}

  /**
   * Queues the claim of a batch of new notifications on `tx`; its reply holds one
   * `[isNew (1|0), status]` per notification, in order.
   */
  queueClaims(tx: ChainableCommander, claims: Claim[], now: number): void {
    const keys = [this.keys.statsBucket('m', minuteIndex(now)), this.keys.statsBucket('h', hourIndex(now)), this.keys.statsTotals()];
    const args: (string | number)[] = [now, field.accepted, MINUTE_BUCKET_TTL_SECONDS, HOUR_BUCKET_TTL_SECONDS];
    for (const claim of claims) {
      keys.push(this.keys.record(claim.notification.id));
      args.push(JSON.stringify(claim.notification), claim.status, now + claim.notification.ttlSeconds * 1000, claim.token, claim.recordTtlSeconds);
    }
    scripts(tx).heraldClaim(keys.length, ...keys, ...args);
  }

  /** Queues a transition on `tx` (or runs it at once); its reply is 1, 0 (stale) or -1 (missing). */
  queueTransition(tx: ChainableCommander | Redis, id: string, userId: string | undefined, token: string, change: RecordChange, now: number): unknown {
    // Attempts travel as JSON strings: the script appends them to the list verbatim.
    const payload: Record<string, unknown> = { ...change };
    delete payload.expireSeconds;
    if (change.expireSeconds !== undefined) payload.expire = change.expireSeconds;
    if (change.attempts) payload.attempts = change.attempts.map((a) => JSON.stringify(a));
    return scripts(tx).heraldTransition(
      this.keys.record(id),
      this.keys.attempts(id),
      this.keys.pushAccepted(id),
      this.keys.statsBucket('m', minuteIndex(now)),
      this.keys.statsBucket('h', hourIndex(now)),
      this.keys.deadLetters(),
      // Always a key of the same slot, even when there is no recipient to clean up.
      this.keys.subscriptions(userId ?? ''),
      this.keys.statsTotals(),
      token,
      JSON.stringify(payload),
      id,
    );
  }

  async transition(id: string, userId: string | undefined, token: string, change: RecordChange, now: number): Promise<TransitionResult> {
    const reply = (await this.queueTransition(this.redis, id, userId, token, change, now)) as number;
    return transitionResult(reply);
  }

  async getRecord(id: string): Promise<StoredRecord | null> {
    return parseRecord(await this.redis.hgetall(this.keys.record(id)));
  }

  async getWithAttempts(id: string): Promise<{ record: StoredRecord; attempts: Attempt[] } | null> {
    const replies = await this.redis.multi().hgetall(this.keys.record(id)).lrange(this.keys.attempts(id), 0, -1).exec();
    if (!replies) return null;
    const [[hashErr, hash], [listErr, list]] = replies as [[Error | null, Record<string, string>], [Error | null, string[]]];
    if (hashErr) throw hashErr;
    if (listErr) throw listErr;
    const record = parseRecord(hash);
    return record ? { record, attempts: parseAttempts(list) } : null;
  }

  async status(id: string): Promise<Status | null> {
    const found = await this.getWithAttempts(id);
    return found ? toStatus(found.record, found.attempts) : null;
  }
}

export function transitionResult(reply: number): TransitionResult {
  return reply === 1 ? 'applied' : reply === 0 ? 'stale' : 'missing';
}
