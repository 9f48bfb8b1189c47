/**
 * Statistics are counters in Redis hashes, one hash per time bucket: minute buckets (kept a few
 * hours, for short windows) and hour buckets (kept eight days, for windows up to a week), plus one
 * hash of running totals since the deployment began (never expires; a fixed set of fields, so it
 * stays small) that /metrics exposes as Prometheus counters, which must never go down. Workers
 * add to all three inside the same script that records an attempt, so statistics cost no extra
 * round trip; any API process reads the same figures. Latency is a histogram of log-spaced
 * buckets, so percentiles can be summed across buckets and processes.
 */
import { CHANNEL_NAMES, TERMINAL_STATUSES, type AttemptOutcome, type ChannelName, type TerminalStatus } from '../types.js';
import { madeOnce } from '../made-once.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
/** Minute buckets cover windows up to this many minutes; longer windows read hour buckets. */
export const MINUTE_BUCKETS_KEPT = 180;
export const MINUTE_BUCKET_TTL_SECONDS = (MINUTE_BUCKETS_KEPT + 10) * 60;
export const HOUR_BUCKET_TTL_SECONDS = (7 * 24 + 2) * 3600;

/** Each latency bucket's upper bound is 10% above the previous one: percentiles are within 10%. */
export const LATENCY_GROWTH = 1.1;

export function latencyBucket(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(Math.log(ms) / Math.log(LATENCY_GROWTH));
}

export function latencyBucketUpperMs(index: number): number {
  return LATENCY_GROWTH ** index;
}

/** The statuses a notification ends in, each counted once. */
export type EndStatus = TerminalStatus;

const endedField = madeOnce((status: EndStatus) => `ended:${status}`);
const attemptsField = madeOnce((channel: ChannelName) => `${channel}:attempts`);
const latencySumField = madeOnce((channel: ChannelName) => `${channel}:latencySumMs`);
const outcomeFields = madeOnce((channel: ChannelName) => madeOnce((outcome: AttemptOutcome) => `${channel}:outcome:${outcome}`));
const latencyFields = madeOnce((channel: ChannelName) => madeOnce((bucket: number) => `${channel}:latency:${bucket}`));

/** Hash field names; the reader in stats/read.ts parses the same names. */
export const field = {
  accepted: 'accepted',
  ended: endedField,
  /** Topic notifications accepted; each recipient's own notification counts under `accepted` when the fan-out writes it. */
  topicAccepted: 'topics:accepted',
  /** Recipients' notifications written by the fan-out of topic notifications. */
  topicRecipients: 'topics:recipients',
  attempts: attemptsField,
  outcome: (channel: ChannelName, outcome: AttemptOutcome) => outcomeFields(channel)(outcome),
  latency: (channel: ChannelName, bucket: number) => latencyFields(channel)(bucket),
  /** Sum of the latencies (ms) in the histogram, for Prometheus' `_sum`. */
  latencySum: latencySumField,
  /** Skipped attempts with this attempt code: a fixed set of codes, so the totals stay small. */
  skip: (code: string) => `${SKIP_PREFIX}${code}`,
};

const SKIP_PREFIX = 'skip:';

/** Summed counters of one or more buckets, by field name. */
export type Totals = ReadonlyMap<string, number>;

/** Adds one bucket's HGETALL reply into `into`. */
export function addBucket(into: Map<string, number>, bucket: Record<string, string>): void {
  for (const [name, value] of Object.entries(bucket)) {
    const amount = Number(value);
    if (Number.isFinite(amount)) into.set(name, (into.get(name) ?? 0) + amount);
  }
}

export const END_STATUSES: readonly EndStatus[] = TERMINAL_STATUSES;
export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = ['delivered', 'transient', 'permanent', 'gone', 'skipped'];

export interface ChannelCounters {
  /** Tries on the provider; `skipped` is counted among the outcomes but is not a try. */
  attempts: number;
  outcomes: Record<AttemptOutcome, number>;
  /** Latency histogram of delivered attempts: [bucket index, count], by index. */
  latency: [index: number, count: number][];
  latencySumMs: number;
}

export interface Counters {
  accepted: number;
  ended: Record<EndStatus, number>;
  topics: { accepted: number; recipients: number };
  channels: Record<ChannelName, ChannelCounters>;
  /** Skipped attempts by attempt code (the reason), those counted at least once. */
  skips: Record<string, number>;
}

/** Summed fields as named figures; a field absent from every bucket counts 0. */
export function decodeCounters(totals: Totals): Counters {
  const count = (name: string) => totals.get(name) ?? 0;
  const channels = CHANNEL_NAMES.map((channel): [ChannelName, ChannelCounters] => [
    channel,
    {
      attempts: count(field.attempts(channel)),
      outcomes: Object.fromEntries(ATTEMPT_OUTCOMES.map((o) => [o, count(field.outcome(channel, o))])) as Record<AttemptOutcome, number>,
      latency: latencyHistogram(totals, channel),
      latencySumMs: count(field.latencySum(channel)),
    },
  ]);
  return {
    accepted: count(field.accepted),
    ended: Object.fromEntries(END_STATUSES.map((status) => [status, count(field.ended(status))])) as Record<EndStatus, number>,
    topics: { accepted: count(field.topicAccepted), recipients: count(field.topicRecipients) },
    channels: Object.fromEntries(channels) as Record<ChannelName, ChannelCounters>,
    skips: skipsByCode(totals),
  };
}

function skipsByCode(totals: Totals): Record<string, number> {
  const skips: Record<string, number> = {};
  for (const [name, count] of totals) if (name.startsWith(SKIP_PREFIX) && count > 0) skips[name.slice(SKIP_PREFIX.length)] = count;
  return skips;
}

function latencyHistogram(totals: Totals, channel: ChannelName): [number, number][] {
  const prefix = `${channel}:latency:`;
  const buckets: [number, number][] = [];
  for (const [name, count] of totals) {
    if (!name.startsWith(prefix) || count <= 0) continue;
    const index = Number(name.slice(prefix.length));
    if (Number.isInteger(index)) buckets.push([index, count]);
  }
  return buckets.sort((a, b) => a[0] - b[0]);
}

/** Counter increments of one transition, by field; the transition script sums a batch's and applies them once. */
export type StatsDelta = Record<string, number>;

export class StatsDeltaBuilder {
  private readonly fields: Record<string, number> = {};

  add(name: string, amount = 1): this {
    this.fields[name] = (this.fields[name] ?? 0) + amount;
    return this;
  }

  accepted(): this {
    return this.add(field.accepted);
  }

  ended(status: EndStatus): this {
    return this.add(field.ended(status));
  }

  /**
   * One attempt on a channel; `latencyMs` (enqueue → accepted) only for delivered ones. A skipped
   * one is counted by its code too, the reason it was skipped.
   */
  attempt(channel: ChannelName, outcome: AttemptOutcome, latencyMs?: number, code?: string): this {
    // A skipped channel (no address, switched off) was never tried: it is not an attempt.
    if (outcome !== 'skipped') this.add(field.attempts(channel));
    else if (code) this.add(field.skip(code));
    this.add(field.outcome(channel, outcome));
    if (latencyMs !== undefined) {
      this.add(field.latency(channel, latencyBucket(latencyMs)));
      this.add(field.latencySum(channel), Math.round(latencyMs));
    }
    return this;
  }

  build(): StatsDelta {
    return this.fields;
  }
}

export function minuteIndex(now: number): number {
  return Math.floor(now / MINUTE_MS);
}

export function hourIndex(now: number): number {
  return Math.floor(now / HOUR_MS);
}
