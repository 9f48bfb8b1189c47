/**
 * Reads and changes status records. Writes go through the scripts in scripts.ts and may be queued
 * on a caller's transaction, so a record change and a queue move commit together.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import { digestGroupOf, isGrouped, type Attempt, type Notification, type NotificationStatus, type Status } from '../types.js';
import { field, HOUR_BUCKET_TTL_SECONDS, hourIndex, MINUTE_BUCKET_TTL_SECONDS, minuteIndex, type StatsDelta } from './stats-counters.js';
import { execResult } from '../redis/failures.js';
import type { Keys } from './keys.js';
import { parseAttempts, parseRecord, toStatus, type RecordField, type RecordHash, type StoredRecord } from './record.js';
import {
  CHECK_LAYOUT,
  CLAIM_LAYOUT,
  defineScripts,
  DIGEST_CLOSE_LAYOUT,
  LOAD_LAYOUT,
  parseLoadReply,
  scripts,
  TRANSITION_LAYOUT,
  type LoadReply,
} from './scripts.js';
import { ScriptCall } from './script-layout.js';
import type { EventLog } from './events.js';
import { eventHead, transitionEvents } from './transition-events.js';
import { EVENTS_RETENTION } from '../defaults.js';
import { isoTime } from '../iso-time.js';

/** A change computed by the processor (or a replay) and applied atomically by the transition script. */
export interface RecordChange {
  /** Record fields to write; only the fields of record.ts's RECORD_FIELDS. */
  set?: RecordHash;
  attempts?: Attempt[];
  /** Web Push subscription ids that accepted the notification. */
  accepted?: string[];
  /** Forget which subscriptions accepted it (a replay starts afresh). */
  clearHistory?: boolean;
  expireSeconds?: number;
  deadLetter?: 'add' | 'remove';
  deadLetterScore?: number;
  /** With `deadLetter: 'add'`: index entries older than this are pruned, and the index expires this long after its newest. */
  deadLetterRetentionSeconds?: number;
  /** Subscription ids of the recipient to delete (the push service said they are gone). */
  removeSubscriptions?: string[];
  /**
   * An address to delete from the recipient (a webhook URL whose endpoint said it is gone), by its
   * field (recipients.ts RECIPIENT_FIELDS) and the value that was sent to: deleted only while the
   * recipient still has that value, so an address registered since is kept.
   */
  removeAddress?: { field: string; value: string };
  stats?: StatsDelta;
  /**
   * The notification ended: it leaves the index of its group, the groupKey given here (set only
   * for a grouped notification, see types.ts isGrouped).
   */
  leaveGroup?: string | undefined;
  /** The notification is pending again (a replay): it rejoins its group's index until `expiresAt` (ms). */
  joinGroup?: { groupKey: string; expiresAt: number; now: number };
}

/** A new notification to claim: its record is written with this status and job token. */
export interface Claim {
  notification: Notification;
  status: NotificationStatus;
  token: string;
  recordTtlSeconds: number;
}

export type TransitionResult = 'applied' | 'stale' | 'missing';

/** One record's change, guarded by the token its caller holds. */
export interface Transition {
  id: string;
  userId: string | undefined;
  token: string;
  change: RecordChange;
}

/**
 * One transition as the transition script reads it from the batch's `changes` JSON: the change,
 * with the token that guards it and the notification it is for; attempts travel as JSON strings
 * appended verbatim. Built field by field (no spread, no delete): this runs once per delivery.
 * `group` is the key of the group index the change leaves or joins, present only with leaveGroup
 * or joinGroup. The batch is encoded once (JSON.stringify of the list), not change by change.
 */
function transitionPayload(transition: Transition, group: string | undefined): object {
  const { change } = transition;
  return {
    token: transition.token,
    id: transition.id,
    to: transition.userId ?? '',
    eventHead: eventHead(transition.id, transition.userId),
    set: change.set,
    attempts: change.attempts && attemptsJson(change.attempts),
    accepted: change.accepted,
    clearHistory: change.clearHistory,
    expire: change.expireSeconds,
    deadLetter: change.deadLetter,
    deadLetterScore: change.deadLetterScore,
    deadLetterRetention: change.deadLetterRetentionSeconds,
    removeSubscriptions: change.removeSubscriptions,
    removeAddress: change.removeAddress,
    stats: change.stats,
    leaveGroup: change.leaveGroup !== undefined ? true : undefined,
    joinGroup: change.joinGroup,
    group,
    events: transitionEvents(change),
  };
}

