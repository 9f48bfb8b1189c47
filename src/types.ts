/**
 * Herald's domain types.
 *
 * Glossary
 * - notification: one message for one recipient, identified by `id` (the idempotency key).
 * - recipient: a user id with the addresses Herald may use for it (email, Gotify token, Web Push
 *   subscriptions) and an optional preferred channel order.
 * - channel: a delivery route (`gotify`, `webpush`, `email`); each has its own BullMQ queue.
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
 */

export const CHANNEL_NAMES = ['gotify', 'webpush', 'email'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

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
  /** Groups notifications of one recipient, for `cancelGroup` (string 1–128, e.g. `room:42`). */
  groupKey?: string;
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
  groupKey?: string;
}

/** A notification belongs to a group when it has both a recipient and a groupKey (cancelGroup names both). */
export function isGrouped<N extends Pick<Notification, 'to' | 'groupKey'>>(notification: N): notification is N & { to: string; groupKey: string } {
  return notification.to !== undefined && notification.groupKey !== undefined;
}

export const NOTIFICATION_STATUSES = ['queued', 'scheduled', 'delivering', 'delivered', 'failed', 'expired', 'skipped', 'canceled'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** Statuses a notification never leaves (but for a dead-letter replay of `failed`). */
export const TERMINAL_STATUSES = ['delivered', 'failed', 'expired', 'skipped', 'canceled'] as const satisfies readonly NotificationStatus[];
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
}

export interface EnqueueResult {
  id: string;
  status: NotificationStatus;
  duplicate: boolean;
}

export interface WebPushSubscriptionInfo {
  id: string;
  endpoint: string;
  createdAt: string;
}

export interface Recipient {
  userId: string;
  email?: string;
  gotify?: { token: string };
  channels?: ChannelName[];
  webpush?: WebPushSubscriptionInfo[];
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
