/**
 * Enqueueing: one MULTI per batch that claims every notification's id (status record) and adds
 * their first delivery jobs (several deliveries per job, see queues.ts). MULTI makes the pair
 * atomic: a notification is either accepted with its job or not at all. A duplicate id's delivery
 * is still queued (a MULTI cannot branch), but it carries a token the record does not hold, so the
 * worker drops it without sending.
 * A topic notification in the batch is accepted in the same MULTI with the job of its first fan-out
 * page instead of a delivery (store/topics.ts): the API copies the topic's members, and the workers
 * write the recipients' notifications.
 */
import { digestGroupOf, type ChannelName, type EnqueueResult, type Notification, type NotificationStatus } from '../types.js';
import { execResult } from '../redis/failures.js';
import type { Claim, NotificationStore } from '../store/notifications.js';
import type { TopicAcceptance, TopicStore } from '../store/topics.js';
import { newTokens } from '../store/tokens.js';
import { deliveryItem, firstChannel, type ChannelQueues, type QueuedDelivery } from './queues.js';
import { TurnBatcher } from '../turn-batcher.js';
import { HeraldError } from '../errors.js';

export interface IntakeOptions {
  defaultChannels: readonly ChannelName[];
  statusRetentionSeconds: number;
  /** How long coalesced notify calls may wait for company under concurrent traffic (TurnBatcher). */
  lingerMs: number;
  /**
   * Replicas that must hold each enqueue transaction before it is acknowledged (Redis WAIT); 0 not
   * to wait. A Redis Cluster replicates asynchronously, and a primary that dies before its replica
   * has an accepted notification takes it with it.
   */
  replicaAcks: number;
}

/** How long an enqueue waits for its replicas before it is answered HERALD_ERR_REDIS_UNAVAILABLE. */
export const REPLICA_ACK_TIMEOUT_MS = 1000;

/** Notifications one enqueue transaction takes at most: a notifyMany batch, or coalesced notify calls. */
export const MAX_BATCH = 1000;

/**
 * Roughly how many bytes one enqueue transaction carries at most. Redis runs a transaction alone: a
 * batch of a thousand of the largest notifications (62 MiB) would stop every worker and API process
 * for half a second and outlast the API's command timeout on a busy machine, so a batch that large
 * is enqueued as several transactions, one after the other. Ordinary batches are one transaction.
 */
export const TRANSACTION_BYTES = 4 * 1024 * 1024;

export class Intake {
  private readonly coalesced: TurnBatcher<Notification, EnqueueResult>;

