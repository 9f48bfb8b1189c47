/**
 * One BullMQ queue per channel, so a slow or failing provider only backs up its own queue. A job
 * carries up to MAX_ITEMS_PER_JOB deliveries, each just a notification id, its recipient id and
 * its token; everything else is read from the status record when the job runs, so a replay or an
 * edited recipient takes effect.
 *
 * Several deliveries per job is what makes Herald faster than a job per message: BullMQ's own job
 * cycle (fetch, lock, complete) and Herald's two scripts are paid once per job, not per delivery.
 */
import { Job, Queue, type JobsOptions } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import { CHANNEL_NAMES, type ChannelName, type Notification } from '../types.js';
import { Keys } from '../store/keys.js';
import { HeraldError } from '../errors.js';
import { execResult } from '../redis/failures.js';

/** One notification's delivery step, guarded by its token (see processor.ts). */
export interface DeliveryItem {
  id: string;
  token: string;
  to?: string;
  /**
   * The groupKey of the digest window this delivery may hold: set on the first job of a
   * notification with a digest, whose load closes the window first (NotificationStore#load).
   */
  digestGroup?: string;
}

export interface DeliveryJobData {
  items: DeliveryItem[];
}

/**
 * A job of the fan-out queue: the next page of a topic notification's fan-out, guarded by the
 * token its record holds (see delivery/fan-out.ts).
 */
export interface FanOutJobData {
  id: string;
  token: string;
}

/** A delivery to queue: which channel, which item, and how long from now. */
export interface QueuedDelivery {
  channel: ChannelName;
  item: DeliveryItem;
  delayMs: number;
}

/**
 * Deliveries per job at most. A job's deliveries run side by side and the job ends when the last
 * one does, so a larger job amortises more but makes its fast deliveries wait for its slowest.
 */
export const MAX_ITEMS_PER_JOB = 50;

/**
 * The processor never fails a job on purpose: retries are new jobs it adds itself. BullMQ retries a
 * job only when its run threw (Redis went away mid-commit), with the backoff below, this many times.
 */
export const JOB_ATTEMPTS_CEILING = 1000;
export const JOB_NAME = 'deliver';
export const FAN_OUT_JOB_NAME = 'fan-out';
/** Name of the custom backoff strategy (backoff.ts). */
export const BACKOFF_TYPE = 'herald';

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: JOB_ATTEMPTS_CEILING,
  backoff: { type: BACKOFF_TYPE },
  removeOnComplete: true,
  // A job that still fails (a worker that kept dying on it) is kept for a week so it can be found.
  removeOnFail: { age: 7 * 86_400 },
};

export function deliveryItem(id: string, token: string, to: string | undefined): DeliveryItem {
  return to === undefined ? { id, token } : { id, token, to };
}

/**
 * The queue a notification's first delivery goes to. The worker resolves the real chain (the
 * recipient's preferences, missing addresses) and hands the job on when it differs.
 */
export function firstChannel(notification: Pick<Notification, 'channels'>, defaultChannels: readonly ChannelName[]): ChannelName {
  return notification.channels?.[0] ?? defaultChannels[0] ?? 'gotify';
}

/** The deliveries of a job; jobs queued before batching carried one item as the data itself. */
export function itemsOf(data: DeliveryJobData | DeliveryItem): DeliveryItem[] {
  return 'items' in data ? data.items : [data];
}

/** Minimal view of BullMQ's client wrapper: enough to open a transaction on it. */
interface TransactionClient {
  multi(): ChainableCommander;
  pipeline(): ChainableCommander;
}

export class ChannelQueues {
  readonly queues: Record<ChannelName, Queue<DeliveryJobData>>;
  /** The fan-out pages of topic notifications: a queue of their own, so a large topic never holds up a channel's deliveries. */
  readonly fanOut: Queue<FanOutJobData>;
  private clientPromise?: Promise<TransactionClient>;

