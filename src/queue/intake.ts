/**
 * Enqueueing: one MULTI per batch that claims every notification's id (status record) and adds
 * their first delivery jobs (several deliveries per job, see queues.ts). MULTI makes the pair
 * atomic: a notification is either accepted with its job or not at all. A duplicate id's delivery
 * is still queued (a MULTI cannot branch), but it carries a token the record does not hold, so the
 * worker drops it without sending.
 */
import type { ChannelName, EnqueueResult, Notification, NotificationStatus } from '../types.js';
import { execResult } from '../redis/failures.js';
import type { Claim, NotificationStore } from '../store/notifications.js';
import { newTokens } from '../store/tokens.js';
import { deliveryItem, type ChannelQueues } from './queues.js';
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
      status: notification.sendAt ? 'scheduled' : 'queued',
      token: tokens[index]!,
      // The record outlives the notification's own lifetime by the retention period.
      recordTtlSeconds: notification.ttlSeconds + this.options.statusRetentionSeconds,
    }));
    this.store.queueClaims(tx, claims, now);
    this.queues.queueDeliveries(
      tx,
      claims.map(({ notification, token }) => ({
        channel: this.firstChannel(notification),
        item: deliveryItem(notification.id, token, notification.to),
        delayMs: notification.sendAt ? Date.parse(notification.sendAt) - now : 0,
      })),
    );
    const claimed = execResult<[number, string][]>(await tx.exec(), 0, 'The enqueue transaction');
    return notifications.map((notification, index) => {
      const { place, repeated } = places[index]!;
      const [isNew, status] = claimed[place]!;
      return { id: notification.id, status: status as NotificationStatus, duplicate: repeated || isNew !== 1 };
    });
  }
}