  constructor(
    private readonly store: NotificationStore,
    private readonly topics: TopicStore,
    private readonly queues: ChannelQueues,
    private readonly options: IntakeOptions,
  ) {
    this.coalesced = new TurnBatcher((notifications) => this.enqueue(notifications), MAX_BATCH, options.lingerMs);
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

  /**
   * Enqueues a batch, in transactions of at most about TRANSACTION_BYTES each. Each notification is
   * accepted with its job or not at all. When a later transaction of a split batch fails, the
   * earlier ones stay accepted: the error says how many and names them, and sending the batch again
   * with the same ids is safe (the accepted ones answer `duplicate`).
   */
  async enqueue(notifications: Notification[], now: number = Date.now()): Promise<EnqueueResult[]> {
    const parts = splitBySize(notifications, TRANSACTION_BYTES);
    if (parts.length <= 1) return this.enqueueTogether(notifications, now);
    const results: EnqueueResult[] = [];
    for (const part of parts) {
      try {
        results.push(...(await this.enqueueTogether(part, now)));
      } catch (err) {
        throw results.length === 0 ? err : partlyAccepted(err, results, notifications.length);
      }
    }
    return results;
  }

  /** Enqueues notifications in one transaction. */
  private async enqueueTogether(notifications: Notification[], now: number): Promise<EnqueueResult[]> {
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
    const direct = claims.filter(({ notification }) => notification.topic === undefined);
    const topical: TopicAcceptance[] = claims.filter(({ notification }) => notification.topic !== undefined);
    // The scripts' replies come first in the MULTI's, in this order; the jobs' follow.
    if (direct.length > 0) this.store.queueClaims(tx, direct, now);
    if (topical.length > 0) this.topics.queueAcceptances(tx, topical, now);
    this.queues.queueDeliveries(
      tx,
      direct.map(({ notification, token }) => firstDelivery(notification, token, firstChannel(notification, this.options.defaultChannels), now)),
    );
    // A scheduled topic notification fans out at once: its recipients' notifications wait, scheduled, in their queues.
    for (const { notification, token } of topical) this.queues.queueFanOutPage(tx, { id: notification.id, token });
    const replies = await tx.exec();
    if (this.options.replicaAcks > 0) await this.queues.awaitReplicas(this.options.replicaAcks, REPLICA_ACK_TIMEOUT_MS);
    const directReplies = direct.length > 0 ? execResult<[number, string][]>(replies, 0, 'The enqueue transaction') : [];
    const topicReplies = topical.length > 0 ? execResult<[number, string, number][]>(replies, direct.length > 0 ? 1 : 0, 'The enqueue transaction') : [];
    // Each unique notification's reply.
    const claimed = new Map<Notification, [number, string, number?]>([
      ...direct.map(({ notification }, i): [Notification, [number, string]] => [notification, directReplies[i]!]),
      ...topical.map(({ notification }, i): [Notification, [number, string, number]] => [notification, topicReplies[i]!]),
    ]);
    return notifications.map((notification, index) => {
      const { place, repeated } = places[index]!;
      const [isNew, status, recipients] = claimed.get(unique[place]!)!;
      const result: EnqueueResult = {
        id: notification.id,
        status: answeredStatus(isNew === 1, status as NotificationStatus),
        duplicate: repeated || isNew !== 1,
      };
      if (notification.topic !== undefined) result.recipients = recipients ?? 0;
      return result;
    });
  }
}

/** Splits a batch, in order, into runs whose estimated size stays within `limitBytes` (one at least). */
export function splitBySize(notifications: Notification[], limitBytes: number): Notification[][] {
  const parts: Notification[][] = [];
  let current: Notification[] = [];
  let bytes = 0;
  for (const notification of notifications) {
    const size = estimatedBytes(notification);
    if (current.length > 0 && bytes + size > limitBytes) {
      parts.push(current);
      current = [];
      bytes = 0;
    }
    current.push(notification);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/**
 * An upper estimate of what a notification costs a transaction: its texts twice (status record and
 * job, at up to two UTF-8 bytes per character for most scripts), its data at the 2 KiB it may hold,
 * its push subscriptions, and a fixed part for keys and fields. Cheap on purpose: it runs for every
 * notification of every batch.
 */
function estimatedBytes(n: Notification): number {
  const texts = n.id.length + (n.to?.length ?? 0) + (n.title?.length ?? 0) + n.message.length + (n.url?.length ?? 0) + (n.category?.length ?? 0);
  const targets = (n.targets?.gotify?.token.length ?? 0) + (n.targets?.email?.length ?? 0) + (n.targets?.webpush?.length ?? 0) * 1024;
  return 512 + 4 * (texts + targets) + (n.data ? 4096 : 0);
}

/** The error of a split batch (or of one split by shard) whose later transaction failed after earlier ones were accepted. */
export function partlyAccepted(err: unknown, accepted: EnqueueResult[], total: number): HeraldError {
  const cause = err instanceof HeraldError ? err : new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE');
  return new HeraldError(
    cause.code,
    `${cause.message}. ${accepted.length} of the ${total} notifications were accepted before the failure; ` +
      'send the batch again with the same ids (the accepted ones answer duplicate)',
    accepted.map(({ id }) => ({ field: 'accepted', message: id })),
  );
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
