/**
 * Herald's domain types.
 *
 * Glossary
 * - notification: one message for one recipient, identified by `id` (the idempotency key).
 * - recipient: a user id with the addresses Herald may use for it (email, Gotify token, ntfy topic,
 *   webhook URL, Web Push subscriptions) and an optional preferred channel order.
 * - channel: a delivery route (`gotify`, `webpush`, `email`, `ntfy`, `webhook`, `inbox`); each has
 *   its own BullMQ queue.
 * - inbox: a recipient's in-app list of InboxItems, kept in Redis by the `inbox` channel; the user's
 *   browser reads it and marks items read with a short-lived inbox token.
 * - escalation: with `inbox` first in the chain and `escalateAfterSeconds`, the next channels run
 *   only if the inbox item is still unread after that long; reading it ends the notification.
 * - chain: the ordered channels a notification falls back through.
 * - round: after the first pass down the chain, one more try of each channel that failed only
 *   transiently (an outage), after a growing backoff; rounds go on until one delivers or the ttl
 *   runs out, so an outage shorter than the ttl costs a delay, not a dead letter.
 * - registered recipient: a user id with a registry record (addresses or Web Push subscriptions);
 *   a notification for any other user id reaches only its explicit `targets`.
 * - attempt: one try on one channel (for Web Push, one try on one browser subscription).
 * - status record: what Herald knows about a notification; kept for the status retention period.
 * - dead letter: a notification no channel could deliver, kept for inspection and replay.
 * - token: identifies the one live queue job of a notification; any other job for the same id is
 *   stale and is dropped without sending (this is what makes enqueue and hand-offs idempotent).
 * - group: the notifications of one recipient (`to`) with one `groupKey` (e.g. `room:42`); a
 *   group's pending notifications can be canceled together.
 * - pending: not ended yet (queued, scheduled or delivering); only a pending notification can be
 *   canceled.
 * - topic: a named set of user ids (its members), such as a chat room. A topic notification (the
 *   parent) gives every member at acceptance, less the excluded, a notification of its own (a
 *   child, with its own id, status and chain); the parent's status counts its children.
 * - fan-out: the worker-side creation of a topic notification's children, a page at a time.
 * - preferences: what a recipient asked of Herald (muted categories and channels, quiet hours);
 *   enforced at delivery time, whatever the notification itself names.
 * - presence: a recipient's devices that said they are online, each until its own expiry and with
 *   its latest context (such as the chat room it shows).
 * - digest window: opened by a notification with `groupKey` and `digest` (its holder) for its
 *   recipient and groupKey; later ones of the same recipient and groupKey are merged into it at
 *   acceptance (status `merged`, `mergedInto` the holder) until the holder's delivery closes it at
 *   the window's end and sends them as one notification (delivery/digest.ts).
 */

