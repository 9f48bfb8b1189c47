/**
 * Cancel: ends pending notifications `canceled`, one by id or every pending one of a group (a
 * recipient and a groupKey) at once. The change itself is lua/cancel.lua: it writes the status and
 * a new token in one step, so every job queued for the notification is stale when it runs, and a
 * worker's transition for it (a delivery being sent right now) finds a token the record no longer
 * holds and is dropped. Whichever of the two runs first in Redis wins; a record never says both
 * canceled and delivered. What stops a send that a worker loaded before the cancel but starts only
 * after it is the worker's own check at the moment it sends (see delivery/).
 * A canceled digest holder closes its window (cancel.lua).
 * The same script ends a notification whose escalation waits on its inbox item when the user reads
 * the item (endOnRead): `delivered` by the inbox, under a new token, so no later channel starts.
 *
 * A topic notification (a parent) is canceled in three steps (cancelTopic): the first
 * (lua/cancel-topic.lua, step `stop`) stops its fan-out in the same step that reads how far it got,
 * so no recipient after that point ever gets a notification; the second cancels, a page of
 * TOPIC_CANCEL_PAGE at a time (a script call each, so Redis is never held long, whatever the topic's
 * size), the recipients' notifications the fan-out had written, with cancel.lua as above; the
 * third (step `end`) sets the parent `canceled`. All three run before the call answers, so no
 * attempt of any recipient starts after it has answered. A caller that dies in between leaves the
 * parent pending: canceling it again completes the work.
 */
import type { RedisClient } from '../redis/client.js';
import { HeraldError } from '../errors.js';
import { PENDING_STATUSES, isTerminal, type NotificationStatus, type Status } from '../types.js';
import type { Keys } from './keys.js';
import type { NotificationStore } from './notifications.js';
import type { StoredRecord } from './record.js';
import { CANCEL_LAYOUT, CANCEL_TOPIC_LAYOUT, scripts } from './scripts.js';
import { ScriptCall } from './script-layout.js';
import { field, HOUR_BUCKET_TTL_SECONDS, hourIndex, MINUTE_BUCKET_TTL_SECONDS, minuteIndex } from './stats-counters.js';
import { newTokens } from './tokens.js';
import { firstStatusOf, recipientNotificationId, type TopicStore } from './topics.js';

/** How the script ends the notifications it is given: canceled, or delivered by a read inbox item. */
interface Ending {
  status: 'canceled' | 'delivered';
  /** The statuses it ends a notification from. */
  from: readonly NotificationStatus[];
  /** The channel it records ('' leaves the record's). */
  channel: '' | 'inbox';
}

const CANCEL: Ending = { status: 'canceled', from: PENDING_STATUSES, channel: '' };
/**
 * A read inbox item ends its notification only while the escalation waits (`delivering`): one
 * still `queued` is the inbox's own delivery in flight, whose step ends it (the record's
 * `inboxReadAt` stops any escalation), so its attempt is recorded.
 */
const READ: Ending = { status: 'delivered', from: ['delivering'], channel: 'inbox' };

/** Notifications of a group canceled per script call; a larger group takes several. */
export const CANCEL_PAGE = 500;

/**
 * Recipients' notifications of a topic notification canceled per script call. Smaller than a
 * group's page: each one also moves a count of the topic notification and keeps its record alive
 * as long as the topic notification's, so a page of these costs Redis more per notification.
 */
export const TOPIC_CANCEL_PAGE = 100;

/**
 * A cancel by id reads the record, then cancels it if it is still the same record: it reads again
 * (at most this many times in all) only if the id was taken by a new notification in between.
 */
const CANCEL_READS = 3;

export interface CancelOptions {
  /** How long a canceled notification's status is kept (HERALD_STATUS_RETENTION_SECONDS). */
  statusRetentionSeconds: number;
}

/** What the cancel script did to one notification. */
type CancelOutcome =
  | { kind: 'canceled' }
  | { kind: 'ended'; status: NotificationStatus }
  | { kind: 'missing' }
  /** The record is not the one read before the script: another notification took the id. */
  | { kind: 'replaced' };

interface CancelTarget {
  id: string;
  userId: string | undefined;
  groupKey: string | undefined;
  /** The record's createdAt as read before the script, or '' to cancel whatever record holds the id. */
  createdAt: string;
}

