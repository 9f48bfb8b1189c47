/**
 * Redis key layout. Every key starts with the configured prefix; ids are URI-encoded so that a
 * user id such as `x:wp` can never collide with another key's suffix. With a hash-tag prefix such
 * as `{herald}` every key lands in one Redis Cluster slot, which the multi-key scripts require.
 */
import type { ChannelName } from '../types.js';

export type StatsResolution = 'm' | 'h';

/**
 * The suffixes of the keys derived from another key: a record's attempts list and push-accepted
 * set, a recipient's subscriptions and presence keys. The load and transition scripts derive these
 * keys from the record's and the recipient's (the Lua loader defines them there as SUFFIX), so a
 * batch passes two keys per notification instead of six or seven; a derived key shares the hash
 * tag of the key it comes from, if any.
 */
export const KEY_SUFFIX = {
  attempts: ':attempts',
  pushed: ':pushed',
  subscriptions: ':webpush',
  presence: ':online',
  presenceDevices: ':presence',
  presenceContexts: ':presence:context',
} as const;

export class Keys {
  constructor(readonly prefix: string) {}

  /** Hash: the status record of one notification. */
  record(id: string): string {
    return `${this.prefix}:n:${encodeURIComponent(id)}`;
  }

  /** List: the attempts of one notification, as JSON strings, oldest first. */
  attempts(id: string): string {
    return `${this.record(id)}${KEY_SUFFIX.attempts}`;
  }

  /** Set: Web Push subscription ids that already accepted this notification. */
  pushAccepted(id: string): string {
    return `${this.record(id)}${KEY_SUFFIX.pushed}`;
  }

  /**
   * Sorted set: a topic notification's recipients, the topic's members at acceptance less the
   * excluded (the snapshot the fan-out pages through). Every score is 0, so it pages by name.
   */
  recipientsOf(id: string): string {
    return `${this.record(id)}:recipients`;
  }

  /** Sorted set: a topic's members (user ids), every score 0, so it pages by name. */
  topicMembers(topic: string): string {
    return `${this.prefix}:topic:${encodeURIComponent(topic)}:members`;
  }

  /** Hash: a recipient's addresses and preferred channels. */
  recipient(userId: string): string {
    return `${this.prefix}:r:${encodeURIComponent(userId)}`;
  }

  /** Hash: subscription id → stored subscription JSON. */
  subscriptions(userId: string): string {
    return `${this.recipient(userId)}${KEY_SUFFIX.subscriptions}`;
  }

  /**
   * String with a TTL: present while the user is online on some device. It expires with the
   * longest-lived device (value `devices`); a presence written by a release without devices holds
   * `1` and counts as the device `default` (see lua/includes/presence.lua).
   */
  presence(userId: string): string {
    return `${this.recipient(userId)}${KEY_SUFFIX.presence}`;
  }

  /**
   * Sorted set: the pending notifications of one recipient with one groupKey, scored by their
   * expiresAt (ms); entries leave when their notification ends, and the key expires with its newest.
   */
  group(userId: string, groupKey: string): string {
    return `${this.recipient(userId)}:group:${encodeURIComponent(groupKey)}`;
  }

  /**
   * String: when (ms) the user's notifications with `groupKey` were last canceled by group, kept
   * only while a topic notification with that groupKey accepted before then may still be fanning
   * out (groupFanOuts): the fan-out writes such a recipient's notification already canceled.
   */
  groupCanceled(userId: string, groupKey: string): string {
    return `${this.group(userId, groupKey)}:canceled`;
  }

  /**
   * Sorted set: the topic notifications with `groupKey` whose fan-out has not finished, scored by
   * their expiresAt (ms); one leaves at its last page, and those past their expiry on every add.
   */
  groupFanOuts(groupKey: string): string {
    return `${this.prefix}:group-fan-outs:${encodeURIComponent(groupKey)}`;
  }

  /** Sorted set: the user's devices, each scored by when its presence ends (ms, Redis's clock). */
  presenceDevices(userId: string): string {
    return `${this.recipient(userId)}${KEY_SUFFIX.presenceDevices}`;
  }