  constructor(connection: RedisClient, prefix: string) {
    const entries = CHANNEL_NAMES.map((channel) => [
      channel,
      new Queue<DeliveryJobData>(Keys.queueName(channel), { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }),
    ]);
    this.queues = Object.fromEntries(entries) as Record<ChannelName, Queue<DeliveryJobData>>;
    this.fanOut = new Queue<FanOutJobData>(Keys.fanOutQueueName, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    for (const queue of [...Object.values(this.queues), this.fanOut]) queue.on('error', () => {});
  }

  /** A transaction on the queues' shared connection; Herald's scripts are defined on it. */
  async multi(): Promise<ChainableCommander> {
    // All queues share one connection, so any queue's client opens the transaction.
    this.clientPromise ??= this.queues.gotify.backend.client as unknown as Promise<TransactionClient>;
    const client = await this.clientPromise;
    return client.multi();
  }

  /**
   * Waits until `replicas` replicas hold every write made so far on the queues' connection to this
   * cell's node (Redis WAIT), at most `timeoutMs`; HERALD_ERR_REDIS_UNAVAILABLE when fewer do.
   * WAIT names no key: the key read beside it in one pipeline sends both to the node serving this
   * cell's slot, over the connection the cell's transactions use.
   */
  async awaitReplicas(replicas: number, timeoutMs: number): Promise<void> {
    this.clientPromise ??= this.queues.gotify.backend.client as unknown as Promise<TransactionClient>;
    const client = await this.clientPromise;
    const replies = await client.pipeline().exists(this.queues.gotify.toKey('meta')).call('WAIT', replicas, timeoutMs).exec();
    const acknowledged = execResult<number>(replies, 1, 'The wait for replicas');
    if (acknowledged < replicas) {
      throw new HeraldError(
        'HERALD_ERR_REDIS_UNAVAILABLE',
        `Redis did not copy the notification to ${replicas} replica(s) within ${timeoutMs} ms (${acknowledged} did); retry later`,
      );
    }
  }

  /**
   * Queues the jobs for `deliveries` on `tx`: those for the same channel and delay share jobs of
   * up to MAX_ITEMS_PER_JOB, in the order given.
   */
  queueDeliveries(tx: ChainableCommander, deliveries: readonly QueuedDelivery[]): void {
    const groups = new Map<string, QueuedDelivery[]>();
    for (const delivery of deliveries) {
      const delayMs = delivery.delayMs > 0 ? Math.ceil(delivery.delayMs) : 0;
      const key = `${delivery.channel}:${delayMs}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = []));
      group.push(delivery);
    }
    for (const group of groups.values()) {
      const { channel, delayMs } = group[0]!;
      for (let from = 0; from < group.length; from += MAX_ITEMS_PER_JOB) {
        const items = group.slice(from, from + MAX_ITEMS_PER_JOB).map((delivery) => delivery.item);
        queueJob(tx, this.queues[channel], JOB_NAME, { items }, delayMs);
      }
    }
  }

  /** Queues the job of a fan-out page on `tx`. */
  queueFanOutPage(tx: ChainableCommander, data: FanOutJobData): void {
    queueJob(tx, this.fanOut, FAN_OUT_JOB_NAME, data, 0);
  }

  async close(): Promise<void> {
    await Promise.all([...Object.values(this.queues), this.fanOut].map((queue) => queue.close()));
  }
}

/**
 * Queues one job on `tx` (`delayMs` in whole milliseconds). BullMQ's `Job#addJob` accepts a
 * transaction, which is what lets a job be added in the same MULTI as its status record changes.
 */
function queueJob<Data>(tx: ChainableCommander, queue: Queue<Data>, name: string, data: Data, delayMs: number): void {
  const opts: JobsOptions = delayMs > 0 ? { ...DEFAULT_JOB_OPTIONS, delay: delayMs } : DEFAULT_JOB_OPTIONS;
  const job = new Job<Data>(queue as never, name, data, opts);
  // The command is queued synchronously; the promise settles with the transaction.
  void job.addJob(tx as never).catch(() => {});
}
