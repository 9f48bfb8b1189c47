/**
 * Enqueueing: one MULTI per batch that claims every notification's id (status record) and adds
 * their first delivery jobs (several deliveries per job, see queues.ts). MULTI makes the pair
 * atomic: a notification is either accepted with its job or not at all. A duplicate id's delivery
 * is still queued (a MULTI cannot branch), but it carries a token the record does not hold, so the
 * worker drops it without sending.
 */
import { digestGroupOf, type ChannelName, type EnqueueResult, type Notification, type NotificationStatus } from '../types.js';
import { execResult } from '../redis/failures.js';
import type { Claim, NotificationStore } from '../store/notifications.js';
import { newTokens } from '../store/tokens.js';
import { deliveryItem, type ChannelQueues, type QueuedDelivery } from './queues.js';
import { TurnBatcher } from '../turn-batcher.js';

export interface IntakeOptions {
  defaultChannels: readonly ChannelName[];
  statusRetentionSeconds: number;
  /** How long coalesced notify calls may wait for company under concurrent traffic (TurnBatcher). */
  lingerMs: number;
}

/** Notifications one enqueue transaction takes at most: a notifyMany batch, or coalesced notify calls. */
export const MAX_BATCH = 1000;

export class Intake {
  private readonly coalesced: TurnBatcher<Notification, EnqueueResult>;

  constructor(
    private readonly store: NotificationStore,
    private readonly queues: ChannelQueues,
    private readonly options: IntakeOptions,
  ) {
    this.coalesced = new TurnBatcher((notifications) => this.enqueue(notifications), MAX_BATCH, options.lingerMs);
  }

  /**
   * The queue a notification starts in. The worker resolves the real chain (the recipient's
   * preferences, missing addresses) and hands the job on when it differs.
   */
  private firstChannel(notification: Notification): ChannelName {
    return notification.channels?.[0] ?? this.options.defaultChannels[0] ?? 'gotify';
  }

  /**
   * Enqueues one notification together with the others submitted in the same turn of the event
   * loop: concurrent producers (HTTP requests, a loop of `notify` calls) share one transaction and
   * their deliveries share jobs, instead of one of each per notification (see TurnBatcher). Under
   * sustained concurrent traffic, calls also wait up to `lingerMs` after the previous shared
   * transaction for more company. If the transaction fails, every notification in it fails with
   * it; none is half-accepted.
   */
  enqueueOne(notification: Notification): Promise<EnqueueResult> {
    return this.coalesced.submit(notification);
  }

  async enqueue(notifications: Notification[], now: number = Date.now()): Promise<EnqueueResult[]> {
    if (notifications.length === 0) return [];
    // An id repeated within the batch is claimed and queued once, at its first place; the later
    // copies are duplicates of it, as they would be in a later batch.
    const placeById = new Map<string, number>();
    const unique: Notification[] = [];
    const places = notifications.map((notification) => {
      const known = placeById.get(notification.id);
      if (known !== undefined) return { place: known, repeated: true };
      const place = unique.push(notification) - 1;
      placeById.set(notification.id, place);
      return { place, repeated: false };
    });

    const tx = await this.queues.multi();
    const tokens = newTokens(unique.length);
    const claims: Claim[] = unique.map((notification, index) => ({
      notification,
      status: notification.sendAt || digestGroupOf(notification) !== undefined ? 'scheduled' : 'queued',
      token: tokens[index]!,
      // The record outlives the notification's own lifetime by the retention period.
      recordTtlSeconds: notification.ttlSeconds + this.options.statusRetentionSeconds,
    }));
    this.store.queueClaims(tx, claims, now);
    this.queues.queueDeliveries(
      tx,
      claims.map(({ notification, token }) => firstDelivery(notification, token, this.firstChannel(notification), now)),
    );
    const claimed = execResult<[number, string][]>(await tx.exec(), 0, 'The enqueue transaction');
    return notifications.map((notification, index) => {
      const { place, repeated } = places[index]!;
      const [isNew, status] = claimed[place]!;
      return { id: notification.id, status: answeredStatus(isNew === 1, status as NotificationStatus), duplicate: repeated || isNew !== 1 };
    });
  }
}

/**
 * A notification's first delivery job. With a digest it comes due at the window's end, when it
 * closes the window if it holds it; whether it does is decided in the claim script, inside this
 * same MULTI, so every digest notification gets one: a merged one's finds its record ended and
 * sends nothing.
 */
function firstDelivery(notification: Notification, token: string, channel: ChannelName, now: number): QueuedDelivery {
  const { id, to, sendAt, digest } = notification;
  const item = deliveryItem(id, token, to);
  const digestGroup = digestGroupOf(notification);
  if (digest === undefined || digestGroup === undefined) return { channel, item, delayMs: sendAt ? Date.parse(sendAt) - now : 0 };
  item.digestGroup = digestGroup;
  return { channel, item, delayMs: digest.windowSeconds * 1000 };
}

/**
 * The status a new notification is answered with. One merged into a digest window is recorded
 * `merged` at once, but answered `scheduled`, as the acceptance answer's statuses go: it will be
 * sent at the window's end, inside the digest. A duplicate is answered its record's status.
 */
function answeredStatus(isNew: boolean, status: NotificationStatus): NotificationStatus {
  return isNew && status === 'merged' ? 'scheduled' : status;
}
