/**
 * Topics and topic notifications in Redis.
 *
 * A topic's members are a sorted set whose scores are all 0, so it is ordered by name and pages by
 * name: a page starts after the last name of the previous one. That neither skips nor repeats a
 * member that stays in the set while it is being listed, whatever joins or leaves meanwhile (an
 * offset would shift under both). A topic is nothing but its members: the last one leaving removes
 * it, and it needs no other key.
 *
 * A topic notification (the parent) is accepted with a copy of the members at that instant, less
 * the excluded (its recipient list, accept-topic.lua); the workers then write each recipient's own
 * notification (a child), a page of that list at a time (fan-out-page.lua). A child's id comes from
 * the parent's id and the member alone, so the same member of the same parent always has the same
 * child, and the recipient list can be read back with each child's status.
 */
import { createHash } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import { HeraldError } from '../errors.js';
import type { Notification, NotificationStatus, TopicRecipient } from '../types.js';
import type { Keys } from './keys.js';
import { parseRecord, type RecordField, type StoredRecord } from './record.js';
import { ACCEPT_TOPIC_LAYOUT, FAN_OUT_PAGE_LAYOUT, defineScripts, scripts } from './scripts.js';
import { ScriptCall } from './script-layout.js';
import type { EventLog } from './events.js';
import { EVENTS_RETENTION } from '../defaults.js';
import { field, HOUR_BUCKET_TTL_SECONDS, hourIndex, MINUTE_BUCKET_TTL_SECONDS, minuteIndex } from './stats-counters.js';

/** A page of a listing; `next` is the cursor of the following page, null after the last. */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** Hex digits of the digest in a child's id: 128 bits, so two members of one parent never share one. */
const CHILD_DIGEST_HEX = 32;
const STATUS_FIELD: RecordField = 'status';
const MAX_ID_LENGTH = 128;

/**
 * The id of `member`'s own notification of the topic notification `parentId`: the parent's id
 * (shortened to fit) and a digest of both, so it is a valid notification id of at most 128
 * characters, readable as the parent's, and the same every time it is derived.
 */
export function recipientNotificationId(parentId: string, member: string): string {
  // A NUL byte cannot occur in a notification id, so no other (parent, member) pair hashes the same text.
  const digest = createHash('sha256').update(parentId).update('\0').update(member).digest('hex').slice(0, CHILD_DIGEST_HEX);
  return `${parentId.slice(0, MAX_ID_LENGTH - 1 - CHILD_DIGEST_HEX)}:${digest}`;
}

/**
 * `member`'s own notification of the topic notification `parent`: the same message, options and
 * lifetime, for that one user, under its derived id.
 */
export function recipientNotification(parent: Notification, member: string): Notification {
  const child: Notification = { ...parent, id: recipientNotificationId(parent.id, member), to: member };
  delete child.topic;
  delete child.exclude;
  return child;
}

/** The status a topic notification and its recipients' notifications start in. */
export function firstStatusOf(notification: Notification): NotificationStatus {
  return notification.sendAt ? 'scheduled' : 'queued';
}

/** A listing cursor: the last name of the page, opaque to callers. */
function encodeCursor(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const name = Buffer.from(cursor, 'base64url').toString('utf8');
  if (name.length === 0 || encodeCursor(name) !== cursor) {
    throw new HeraldError('HERALD_ERR_VALIDATION', 'Invalid cursor', [{ field: 'cursor', message: 'Use the `next` value of the previous page' }]);
  }
  return name;
}

/** The lexicographic lower bound of a page: after `cursor`'s name, or from the start. */
function after(name: string | undefined): string {
  return name === undefined ? '-' : `(${name}`;
}

/** Redis orders names by their bytes; JavaScript compares UTF-16 units, which differs past U+FFFF. */
function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A topic notification to accept: its record is written with this status and the token of its first fan-out page job. */
export interface TopicAcceptance {
  notification: Notification;
  status: NotificationStatus;
  token: string;
  recordTtlSeconds: number;
}