export const CHANNEL_NAMES = ['gotify', 'webpush', 'email', 'ntfy', 'webhook', 'inbox'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/**
 * The fallback order when neither the notification nor the recipient names one
 * (HERALD_DEFAULT_CHANNELS, the SDK's `defaultChannels`). The channels added later (ntfy, the
 * webhook channel, the inbox) are left out, so a deployment that turns them on keeps its chain.
 */
export const DEFAULT_CHANNELS: readonly ChannelName[] = ['gotify', 'webpush', 'email'];

export function isChannelName(value: string): value is ChannelName {
  return (CHANNEL_NAMES as readonly string[]).includes(value);
}

/** The browser's `PushSubscription.toJSON()`. */
export interface PushSubscriptionJSON {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

export interface Targets {
  gotify?: { token: string };
  email?: string;
  webpush?: PushSubscriptionJSON[];
}

/** What a producer hands to `notify()` or POSTs; validated by `validateNotification`. */
export interface NotificationInput {
  id?: string;
  to?: string;
  targets?: Targets;
  title?: string;
  message: string;
  priority?: number;
  url?: string;
  category?: string;
  data?: Record<string, unknown>;
  channels?: ChannelName[];
  ttlSeconds?: number;
  delayMs?: number;
  sendAt?: string;
  collapseKey?: string;
  skipIfOnline?: boolean;
  /** Instead of `to`/`targets`: one notification for every member of this topic. */
  topic?: string;
  /** With `topic`: members not to notify (the sender). */
  exclude?: string[];
  skipIfPresentIn?: string;
  /** Groups notifications of one recipient, for cancel and digest (string 1–128, e.g. `room:42`). */
  groupKey?: string;
  /** With `groupKey`: merge this recipient's notifications of the group into one delivery per window. */
  digest?: DigestOptions;
  /** With `inbox` first in the chain: the next channels run only if the inbox item is still unread after this long (1–86400). */
  escalateAfterSeconds?: number;
}

/** `digest`: how long a window stays open after the notification that opens it. */
export interface DigestOptions {
  /** 1–86400; less than the notification's ttlSeconds. */
  windowSeconds: number;
}

/** A validated notification with its defaults applied; this is what is stored and replayed. */
export interface Notification {
  id: string;
  to?: string;
  targets?: Targets;
  title?: string;
  message: string;
  priority: number;
  url?: string;
  category?: string;
  data?: Record<string, unknown>;
  channels?: ChannelName[];
  ttlSeconds: number;
  /** ISO 8601; set when the notification was scheduled (`delayMs` is turned into `sendAt`). */
  sendAt?: string;
  collapseKey?: string;
  skipIfOnline?: boolean;
  topic?: string;
  exclude?: string[];
  /** Skip when the recipient has a live presence with this context (e.g. `room:42`). */
  skipIfPresentIn?: string;
  groupKey?: string;
  digest?: DigestOptions;
  escalateAfterSeconds?: number;
}

/**
 * The groupKey of the digest window a notification opens or joins at acceptance, or undefined
 * when it has none (a digest needs a recipient and a groupKey; validation refuses one without).
 */
export function digestGroupOf(notification: Pick<Notification, 'to' | 'groupKey' | 'digest'>): string | undefined {
  return notification.digest !== undefined && notification.to !== undefined ? notification.groupKey : undefined;
}

/** A notification belongs to a group when it has both a recipient and a groupKey (cancelGroup names both). */
export function isGrouped<N extends Pick<Notification, 'to' | 'groupKey'>>(notification: N): notification is N & { to: string; groupKey: string } {
  return notification.to !== undefined && notification.groupKey !== undefined;
}

export const NOTIFICATION_STATUSES = ['queued', 'scheduled', 'delivering', 'delivered', 'failed', 'expired', 'skipped', 'merged', 'canceled'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** Statuses a notification never leaves (but for a dead-letter replay of `failed`). */
export const TERMINAL_STATUSES = ['delivered', 'failed', 'expired', 'skipped', 'merged', 'canceled'] as const satisfies readonly NotificationStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminal(status: NotificationStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** The statuses a notification can still be canceled in: every status but the terminal ones. */
export const PENDING_STATUSES: readonly NotificationStatus[] = NOTIFICATION_STATUSES.filter((status) => !isTerminal(status));

export type AttemptOutcome = 'delivered' | 'transient' | 'permanent' | 'gone' | 'skipped';

/**
 * Which Gotify token an attempt used: the notification's own `targets.gotify.token` (`explicit`),
 * the registered recipient's (`recipient`), or the deployment's GOTIFY_TOKEN (`shared`, only with
 * HERALD_GOTIFY_SHARED=1).
 */
export type GotifyTokenKind = 'explicit' | 'recipient' | 'shared';

export interface Attempt {
  channel: ChannelName;
  /** ISO 8601 time the attempt ended. */
  at: string;
  outcome: AttemptOutcome;
  statusCode?: number;
  /** Stable error code (`HERALD_…`), present on every outcome but `delivered`. */
  code?: string;
  error?: string;
  durationMs: number;
  /** Web Push only: which browser subscription this attempt was for. */
  subscriptionId?: string;
  /** Gotify only: which token it was sent with. */
  tokenKind?: GotifyTokenKind;
}

/** The kinds of event the event log holds (see docs/api.md#events). */
export const EVENT_TYPES = [
  'notification.accepted',
  'notification.delivered',
  'notification.failed',
  'notification.expired',
  'notification.skipped',
  'notification.canceled',
  'notification.merged',
  'notification.replayed',
  'attempt.failed',
  'inbox.read',
  'subscription.removed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * One change of a notification, as `/v1/events`, webhooks and `herald.events()` deliver it. `id` is
 * its entry id in the event log (a Redis stream id such as `1764511200000-3`), increasing with time.
 */
export interface HeraldEvent {
  id: string;
  type: EventType;
  /** ISO 8601 time of the change. */
  at: string;
  notificationId: string;
  /** The recipient's user id (absent for a topic notification and one sent to explicit targets only). */
  to?: string;
  channel?: ChannelName;
  /** The notification's status after the change. */
  status?: NotificationStatus;
  /** The attempt the change records (attempt.failed, and the one that ended the notification). */
  attempt?: Attempt;
  /**
   * `herald.events()` with several shards only: where the iterator stands in every shard's event
   * log after this event; pass it as `after` to resume there (the `/v1/events` stream's `id:`).
   */
  position?: string;
}

export interface Status {
  id: string;
  status: NotificationStatus;
  to?: string;
  createdAt: string;
  updatedAt: string;
  channel?: ChannelName;
  attempts: Attempt[];
  /**
   * Attempts left out of `attempts` to keep the record bounded (a long outage retried until the
   * ttl): the first ones and the newest are kept, those between are counted here. Absent when none.
   */
  attemptsOmitted?: number;
  /** For status `merged`: the id of the digest it was merged into (the window's first notification). */
  mergedInto?: string;
  /** Topic notifications: the topic. */
  topic?: string;
  /** Topic notifications: how many recipients it has and how many of them are in each status. */
  recipients?: RecipientCounts;
}

/**
 * A topic notification's recipients by status: `total` is the members at acceptance less the
 * excluded; a recipient the fan-out has not reached yet counts in the status the topic
 * notification was accepted with (`queued` or `scheduled`).
 */
export type RecipientCounts = { total: number } & Record<NotificationStatus, number>;

/** One recipient of a topic notification: the member, its own notification's id, and that notification's status. */
export interface TopicRecipient {
  to: string;
  id: string;
  status: NotificationStatus;
}

export interface EnqueueResult {
  id: string;
  status: NotificationStatus;
  duplicate: boolean;
  /** Topic notifications: the members at acceptance less the excluded. */
  recipients?: number;
}

export interface WebPushSubscriptionInfo {
  id: string;
  endpoint: string;
  createdAt: string;
}

/**
 * A daily window, in a time zone, during which only notifications at or above the quiet-hours
 * bypass priority are delivered; the others wait for its end. `start` and `end` are wall-clock
 * times `HH:MM`; an `end` before `start` means the window crosses midnight.
 */
export interface QuietHours {
  /** An IANA time zone, such as `Europe/Paris`. */
  timezone: string;
  start: string;
  end: string;
}

/** What a recipient asked of Herald; a notification's own `channels` cannot override it. */
export interface Preferences {
  /** Notifications of these categories end `skipped` (HERALD_MUTED). */
  muteCategories?: string[];
  /** These channels are left out of every chain for the recipient (HERALD_CHANNEL_MUTED). */
  muteChannels?: ChannelName[];
  quietHours?: QuietHours;
}

export interface Recipient {
  userId: string;
  email?: string;
  gotify?: { token: string };
  /** The ntfy topic the recipient subscribes to. */
  ntfy?: { topic: string };
  /** The recipient's own HTTPS endpoint for the webhook channel; its path is masked in answers. */
  webhook?: { url: string };
  channels?: ChannelName[];
  preferences?: Preferences;
  webpush?: WebPushSubscriptionInfo[];
}

/** One device's live presence, as `herald.presence.devices()` answers it. */
export interface PresenceDevice {
  device: string;
  /** Its latest context, when the last `online` call gave one. */
  context?: string;
  /** ISO 8601: when it ends unless renewed. */
  expiresAt: string;
}

export interface DeadLetter {
  id: string;
  notification: Notification;
  failedAt: string;
  attempts: Attempt[];
  /** As in Status. */
  attemptsOmitted?: number;
  replays: number;
}

/**
 * One entry of a recipient's in-app inbox, stored by the `inbox` channel. Its `id` is the
 * notification's id (one item per notification, so a delivery run again stores nothing new).
 */
export interface InboxItem {
  id: string;
  notificationId: string;
  title?: string;
  message: string;
  url?: string;
  category?: string;
  data?: Record<string, unknown>;
  /** ISO 8601: when the inbox channel stored it. */
  createdAt: string;
  /** ISO 8601 when the user marked it read, else null. */
  readAt: string | null;
}

/** A page of a recipient's inbox, newest first. */
export interface InboxPage {
  items: InboxItem[];
  /** Unread items in the whole inbox (not only this page). */
  unread: number;
  /** Pass as `cursor` for the next page; null on the last. */
  next: string | null;
}