  /** Hash: device → the context of its latest presence (devices that gave none are absent). */
  presenceContexts(userId: string): string {
    return `${this.recipient(userId)}${KEY_SUFFIX.presenceContexts}`;
  }

  /**
   * Hash: the open digest window of one recipient and groupKey: `holder` (the id that opened it),
   * `expiresAt` (the holder's, ms; the key expires then) and `latest` (the newest merged
   * notification's JSON). Deleted when the holder's delivery closes the window.
   */
  digestWindow(userId: string, groupKey: string): string {
    return `${this.recipient(userId)}:digest:${encodeURIComponent(groupKey)}`;
  }

  /** List: the ids merged into the open digest window, oldest first; same lifetime as the window. */
  digestMembers(userId: string, groupKey: string): string {
    return `${this.digestWindow(userId, groupKey)}:ids`;
  }

  /** Hash: a recipient's inbox items, id (the notification's id) → InboxItem JSON without its read mark. */
  inboxItems(userId: string): string {
    return `${this.recipient(userId)}:inbox`;
  }

  /** Sorted set: the ids of a recipient's inbox items, scored by when they were stored (ms). */
  inboxOrder(userId: string): string {
    return `${this.inboxItems(userId)}:order`;
  }

  /** Sorted set: the ids of a recipient's unread inbox items, scored like inboxOrder. */
  inboxUnread(userId: string): string {
    return `${this.inboxItems(userId)}:unread`;
  }

  /** Hash: id → when the user read that inbox item (ms). */
  inboxReads(userId: string): string {
    return `${this.inboxItems(userId)}:read`;
  }

  /** Pub/sub channel (not a key): a recipient's new inbox items and read marks, for the live stream. */
  inboxChannel(userId: string): string {
    return `${this.inboxItems(userId)}:events`;
  }

  /** String with a TTL: the user id an inbox token reaches, under the token's SHA-256 digest. */
  inboxToken(digest: string): string {
    return `${this.prefix}:inbox-token:${digest}`;
  }

  /** Sorted set: dead-lettered notification ids scored by failure time. */
  deadLetters(): string {
    return `${this.prefix}:dead-letters`;
  }

  /**
   * Stream: the event log, one entry per change of a notification (store/events.ts), capped at
   * about HERALD_EVENTS_RETENTION entries.
   */
  events(): string {
    return `${this.prefix}:events`;
  }

  /** Hash: counters and latency histograms for one time bucket. */
  statsBucket(resolution: StatsResolution, index: number): string {
    return `${this.prefix}:stats:${resolution}:${index}`;
  }

  /** Hash: running totals of the same counters since the deployment began (no expiry). */
  statsTotals(): string {
    return `${this.prefix}:stats:total`;
  }

  /** Sorted set: worker ids scored by last heartbeat. */
  workers(): string {
    return `${this.prefix}:workers`;
  }

  /** Hash: one worker's description. */
  worker(workerId: string): string {
    return `${this.prefix}:worker:${encodeURIComponent(workerId)}`;
  }

  /** Hash: event webhook endpoint id → its JSON (url, events filter, secret, createdAt). */
  webhooks(): string {
    return `${this.prefix}:webhooks`;
  }

  /** Hash: event webhook endpoint id → JSON of its latest delivery outcome (webhooks.ts, EndpointHealth). */
  webhookHealth(): string {
    return `${this.prefix}:webhooks:health`;
  }

  /** BullMQ queue of event webhook deliveries, one job per event and endpoint; BullMQ adds the prefix itself. */
  static readonly webhookQueueName = 'webhook-events';

  /** BullMQ queue of the fan-out pages of topic notifications; BullMQ adds the prefix itself. */
  static readonly fanOutQueueName = 'fan-out';

  /** BullMQ queue name of a channel; BullMQ adds the prefix itself. */
  static queueName(channel: ChannelName): string {
    return `deliver-${channel}`;
  }
}