function attemptsJson(attempts: readonly Attempt[]): string[] {
  const json: string[] = new Array(attempts.length);
  for (let i = 0; i < attempts.length; i++) json[i] = JSON.stringify(attempts[i]);
  return json;
}

export class NotificationStore {
  /**
   * The group key passed for a notification that is in no group: the empty user's, which is never
   * written (only a grouped notification's scripts touch the key), so every item has the same keys.
   */
  private readonly noGroup: string;
  /** Where the scripts write the events of the changes they make. */
  readonly eventLog: EventLog;

  constructor(
    private readonly redis: RedisClient,
    readonly keys: Keys,
    eventsRetention: number = EVENTS_RETENTION.default,
  ) {
    this.eventLog = { key: keys.events(), maxLen: eventsRetention };
    // Transactions opened on this connection (the queues' share it) inherit the scripts.
    defineScripts(redis);
    this.noGroup = keys.group('', '');
  }

  /**
   * Queues the claim of a batch of new notifications on `tx`; its reply holds one
   * `[isNew (1|0), status]` per notification, in order. A new notification with a digest is
   * merged into its open window (status `merged`) or opens one (see lua/includes/digest-window.lua).
   */
  queueClaims(tx: ChainableCommander, claims: Claim[], now: number): void {
    const call = new ScriptCall(
      CLAIM_LAYOUT,
      {
        statsMinute: this.keys.statsBucket('m', minuteIndex(now)),
        statsHour: this.keys.statsBucket('h', hourIndex(now)),
        statsTotals: this.keys.statsTotals(),
        events: this.eventLog.key,
      },
      {
        now,
        acceptedField: field.accepted,
        mergedField: field.ended('merged'),
        mergedStatus: 'merged' satisfies NotificationStatus,
        minuteTtl: MINUTE_BUCKET_TTL_SECONDS,
        hourTtl: HOUR_BUCKET_TTL_SECONDS,
        eventsMaxLen: this.eventLog.maxLen,
      },
    );
    for (const { notification, status, token, recordTtlSeconds } of claims) {
      // Without a recipient, its keys are those of the empty user id: they never exist.
      const userId = notification.to ?? '';
      const record = this.keys.record(notification.id);
      // Without a digest, the window slots repeat the record key, which the script leaves alone there.
      const group = digestGroupOf(notification);
      call.item(
        {
          record,
          recipient: this.keys.recipient(userId),
          subscriptions: this.keys.subscriptions(userId),
          digestWindow: group === undefined ? record : this.keys.digestWindow(userId, group),
          digestMembers: group === undefined ? record : this.keys.digestMembers(userId, group),
          group: this.groupKey(notification.to, notification.groupKey),
        },
        {
          notification: JSON.stringify(notification),
          status,
          expiresAt: now + notification.ttlSeconds * 1000,
          token,
          recordTtl: recordTtlSeconds,
          digestMember: group === undefined ? '' : notification.id,
          // Only a notification with both a recipient and a groupKey joins a group (see isGrouped).
          groupMember: isGrouped(notification) ? notification.id : '',
          id: notification.id,
          to: userId,
        },
      );
    }
    scripts(tx).heraldClaim(call.keys.length, ...call.keys, ...call.args);
  }

