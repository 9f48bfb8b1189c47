/**
 * Reads the statistics of a time window, for `GET /v1/stats` and `herald.stats()`. Every figure
 * comes from Redis (counters written by the workers, BullMQ's queues, the dead-letter set, the
 * worker heartbeats), so every API process answers the same.
 *
 * Granularity: windows up to MINUTE_BUCKETS_KEPT minutes (3 hours) sum minute buckets, longer ones
 * hour buckets. A window reads every bucket it overlaps, so it may count up to one bucket (a
 * minute, or an hour) of events older than `from`; it never leaves out an event inside it.
 *
 * How the outcome counters map to the channel figures:
 *   attempts          every try on a provider (a skipped channel is no attempt)
 *   delivered         outcome `delivered`
 *   failedAttempts    outcomes `transient` + `permanent` + `gone`
 *   permanentFailures outcomes `permanent` + `gone` (the provider refused for good)
 * so `attempts = delivered + failedAttempts`.
 */
import type { Queue } from 'bullmq';
import type { RedisClient } from '../redis/client.js';
import { validationError } from '../errors.js';
import { Keys } from '../store/keys.js';
import { liveWorkers, type LiveWorker } from '../store/workers.js';
import type { ChannelQueues } from '../queue/queues.js';
import { CHANNEL_NAMES, type ChannelName } from '../types.js';
import {
  addBucket,
  decodeCounters,
  hourIndex,
  latencyBucketUpperMs,
  MINUTE_BUCKETS_KEPT,
  minuteIndex,
  type ChannelCounters,
  type Counters,
} from '../store/stats-counters.js';

export const MIN_WINDOW_SECONDS = 60;
export const MAX_WINDOW_SECONDS = 7 * 86_400;
export const DEFAULT_WINDOW_SECONDS = 3600;

export interface LatencyPercentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface ChannelStats {
  attempts: number;
  delivered: number;
  failedAttempts: number;
  permanentFailures: number;
  /** delivered / attempts; null without attempts. */
  successRate: number | null;
  /** Enqueue → accepted by the provider, from the histogram (within 10%, rounded up to the bucket bound). */
  latencyMs: LatencyPercentiles;
}

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
}

export interface Stats {
  window: { seconds: number; from: string; to: string };
  notifications: {
    accepted: number;
    delivered: number;
    failed: number;
    expired: number;
    skipped: number;
    /** Merged into a digest window at acceptance (delivered, if at all, inside the digest). */
    merged: number;
    /** Ended by a cancel (`herald.cancel`, `cancelGroup`); neither a success nor a failure. */
    canceled: number;
    /** delivered / (delivered + failed) over notifications that ended in the window; null when none. */
    successRate: number | null;
    failureRate: number | null;
  };
  /**
   * Topic notifications accepted, and the recipients' notifications their fan-out wrote (each of
   * those is also counted in `notifications`, as accepted and then in the status it ends in).
   */
  topics: { accepted: number; recipients: number };
  channels: Record<ChannelName, ChannelStats>;
  queues: Record<string, QueueDepth>;
  deadLetters: number;
  workers: LiveWorker[];
  /**
   * Skipped attempts by attempt code: why notifications ended `skipped` (HERALD_MUTED,
   * HERALD_RECIPIENT_ONLINE, …) and why channels were passed over (HERALD_NO_ADDRESS,
   * HERALD_CHANNEL_MUTED, …). Codes never counted in the window are absent.
   */
  skips: Record<string, number>;
}

/** The window in seconds from a query string or SDK argument; HERALD_ERR_VALIDATION naming `window` otherwise. */
export function parseWindow(raw: unknown): number {
  if (raw === undefined) return DEFAULT_WINDOW_SECONDS;
  const value = typeof raw === 'string' && /^\d{1,7}$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_WINDOW_SECONDS || value > MAX_WINDOW_SECONDS) {
    throw validationError([{ field: 'window', message: `Expected whole seconds from ${MIN_WINDOW_SECONDS} to ${MAX_WINDOW_SECONDS}` }]);
  }
  return value;
}

/** The keys of the buckets a window overlaps, oldest first (see the granularity note above). */
export function windowBucketKeys(keys: Keys, windowSeconds: number, now: number): string[] {
  const from = now - windowSeconds * 1000;
  const byMinute = windowSeconds <= MINUTE_BUCKETS_KEPT * 60;
  const index = byMinute ? minuteIndex : hourIndex;
  const bucketKeys: string[] = [];
  for (let i = index(from); i <= index(now); i++) bucketKeys.push(keys.statsBucket(byMinute ? 'm' : 'h', i));
  return bucketKeys;
}

/**
 * Sums the given buckets (or the running totals) of every shard: one pipelined round trip per
 * shard (a pipeline stays within one shard's keys, so within one Redis Cluster slot), the shards'
 * counters and latency histograms added field by field.
 */