export class Cancellations {
  /** A key no script ever writes: the group and digest slots of a notification that has neither. */
  private readonly none: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly store: NotificationStore,
    private readonly topics: TopicStore,
    private readonly options: CancelOptions,
  ) {
    this.none = keys.group('', '');
  }

  /**
   * Cancels one pending notification and answers its status (`canceled`). Throws
   * HERALD_ERR_NOT_FOUND for an unknown id and HERALD_ERR_ALREADY_FINISHED, with the status in
   * `details`, for one that has already ended.
   */
  async cancel(id: string, now: number = Date.now()): Promise<Status> {
    for (let read = 0; read < CANCEL_READS; read++) {
      const record = await this.store.getRecord(id);
      if (!record) throw notFound(id);
      if (isTerminal(record.status)) throw alreadyFinished(id, record.status);
      const { to, groupKey } = record.notification;
      const outcome = record.recipients
        ? await this.cancelTopic(record, now)
        : (await this.run([{ id, userId: to, groupKey, createdAt: String(record.createdAt) }], now, CANCEL))[0]!;
      switch (outcome.kind) {
        case 'canceled': {
          const status = await this.store.status(id);
          if (!status) throw notFound(id);
          return status;
        }
        case 'ended':
          throw alreadyFinished(id, outcome.status);
        case 'missing':
          throw notFound(id);
        case 'replaced':
          continue;
      }
    }
    throw new HeraldError('HERALD_ERR_CONFLICT', `Notification ${JSON.stringify(id)} kept changing while it was being canceled; try again`);
  }

  /**
   * Cancels every pending notification of `userId` with `groupKey` (those accepted before the call;
   * one accepted during it may be left) and answers how many it canceled. That includes the
   * notifications of topic notifications with that groupKey accepted before the call whose fan-out
   * has not reached `userId` yet: they are written canceled (see markGroupCanceled).
   */
  async cancelGroup(userId: string, groupKey: string, now: number = Date.now()): Promise<number> {
    await this.markGroupCanceled(userId, groupKey, now);
    const group = this.keys.group(userId, groupKey);
    let canceled = 0;
    for (;;) {
      // Entries past their notification's lifetime are left out: such a notification ends
      // `expired` when its job runs. Every entry the script is given leaves the index, so each page
      // is new.
      const ids = await this.redis.zrangebyscore(group, now, '+inf', 'LIMIT', 0, CANCEL_PAGE);
      if (ids.length === 0) return canceled;
      const outcomes = await this.run(
        ids.map((id) => ({ id, userId, groupKey, createdAt: '' })),
        now,
        CANCEL,
      );
      canceled += outcomes.filter((outcome) => outcome.kind === 'canceled').length;
      if (ids.length < CANCEL_PAGE) return canceled;
    }
  }

  /**
   * While a topic notification with `groupKey` is still fanning out, notes when `userId`'s
   * notifications of that groupKey were canceled: the fan-out-page script writes the user's
   * notification of a topic notification accepted before then already canceled. The note is
   * written before the group's index is read, so a recipient's notification is either in the index
   * by then or written after the note, and kept until the last such fan-out has expired; with no
   * fan-out under way (the usual case) nothing is written.
   */
  private async markGroupCanceled(userId: string, groupKey: string, now: number): Promise<void> {
    const [, until] = await this.redis.zrange(this.keys.groupFanOuts(groupKey), '+inf', `(${now}`, 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES');
    if (until !== undefined) await this.redis.set(this.keys.groupCanceled(userId, groupKey), now, 'PXAT', Number(until));
  }

  /**
   * Cancels a topic notification and every pending notification of its recipients (see the top of
   * this file): stops the fan-out, cancels the recipients' notifications written up to where it
   * stopped, a page at a time, then ends the parent.
   */
  private async cancelTopic(record: StoredRecord, now: number): Promise<CancelOutcome> {
    const { id, groupKey } = record.notification;
    const stopped = await this.runTopic('stop', record, now);
    if (stopped.kind !== 'canceled') return stopped;
    // Only members up to the cursor have a notification of their own; none after it ever will.
    let after = '';
    while (stopped.cursor !== '') {
      const members = await this.topics.recipientsAfter(id, after, TOPIC_CANCEL_PAGE, stopped.cursor);
      if (members.length === 0) break;
      // Ended ones are left as they are; the parent's counts follow every one canceled here.
      await this.run(
        members.map((member) => ({ id: recipientNotificationId(id, member), userId: member, groupKey, createdAt: '' })),
        now,
        CANCEL,
      );
      if (members.length < TOPIC_CANCEL_PAGE) break;
      after = members.at(-1)!;
    }
    return this.runTopic('end', record, now);
  }

  private async runTopic(step: 'stop' | 'end', record: StoredRecord, now: number): Promise<CancelOutcome & { cursor: string }> {
    const call = new ScriptCall(
      CANCEL_TOPIC_LAYOUT,
      { events: this.store.eventLog.key },
      {
        step,
        now,
        pendingStatuses: PENDING_STATUSES.join(','),
        canceledStatus: 'canceled' satisfies NotificationStatus,
        eventsMaxLen: this.store.eventLog.maxLen,
      },
    );
    const { id } = record.notification;
    call.item(
      { parent: this.keys.record(id), recipients: this.keys.recipientsOf(id), fanOuts: this.keys.groupFanOuts(record.notification.groupKey ?? '') },
      { id, createdAt: String(record.createdAt), token: newTokens(1)[0]!, firstStatus: firstStatusOf(record.notification) },
    );
    const [[result, status, cursor]] = (await scripts(this.redis).heraldCancelTopic(call.keys.length, ...call.keys, ...call.args)) as [
      [number, string, string],
    ];
    return { ...outcome(result, status), cursor };
  }

  /**
   * Ends `delivered`, by the inbox, the notifications of `userId` whose escalation waits on the
   * inbox items just read (`ids`, the notifications' ids); answers how many it ended. Each one's
   * groupKey is read first (its group index and digest window are left as on any end).
   */
  async endOnRead(userId: string, ids: readonly string[], now: number = Date.now()): Promise<number> {
    if (ids.length === 0) return 0;
    const notifications = await this.store.notifications(ids);
    // Only the user's own notifications: an item's id is its notification's id, in its recipient's inbox.
    const targets = notifications.flatMap((n) => (n && n.to === userId ? [{ id: n.id, userId, groupKey: n.groupKey, createdAt: '' }] : []));
    if (targets.length === 0) return 0;
    const outcomes = await this.run(targets, now, READ);
    return outcomes.filter((outcome) => outcome.kind === 'canceled').length;
  }

  private async run(targets: readonly CancelTarget[], now: number, ending: Ending): Promise<CancelOutcome[]> {
    const call = new ScriptCall(
      CANCEL_LAYOUT,
      {
        statsMinute: this.keys.statsBucket('m', minuteIndex(now)),
        statsHour: this.keys.statsBucket('h', hourIndex(now)),
        statsTotals: this.keys.statsTotals(),
        events: this.store.eventLog.key,
      },
      {
        now,
        minuteTtl: MINUTE_BUCKET_TTL_SECONDS,
        hourTtl: HOUR_BUCKET_TTL_SECONDS,
        canceledField: field.ended(ending.status),
        canceledStatus: ending.status,
        recordTtl: this.options.statusRetentionSeconds,
        pendingStatuses: ending.from.join(','),
        channel: ending.channel,
        eventsMaxLen: this.store.eventLog.maxLen,
      },
    );
    const tokens = newTokens(targets.length);
    for (const [i, { id, userId, groupKey, createdAt }] of targets.entries()) {
      // A digest window belongs to the same recipient and groupKey as the group.
      const grouped = userId !== undefined && groupKey !== undefined;
      call.item(
        {
          record: this.keys.record(id),
          attempts: this.keys.attempts(id),
          pushed: this.keys.pushAccepted(id),
          group: grouped ? this.keys.group(userId, groupKey) : this.none,
          digestWindow: grouped ? this.keys.digestWindow(userId, groupKey) : this.none,
          digestMembers: grouped ? this.keys.digestMembers(userId, groupKey) : this.none,
        },
        { id, createdAt, token: tokens[i]!, to: userId ?? '' },
      );
    }
    const replies = await scripts(this.redis).heraldCancel(call.keys.length, ...call.keys, ...call.args);
    return replies.map(([result, status]) => outcome(result, status));
  }
}

/** A cancel script's {result, status} for one notification (the scripts' headers say what each means). */
function outcome(result: number, status: string): CancelOutcome {
  if (result === 1) return { kind: 'canceled' };
  if (result === 0) return { kind: 'ended', status: status as NotificationStatus };
  return result === -1 ? { kind: 'missing' } : { kind: 'replaced' };
}

function notFound(id: string): HeraldError {
  return new HeraldError('HERALD_ERR_NOT_FOUND', `No notification with id ${JSON.stringify(id)}`);
}

/** 409 with the notification's current status in `details`, so a caller sees how it ended. */
function alreadyFinished(id: string, status: NotificationStatus): HeraldError {
  return new HeraldError('HERALD_ERR_ALREADY_FINISHED', `Notification ${JSON.stringify(id)} has already ended: ${status}`, [
    { field: 'status', message: status },
  ]);
}