  /**
   * Queues the transitions of a batch on `tx` (or runs them at once) as one script call; its reply
   * holds one 1 (applied), 0 (stale token) or -1 (record gone) per transition, in order.
   */
  queueTransitions(tx: ChainableCommander | RedisClient, transitions: readonly Transition[], now: number): unknown {
    const payloads: object[] = new Array(transitions.length);
    for (let i = 0; i < transitions.length; i++) {
      const transition = transitions[i]!;
      const groupKey = transition.change.leaveGroup ?? transition.change.joinGroup?.groupKey;
      payloads[i] = transitionPayload(transition, groupKey !== undefined ? this.groupKey(transition.userId, groupKey) : undefined);
    }
    const call = new ScriptCall(
      TRANSITION_LAYOUT,
      {
        statsMinute: this.keys.statsBucket('m', minuteIndex(now)),
        statsHour: this.keys.statsBucket('h', hourIndex(now)),
        statsTotals: this.keys.statsTotals(),
        deadLetters: this.keys.deadLetters(),
        events: this.eventLog.key,
      },
      {
        eventsMaxLen: this.eventLog.maxLen,
        eventAt: isoTime(now),
        changes: JSON.stringify(payloads),
      },
    );
    // Two keys per notification, its record's and its recipient's (the empty user's, which never
    // exists, when it has none): the script derives the attempts, push-accepted and subscriptions
    // keys from them (keys.ts KEY_SUFFIX), and reads a group index's key from the change.
    for (const { id, userId } of transitions) call.item({ record: this.keys.record(id), recipient: this.keys.recipient(userId ?? '') }, {});
    return scripts(tx).heraldTransition(call.keys.length, call.keys, call.args);
  }

  private groupKey(userId: string | undefined, groupKey: string | undefined): string {
    return userId !== undefined && groupKey !== undefined ? this.keys.group(userId, groupKey) : this.noGroup;
  }

  async transitions(transitions: readonly Transition[], now: number): Promise<TransitionResult[]> {
    if (transitions.length === 0) return [];
    const replies = (await this.queueTransitions(this.redis, transitions, now)) as number[];
    return replies.map(transitionResult);
  }

  async transition(id: string, userId: string | undefined, token: string, change: RecordChange, now: number): Promise<TransitionResult> {
    const [result] = await this.transitions([{ id, userId, token, change }], now);
    return result!;
  }

  /**
   * Reads, for each delivery of a batch, its record (if its token is current) and its recipient,
   * in one command; null for a delivery whose token is stale or whose record is gone. Deliveries
   * that may hold a digest window (`digestGroup`) first close it, in the same round trip, so the
   * record read carries what the window gathered.
   */
  async load(items: readonly { id: string; token: string; to?: string; digestGroup?: string }[]): Promise<(LoadReply | null)[]> {
    const call = new ScriptCall(LOAD_LAYOUT, {}, {});
    for (const { id, to, token } of items) {
      // Without a recipient, the empty user's key (it never exists; it is in the record's slot, as a
      // Redis Cluster requires of every key of a script): the script reads nothing of a recipient then.
      call.item({ record: this.keys.record(id), recipient: this.keys.recipient(to ?? '') }, { token });
    }
    const closing = items.filter((item) => item.digestGroup !== undefined);
    const json = closing.length === 0 ? await scripts(this.redis).heraldLoad(call.keys.length, call.keys, call.args) : await this.closeAndLoad(closing, call);
    const replies = parseLoadReply(json);
    if (replies.length !== items.length) throw new Error(`the load script answered ${replies.length} entries for ${items.length} deliveries`);
    return replies;
  }

  /**
   * Whether each delivery still holds its record's token, in one command (lua/check.lua): false
   * for one that a cancel, a replay or a duplicate overtook, or whose record is gone.
   */
  async holdsToken(items: readonly { id: string; token: string }[]): Promise<boolean[]> {
    return heldTokens((await this.queueHoldsToken(this.redis, items)) as number[]);
  }

  /** Queues the check of holdsToken on `tx` (or runs it at once); heldTokens reads its reply. */
  queueHoldsToken(tx: ChainableCommander | RedisClient, items: readonly { id: string; token: string }[]): unknown {
    const call = new ScriptCall(CHECK_LAYOUT, {}, {});
    for (const { id, token } of items) call.item({ record: this.keys.record(id) }, { token });
    return scripts(tx).heraldCheck(call.keys.length, call.keys, call.args);
  }