export async function readCounters(cells: readonly StatsCell[], bucketKeys: (keys: Keys) => readonly string[]): Promise<Counters> {
  const totals = new Map<string, number>();
  const perCell = await Promise.all(
    cells.map(async ({ redis, keys }) => {
      const pipeline = redis.pipeline();
      for (const key of bucketKeys(keys)) pipeline.hgetall(key);
      return (await pipeline.exec()) ?? [];
    }),
  );
  for (const replies of perCell) {
    for (const [err, bucket] of replies) {
      if (err) throw err;
      addBucket(totals, bucket as Record<string, string>);
    }
  }
  return decodeCounters(totals);
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

/** Nearest-rank percentile of a log-bucket histogram, as the upper bound of its bucket (ms). */
export function percentile(histogram: readonly [index: number, count: number][], p: number): number | null {
  const total = histogram.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (const [index, count] of histogram) {
    seen += count;
    if (seen >= rank) return Math.round(latencyBucketUpperMs(index));
  }
  return null;
}

export function channelStats(counters: ChannelCounters): ChannelStats {
  const { attempts, outcomes, latency } = counters;
  return {
    attempts,
    delivered: outcomes.delivered,
    failedAttempts: outcomes.transient + outcomes.permanent + outcomes.gone,
    permanentFailures: outcomes.permanent + outcomes.gone,
    successRate: ratio(outcomes.delivered, attempts),
    latencyMs: { p50: percentile(latency, 0.5), p95: percentile(latency, 0.95), p99: percentile(latency, 0.99) },
  };
}

export function notificationStats(counters: Counters): Stats['notifications'] {
  const { delivered, failed, expired, skipped, merged, canceled } = counters.ended;
  return {
    accepted: counters.accepted,
    delivered,
    failed,
    expired,
    skipped,
    merged,
    canceled,
    successRate: ratio(delivered, delivered + failed),
    failureRate: ratio(failed, delivered + failed),
  };
}

/** Jobs per queue summed over the shards (each shard has its own set of queues). */
export async function queueDepthsOf(cells: readonly StatsCell[]): Promise<Record<string, QueueDepth>> {
  const depths = await Promise.all(cells.map((cell) => queueDepths(cell.queues)));
  const sum: Record<string, QueueDepth> = {};
  for (const cell of depths) {
    for (const [name, depth] of Object.entries(cell)) {
      const total = (sum[name] ??= { waiting: 0, active: 0, delayed: 0 });
      total.waiting += depth.waiting;
      total.active += depth.active;
      total.delayed += depth.delayed;
    }
  }
  return sum;
}

/** The live workers every shard lists, once each (a process that serves several shards beats in each). */
export async function workersOf(cells: readonly StatsCell[], now: number): Promise<LiveWorker[]> {
  const lists = await Promise.all(cells.map((cell) => liveWorkers(cell.redis, cell.keys, now)));
  const byId = new Map<string, LiveWorker>();
  for (const worker of lists.flat()) {
    const known = byId.get(worker.id);
    if (!known || known.lastSeen < worker.lastSeen) byId.set(worker.id, worker);
  }
  return [...byId.values()].sort((a, b) => (a.lastSeen < b.lastSeen ? -1 : a.lastSeen > b.lastSeen ? 1 : 0));
}

/** Jobs per queue (each channel's and the fan-out's); `waiting` includes BullMQ's prioritized list (jobs ready to run). */
export async function queueDepths(queues: ChannelQueues): Promise<Record<string, QueueDepth>> {
  const named: [string, Queue][] = [
    ...CHANNEL_NAMES.map((channel): [string, Queue] => [Keys.queueName(channel), queues.queues[channel]]),
    [Keys.fanOutQueueName, queues.fanOut],
  ];
  const entries = await Promise.all(
    named.map(async ([name, queue]): Promise<[string, QueueDepth]> => {
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
      return [name, { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0 }];
    }),
  );
  return Object.fromEntries(entries);
}

/** One shard's sources of statistics. */
export interface StatsCell {
  redis: RedisClient;
  keys: Keys;
  queues: ChannelQueues;
  countDeadLetters(now: number): Promise<number>;
}

/** Every shard's: the figures are their sums. */
export interface StatsSources {
  cells: readonly StatsCell[];
}

/** Counters summed over some buckets, with the deployment's state as it is now. */
export interface StatsSnapshot {
  counters: Counters;
  queues: Record<string, QueueDepth>;
  deadLetters: number;
  workers: LiveWorker[];
}

/** Reads the four sources at once: buckets (one pipeline), queue depths, dead letters, heartbeats. */
export async function readSnapshot(sources: StatsSources, bucketKeys: (keys: Keys) => readonly string[], now: number = Date.now()): Promise<StatsSnapshot> {
  const { cells } = sources;
  const [counters, queues, deadLetters, workers] = await Promise.all([
    readCounters(cells, bucketKeys),
    queueDepthsOf(cells),
    Promise.all(cells.map((cell) => cell.countDeadLetters(now))).then((counts) => counts.reduce((sum, n) => sum + n, 0)),
    workersOf(cells, now),
  ]);
  return { counters, queues, deadLetters, workers };
}

/** The figures of the last `windowSeconds` before `now`, in the contract's Stats shape. */
export async function readStats(sources: StatsSources, windowSeconds: number, now: number = Date.now()): Promise<Stats> {
  const { counters, queues, deadLetters, workers } = await readSnapshot(sources, (keys) => windowBucketKeys(keys, windowSeconds, now), now);
  const channels = Object.fromEntries(CHANNEL_NAMES.map((channel) => [channel, channelStats(counters.channels[channel])])) as Record<ChannelName, ChannelStats>;
  return {
    window: { seconds: windowSeconds, from: new Date(now - windowSeconds * 1000).toISOString(), to: new Date(now).toISOString() },
    notifications: notificationStats(counters),
    topics: { ...counters.topics },
    channels,
    queues,
    deadLetters,
    workers,
    skips: counters.skips,
  };
}
