/**
 * Prometheus metrics for `GET /metrics`. Delivery figures are read from Redis at scrape time (the
 * running totals every worker bumps, BullMQ's queues, the dead-letter set, the heartbeats), so
 * every API process exposes the same deployment-wide numbers; scrape any one of them. The process
 * metrics (`process_*`, `nodejs_*`) are those of the API process that answers.
 *
 * Each app gets its own Registry, never prom-client's global one: two apps in one process (tests,
 * embedding) must not collide on metric names.
 *
 * Names and labels (also in docs/operations.md):
 *   herald_notifications_accepted_total                 counter
 *   herald_notifications_ended_total{status}            counter  delivered | failed | expired | skipped | merged | canceled
 *   herald_delivery_attempts_total{channel,outcome}     counter  delivered | transient | permanent | gone
 *   herald_channel_skips_total{channel}                 counter  channel passed over without a try
 *   herald_skips_total{reason}                          counter  skipped attempts by attempt code
 *   herald_delivery_latency_seconds{channel}            histogram enqueue → accepted by the provider
 *   herald_topic_notifications_accepted_total           counter  topic notifications (each recipient's own counts as accepted)
 *   herald_topic_recipients_total                       counter  recipients' notifications written by the fan-out
 *   herald_queue_jobs{queue,state}                      gauge    waiting | active | delayed
 *   herald_dead_letters                                 gauge
 *   herald_workers_alive                                gauge
 *   herald_channel_workers_alive{channel}               gauge
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CHANNEL_NAMES, type ChannelName } from '../types.js';
import { ATTEMPT_OUTCOMES, END_STATUSES, latencyBucketUpperMs, type ChannelCounters } from '../store/stats-counters.js';
import type { StatsSnapshot } from './read.js';

/** `le` bounds of the latency histogram, in seconds: a notification may wait minutes for retries. */
export const LATENCY_BOUNDS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

const QUEUE_STATES = ['waiting', 'active', 'delayed'] as const;
const LATENCY_METRIC = 'herald_delivery_latency_seconds';

type LatencyLabel = 'channel' | 'le';

/** One line of the histogram; `sharedLabels` stays empty, prom-client merges it into `labels`. */
interface HistogramSample {
  metricName: string;
  labels: Partial<Record<LatencyLabel, string | number>>;
  sharedLabels: Record<string, never>;
  value: number;
}

/**
 * A histogram whose buckets come from Redis rather than from observe(): each of Herald's
 * log-spaced buckets (10% wide) is counted under the first `le` at or above its upper bound, so
 * a count is exact at every `le` up to that 10% of resolution; `_sum` and `_count` are exact.
 */
class StoredLatencyHistogram extends Histogram<LatencyLabel> {
  private latest: Partial<Record<ChannelName, ChannelCounters>> = {};

  constructor(
    private readonly helpText: string,
    registers: Registry[],
  ) {
    super({ name: LATENCY_METRIC, help: helpText, labelNames: ['channel'], buckets: LATENCY_BOUNDS_SECONDS, registers });
  }

  update(channels: Record<ChannelName, ChannelCounters>): void {
    this.latest = channels;
  }

  /**
   * prom-client renders a histogram through this method (its `get()` calls it too), so this is
   * where the stored buckets replace the observed ones. The method is not in prom-client's type
   * declarations; the metrics test fails if it is ever renamed.
   */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: HistogramSample[] }> {
    return { name: LATENCY_METRIC, help: this.helpText, type: 'histogram', aggregator: 'sum', values: this.values() };
  }

  private values(): HistogramSample[] {
    const values: HistogramSample[] = [];
    for (const channel of CHANNEL_NAMES) {
      const counters = this.latest[channel];
      const perBound = LATENCY_BOUNDS_SECONDS.map(() => 0);
      let count = 0;
      for (const [index, n] of counters?.latency ?? []) {
        count += n;
        const upperSeconds = latencyBucketUpperMs(index) / 1000;
        const slot = LATENCY_BOUNDS_SECONDS.findIndex((bound) => upperSeconds <= bound);
        if (slot >= 0) perBound[slot]! += n;
      }
      let cumulative = 0;
      LATENCY_BOUNDS_SECONDS.forEach((bound, i) => {
        cumulative += perBound[i]!;
        values.push({ metricName: `${LATENCY_METRIC}_bucket`, labels: { channel, le: bound }, sharedLabels: {}, value: cumulative });
      });
      values.push({ metricName: `${LATENCY_METRIC}_bucket`, labels: { channel, le: '+Inf' }, sharedLabels: {}, value: count });
      values.push({ metricName: `${LATENCY_METRIC}_sum`, labels: { channel }, sharedLabels: {}, value: (counters?.latencySumMs ?? 0) / 1000 });
      values.push({ metricName: `${LATENCY_METRIC}_count`, labels: { channel }, sharedLabels: {}, value: count });
    }
    return values;
  }
}