  /**
   * The checks of holdsToken and the transitions of transitions(), in one round trip: the two
   * script calls leave in one write (the connection's socket is corked while they are sent), with
   * none of a pipeline's setup, which at one round trip per turn of a busy worker costs more than
   * the commands' own encoding.
   */
  async checkAndTransition(
    checks: readonly { id: string; token: string }[],
    transitions: readonly Transition[],
    now: number,
  ): Promise<{ held: boolean[]; results: TransitionResult[] }> {
    // One connection's socket; a Redis Cluster client has one per node, and is not corked.
    const socket = 'stream' in this.redis ? (this.redis.stream as { cork(): void; uncork(): void }) : undefined;
    socket?.cork();
    let checking: Promise<number[]> | undefined;
    let transitioning: Promise<number[]> | undefined;
    try {
      if (checks.length > 0) checking = this.queueHoldsToken(this.redis, checks) as Promise<number[]>;
      if (transitions.length > 0) transitioning = this.queueTransitions(this.redis, transitions, now) as Promise<number[]>;
    } finally {
      socket?.uncork();
    }
    const [held, results] = await Promise.all([checking ?? [], transitioning ?? []]);
    return { held: heldTokens(held), results: results.map(transitionResult) };
  }

  /**
   * The digest close script, then the load script, in one pipeline. The close is idempotent, so a
   * worker that dies between the two leaves nothing a rerun of the job cannot redo; a close that
   * fails fails the load, rather than a digest being sent without what its window gathered.
   */
  private async closeAndLoad(
    closing: readonly { id: string; to?: string; digestGroup?: string }[],
    load: { keys: string[]; args: (string | number)[] },
  ): Promise<string> {
    const close = new ScriptCall(DIGEST_CLOSE_LAYOUT, {}, {});
    for (const { id, to, digestGroup } of closing) {
      const userId = to ?? '';
      const group = digestGroup ?? '';
      close.item(
        { record: this.keys.record(id), digestWindow: this.keys.digestWindow(userId, group), digestMembers: this.keys.digestMembers(userId, group) },
        { id },
      );
    }
    const pipeline = this.redis.pipeline();
    scripts(pipeline).heraldDigestClose(close.keys.length, ...close.keys, ...close.args);
    scripts(pipeline).heraldLoad(load.keys.length, load.keys, load.args);
    const replies = await pipeline.exec();
    execResult(replies, 0, 'The digest close before a load');
    return execResult<string>(replies, 1, 'The load after a digest close');
  }

  /** The stored notifications of `ids`, in one round trip; null for an id without a record. */
  async notifications(ids: readonly string[]): Promise<(Notification | null)[]> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.keys.record(id), 'notification' satisfies RecordField);
    const replies = await pipeline.exec();
    return ids.map((_, i) => {
      const json = execResult<string | null>(replies, i, 'Reading notifications');
      return json ? (JSON.parse(json) as Notification) : null;
    });
  }

  async getRecord(id: string): Promise<StoredRecord | null> {
    return parseRecord(await this.redis.hgetall(this.keys.record(id)));
  }

  async getWithAttempts(id: string): Promise<{ record: StoredRecord; attempts: Attempt[] } | null> {
    const replies = await this.redis.multi().hgetall(this.keys.record(id)).lrange(this.keys.attempts(id), 0, -1).exec();
    const hash = execResult<Record<string, string>>(replies, 0, 'The transaction reading a status');
    const list = execResult<string[]>(replies, 1, 'The transaction reading a status');
    const record = parseRecord(hash);
    return record ? { record, attempts: parseAttempts(list) } : null;
  }

  async status(id: string): Promise<Status | null> {
    const found = await this.getWithAttempts(id);
    return found ? toStatus(found.record, found.attempts) : null;
  }
}

/** The check script's reply (queueHoldsToken): whether each delivery holds its token. */
export function heldTokens(replies: readonly number[]): boolean[] {
  return replies.map((reply) => reply === 1);
}

export function transitionResult(reply: number): TransitionResult {
  return reply === 1 ? 'applied' : reply === 0 ? 'stale' : 'missing';
}