/** One page of a fan-out, computed by the worker and applied by fan-out-page.lua. */
export interface FanOutPage {
  parentId: string;
  /** The topic notification's own notification (its groupKey names the fan-outs of its group). */
  notification: Notification;
  /** The token of the page's job (the parent record's, or the page is stale). */
  token: string;
  /** The token of the next page's job. */
  nextToken: string;
  /** The page's last member: where the next page starts. */
  nextCursor: string;
  lastPage: boolean;
  /** The children's first status (the parent's first status: queued or scheduled). */
  status: NotificationStatus;
  /** The parent's: a recipient's notification expires when the topic notification does. */
  expiresAt: number;
  recordTtlSeconds: number;
  children: { notification: Notification; token: string }[];
}

export class TopicStore {
  private readonly eventLog: EventLog;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    eventsRetention: number = EVENTS_RETENTION.default,
  ) {
    defineScripts(redis);
    this.eventLog = { key: keys.events(), maxLen: eventsRetention };
  }

  async addMember(topic: string, userId: string): Promise<void> {
    await this.redis.zadd(this.keys.topicMembers(topic), 0, userId);
  }

  /** Whether `userId` was a member. */
  async removeMember(topic: string, userId: string): Promise<boolean> {
    return (await this.redis.zrem(this.keys.topicMembers(topic), userId)) > 0;
  }

  /** A page of a topic's members, by name. */
  async members(topic: string, limit: number, cursor?: string): Promise<Page<string>> {
    return this.page(this.keys.topicMembers(topic), limit, cursor);
  }

  /** Up to `count` names of a sorted set of 0 scores, after `cursor` (the previous page's last), plus whether more follow. */
  private async page(key: string, limit: number, cursor?: string): Promise<Page<string>> {
    const names = await this.redis.zrange(key, after(cursor === undefined ? undefined : decodeCursor(cursor)), '+', 'BYLEX', 'LIMIT', 0, limit + 1);
    const items = names.slice(0, limit);
    return { items, next: names.length > limit ? encodeCursor(items.at(-1)!) : null };
  }

  /**
   * Queues the acceptance of a batch of topic notifications on `tx`; its reply holds one
   * `[isNew (1|0), status, recipients]` per notification, in order.
   */
  queueAcceptances(tx: ChainableCommander, acceptances: readonly TopicAcceptance[], now: number): void {
    const call = new ScriptCall(
      ACCEPT_TOPIC_LAYOUT,
      {
        statsMinute: this.keys.statsBucket('m', minuteIndex(now)),
        statsHour: this.keys.statsBucket('h', hourIndex(now)),
        statsTotals: this.keys.statsTotals(),
        events: this.eventLog.key,
      },
      {
        now,
        topicAcceptedField: field.topicAccepted,
        minuteTtl: MINUTE_BUCKET_TTL_SECONDS,
        hourTtl: HOUR_BUCKET_TTL_SECONDS,
        eventsMaxLen: this.eventLog.maxLen,
      },
    );
    for (const { notification, status, token, recordTtlSeconds } of acceptances) {
      call.item(
        {
          record: this.keys.record(notification.id),
          members: this.keys.topicMembers(notification.topic!),
          recipients: this.keys.recipientsOf(notification.id),
          fanOuts: this.fanOutsOf(notification),
        },
        {
          notification: JSON.stringify(notification),
          status,
          expiresAt: now + notification.ttlSeconds * 1000,
          token,
          recordTtl: recordTtlSeconds,
          exclude: JSON.stringify(notification.exclude ?? []),
          id: notification.id,
          fanOutMember: notification.groupKey === undefined ? '' : notification.id,
        },
      );
    }
    scripts(tx).heraldAcceptTopic(call.keys.length, ...call.keys, ...call.args);
  }

  /**
   * The unfinished fan-outs of the topic notification's groupKey (see cancelGroup), or a key no
   * script writes when it has none.
   */
  private fanOutsOf(notification: Notification): string {
    return this.keys.groupFanOuts(notification.groupKey ?? '');
  }

  /** A topic notification's record, or null when `id` is unknown or not a topic notification. */
  async topicRecord(id: string): Promise<StoredRecord | null> {
    const record = parseRecord(await this.redis.hgetall(this.keys.record(id)));
    return record?.recipients ? record : null;
  }

  /**
   * Up to `count` recipients of a topic notification after the member `cursor` ('' for the first),
   * up to and including the member `through` when given.
   */
  async recipientsAfter(id: string, cursor: string, count: number, through?: string): Promise<string[]> {
    const upTo = through === undefined ? '+' : `[${through}`;
    return this.redis.zrange(this.keys.recipientsOf(id), after(cursor === '' ? undefined : cursor), upTo, 'BYLEX', 'LIMIT', 0, count);
  }

  /**
   * Queues one fan-out page on `tx`; its reply is `[1, children written]` when applied, `[0, 0]`
   * when the page's token is no longer the record's.
   */
  queueFanOutPage(tx: ChainableCommander, page: FanOutPage, now: number): void {
    const call = new ScriptCall(
      FAN_OUT_PAGE_LAYOUT,
      {
        parent: this.keys.record(page.parentId),
        fanOuts: this.fanOutsOf(page.notification),
        statsMinute: this.keys.statsBucket('m', minuteIndex(now)),
        statsHour: this.keys.statsBucket('h', hourIndex(now)),
        statsTotals: this.keys.statsTotals(),
        events: this.eventLog.key,
      },
      {
        id: page.parentId,
        token: page.token,
        nextToken: page.nextToken,
        nextCursor: page.nextCursor,
        lastPage: page.lastPage ? 1 : 0,
        now,
        status: page.status,
        expiresAt: page.expiresAt,
        recordTtl: page.recordTtlSeconds,
        acceptedField: field.accepted,
        fannedOutField: field.topicRecipients,
        canceledField: field.ended('canceled'),
        canceledStatus: 'canceled' satisfies NotificationStatus,
        minuteTtl: MINUTE_BUCKET_TTL_SECONDS,
        hourTtl: HOUR_BUCKET_TTL_SECONDS,
        eventsMaxLen: this.eventLog.maxLen,
      },
    );
    for (const { notification, token } of page.children) {
      const member = notification.to!;
      // A child with the topic notification's groupKey joins its member's group, for cancelGroup.
      const group = notification.groupKey;
      call.item(
        {
          record: this.keys.record(notification.id),
          recipient: this.keys.recipient(member),
          subscriptions: this.keys.subscriptions(member),
          group: this.keys.group(group === undefined ? '' : member, group ?? ''),
          groupCanceled: this.keys.groupCanceled(group === undefined ? '' : member, group ?? ''),
        },
        { notification: JSON.stringify(notification), token, groupMember: group === undefined ? '' : notification.id, id: notification.id, to: member },
      );
    }
    scripts(tx).heraldFanOutPage(call.keys.length, ...call.keys, ...call.args);
  }

  /**
   * A page of a topic notification's recipients with their own notifications' ids and statuses,
   * or null when `id` is unknown or not a topic notification. A recipient the fan-out has not
   * reached yet is in the topic notification's first status (queued or scheduled), or `canceled`
   * once a cancel has stopped the fan-out; one whose record is gone (expired with its dead letter)
   * is left out.
   */
  async recipients(id: string, limit: number, cursor?: string): Promise<Page<TopicRecipient> | null> {
    const parent = await this.topicRecord(id);
    if (!parent) return null;
    const { items: members, next } = await this.page(this.keys.recipientsOf(id), limit, cursor);
    const ids = members.map((member) => recipientNotificationId(id, member));
    const pipeline = this.redis.pipeline();
    for (const child of ids) pipeline.hget(this.keys.record(child), STATUS_FIELD);
    const replies = members.length > 0 ? ((await pipeline.exec()) ?? []) : [];
    const unreachedStatus: NotificationStatus = parent.canceledAt !== undefined ? 'canceled' : firstStatusOf(parent.notification);
    const reached = parent.fanOutCursor ?? '';
    const items: TopicRecipient[] = [];
    members.forEach((member, i) => {
      const [err, status] = replies[i] ?? [null, null];
      if (err) throw err;
      if (typeof status === 'string') items.push({ to: member, id: ids[i]!, status: status as NotificationStatus });
      else if (reached === '' || byteCompare(member, reached) > 0) items.push({ to: member, id: ids[i]!, status: unreachedStatus });
    });
    return { items, next };
  }
}