export class HeraldMetrics {
  readonly registry = new Registry();
  private readonly accepted: Counter;
  private readonly ended: Counter<'status'>;
  private readonly attempts: Counter<'channel' | 'outcome'>;
  private readonly skips: Counter<'channel'>;
  private readonly skipReasons: Counter<'reason'>;
  private readonly latency: StoredLatencyHistogram;
  private readonly topicAccepted: Counter;
  private readonly topicRecipients: Counter;
  private readonly queueJobs: Gauge<'queue' | 'state'>;
  private readonly deadLetters: Gauge;
  private readonly workers: Gauge;
  private readonly channelWorkers: Gauge<'channel'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.accepted = new Counter({
      name: 'herald_notifications_accepted_total',
      help: 'Notifications accepted (new ids; duplicates are not counted)',
      registers,
    });
    this.ended = new Counter({
      name: 'herald_notifications_ended_total',
      help: 'Notifications that reached a final status',
      labelNames: ['status'],
      registers,
    });
    this.attempts = new Counter({
      name: 'herald_delivery_attempts_total',
      help: 'Tries on a provider, by outcome (one per Web Push subscription)',
      labelNames: ['channel', 'outcome'],
      registers,
    });
    this.skips = new Counter({
      name: 'herald_channel_skips_total',
      help: 'Times a channel was passed over without a try (no address, switched off, recipient online)',
      labelNames: ['channel'],
      registers,
    });
    this.skipReasons = new Counter({
      name: 'herald_skips_total',
      help: 'Skipped attempts by attempt code: why a notification ended skipped or a channel was passed over',
      labelNames: ['reason'],
      registers,
    });
    this.latency = new StoredLatencyHistogram('Time from enqueue (or sendAt) to acceptance by the provider', registers);
    this.topicAccepted = new Counter({
      name: 'herald_topic_notifications_accepted_total',
      help: "Topic notifications accepted (each recipient's own notification also counts in herald_notifications_accepted_total)",
      registers,
    });
    this.topicRecipients = new Counter({
      name: 'herald_topic_recipients_total',
      help: "Recipients' notifications written by the fan-out of topic notifications",
      registers,
    });
    this.queueJobs = new Gauge({
      name: 'herald_queue_jobs',
      help: 'Jobs in each BullMQ queue (delivery and fan-out), by state',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.deadLetters = new Gauge({ name: 'herald_dead_letters', help: 'Notifications in the dead-letter queue', registers });
    this.workers = new Gauge({ name: 'herald_workers_alive', help: 'Worker processes whose heartbeat is recent', registers });
    this.channelWorkers = new Gauge({
      name: 'herald_channel_workers_alive',
      help: 'Live worker processes serving each channel',
      labelNames: ['channel'],
      registers,
    });
  }

  /**
   * Sets every deployment-wide metric from one snapshot, synchronously, so that a scrape never
   * mixes two snapshots. Counters are reset and set to the stored totals: Redis holds the truth,
   * this process only relays it.
   */
  update(snapshot: StatsSnapshot): void {
    const { counters } = snapshot;
    this.accepted.reset();
    this.accepted.inc(counters.accepted);
    this.ended.reset();
    for (const status of END_STATUSES) this.ended.inc({ status }, counters.ended[status]);
    this.attempts.reset();
    this.skips.reset();
    for (const channel of CHANNEL_NAMES) {
      const { outcomes } = counters.channels[channel];
      for (const outcome of ATTEMPT_OUTCOMES) if (outcome !== 'skipped') this.attempts.inc({ channel, outcome }, outcomes[outcome]);
      this.skips.inc({ channel }, outcomes.skipped);
    }
    this.skipReasons.reset();
    for (const [reason, count] of Object.entries(counters.skips)) this.skipReasons.inc({ reason }, count);
    this.latency.update(counters.channels);
    this.topicAccepted.reset();
    this.topicAccepted.inc(counters.topics.accepted);
    this.topicRecipients.reset();
    this.topicRecipients.inc(counters.topics.recipients);
    this.queueJobs.reset();
    for (const [queue, depth] of Object.entries(snapshot.queues)) {
      for (const state of QUEUE_STATES) this.queueJobs.set({ queue, state }, depth[state]);
    }
    this.deadLetters.set(snapshot.deadLetters);
    this.workers.set(snapshot.workers.length);
    for (const channel of CHANNEL_NAMES) this.channelWorkers.set({ channel }, snapshot.workers.filter((w) => w.channels.includes(channel)).length);
  }

  /** The exposition text of the last snapshot and of this process. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
