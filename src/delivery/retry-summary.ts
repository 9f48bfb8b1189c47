/**
 * Retries are logged as one summary per channel and period, not one line per delivery: during an
 * outage every delivery is retried, and a line each (hundreds a second) says the same thing over and
 * over while it buries the rest. A notification's own retries stay in its status (its attempts)
 * and, at `debug`, in its `delivery step done` lines.
 */
import type { Logger } from '../logger.js';
import type { ChannelName } from '../types.js';

/** How often a worker logs the retries it scheduled, when it scheduled any. */
export const RETRY_SUMMARY_INTERVAL_MS = 10_000;

export class RetrySummary {
  /** Retries per channel, then per failure code, since the last summary. */
  private readonly counts = new Map<ChannelName, Map<string, number>>();
  private since = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = RETRY_SUMMARY_INTERVAL_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  add(channel: ChannelName, code: string): void {
    let codes = this.counts.get(channel);
    if (!codes) this.counts.set(channel, (codes = new Map()));
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }

  /** Logs one line per channel that scheduled retries since the last summary. */
  flush(): void {
    const now = Date.now();
    for (const [channel, codes] of this.counts) {
      const retries = [...codes.values()].reduce((sum, n) => sum + n, 0);
      this.logger.info({ channel, retries, codes: Object.fromEntries(codes), periodMs: now - this.since }, 'retries scheduled');
    }
    this.counts.clear();
    this.since = now;
  }

  /** Stops the timer and logs what is left, so a stopping worker's last retries are not lost. */
  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
