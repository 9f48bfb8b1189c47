/**
 * Redis key layout. Every key starts with the configured prefix; ids are URI-encoded so that a
 * user id such as `x:wp` can never collide with another key's suffix. With a hash-tag prefix such
 * as `{herald}` every key lands in one Redis Cluster slot, which the multi-key scripts require.
 */
import type { ChannelName } from '../types.js';

export type StatsResolution = 'm' | 'h';

export class Keys {
  constructor(readonly prefix: string) {}

  /** Hash: the status record of one notification. */
  record(id: string): string {
    return `${this.prefix}:n:${encodeURIComponent(id)}`;
  }

  /** List: the attempts of one notification, as JSON strings, oldest first. */
  attempts(id: string): string {
    return `${this.record(id)}:attempts`;
  }

  /** Set: Web Push subscription ids that already accepted this notification. */
  pushAccepted(id: string): string {
    return `${this.record(id)}:pushed`;
  }

  /** Hash: a recipient's addresses and preferred channels. */
  recipient(userId: string): string {
    return `${this.prefix}:r:${encodeURIComponent(userId)}`;
  }

  /** Hash: subscription id → stored subscription JSON. */
  subscriptions(userId: string): string {
    return `${this.recipient(userId)}:webpush`;
  }

  /** String with a TTL: present while the user is online. */
  presence(userId: string): string {
    return `${this.recipient(userId)}:online`;
  }

  /**
   * Sorted set: the pending notifications of one recipient with one groupKey, scored by their
   * expiresAt (ms); entries leave when their notification ends, and the key expires with its newest.
   */
  group(userId: string, groupKey: string): string {
    return `${this.recipient(userId)}:group:${encodeURIComponent(groupKey)}`;
  }

  /** Sorted set: dead-lettered notification ids scored by failure time. */
  deadLetters(): string {
    return `${this.prefix}:dead-letters`;
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

  /** BullMQ queue name of a channel; BullMQ adds the prefix itself. */
  static queueName(channel: ChannelName): string {
    return `deliver-${channel}`;
  }
}
