/**
 * One shard of a deployment as a producer sees it: the stores, queues and services of one key
 * prefix (`herald`, or `{herald:k}` with several shards, see src/shards.ts). A cell is exactly a
 * single-shard Herald: its scripts and transactions touch its own keys only, so on a Redis Cluster
 * each of them stays within one hash slot. The Herald class routes every call to the cell (or
 * cells) it concerns.
 */
import { INBOX_DEFAULTS } from '../config.js';
import type { RedisClient } from '../redis/client.js';
import { Keys } from '../store/keys.js';
import { NotificationStore } from '../store/notifications.js';
import { RecipientRegistry } from '../store/recipients.js';
import { TopicStore } from '../store/topics.js';
import { DeadLetterQueue } from '../store/dead-letters.js';
import { Cancellations } from '../store/cancellations.js';
import { InboxStore } from '../store/inbox.js';
import { DeadLetterReplay } from '../services/dead-letter-replay.js';
import { ChannelQueues } from '../queue/queues.js';
import { Intake } from '../queue/intake.js';
import type { ChannelName } from '../types.js';
import type { StatsCell } from '../stats/read.js';

export interface CellSettings {
  defaultChannels: readonly ChannelName[];
  statusRetentionSeconds: number;
  deadLetterRetentionSeconds: number;
  eventsRetention: number;
  webpushMaxSubscriptions: number;
  lingerMs: number;
  /** Replicas that must hold an accepted notification before it is acknowledged; 0 on one Redis. */
  replicaAcks: number;
}

export class Cell {
  readonly keys: Keys;
  readonly store: NotificationStore;
  readonly recipients: RecipientRegistry;
  readonly topics: TopicStore;
  readonly queues: ChannelQueues;
  readonly intake: Intake;
  readonly deadLetters: DeadLetterQueue;
  readonly replay: DeadLetterReplay;
  readonly cancellations: Cancellations;
  readonly inbox: InboxStore;

  constructor(
    readonly shard: number,
    readonly redis: RedisClient,
    prefix: string,
    settings: CellSettings,
  ) {
    const { defaultChannels, statusRetentionSeconds, deadLetterRetentionSeconds, eventsRetention, lingerMs, replicaAcks } = settings;
    this.keys = new Keys(prefix);
    this.store = new NotificationStore(redis, this.keys, eventsRetention);
    this.recipients = new RecipientRegistry(redis, this.keys, settings.webpushMaxSubscriptions);
    this.queues = new ChannelQueues(redis, prefix);
    this.topics = new TopicStore(redis, this.keys, eventsRetention);
    this.intake = new Intake(this.store, this.topics, this.queues, { defaultChannels, statusRetentionSeconds, lingerMs, replicaAcks });
    this.deadLetters = new DeadLetterQueue(redis, this.keys, this.store, { statusRetentionSeconds, deadLetterRetentionSeconds });
    this.replay = new DeadLetterReplay(this.deadLetters, this.store, this.queues, { defaultChannels, statusRetentionSeconds });
    this.cancellations = new Cancellations(redis, this.keys, this.store, this.topics, { statusRetentionSeconds });
    // Reading and marking read do not depend on the limits: the inbox channel's writes apply them.
    this.inbox = new InboxStore(redis, this.keys, INBOX_DEFAULTS, this.store.eventLog);
  }

  /** What the statistics read of this cell. */
  get stats(): StatsCell {
    return { redis: this.redis, keys: this.keys, queues: this.queues, countDeadLetters: (now) => this.deadLetters.count(now) };
  }

  close(): Promise<void> {
    return this.queues.close();
  }
}
