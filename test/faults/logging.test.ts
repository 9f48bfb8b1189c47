import { afterEach, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';
import { residentBytes } from '../helpers/processes.js';
import { until } from '../helpers/harness.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const NOTIFICATIONS = 2000;
const SHUTDOWN_MS = 3000;
/** What a stopping worker may take beyond HERALD_SHUTDOWN_MS: closing connections and the flush at exit (1 s). */
const STOP_MARGIN_MS = 2000;
/** Deliveries before memory is measured: by the second half of them the worker's heap has its working size. */
const WARM_UP = 20_000;
/**
 * Deliveries over which memory must stay level. Each logs about 500 bytes at `debug`: some 25 MB of
 * lines that nobody reads, which a buffer without a bound keeps (about twice that in the heap).
 */
const MEASURED = 50_000;
const GROWTH_LIMIT_BYTES = 64 * 1024 * 1024;
/** Long ids make long lines (each line names its notification), so an unbounded buffer shows sooner. */
const ID_PREFIX = `stuck-stdout-${'x'.repeat(96)}`;

/** Reads a stream of JSON lines, keeping those `keep` accepts; the rest are read and let go. */
function keepLines(stream: Readable, keep: (line: string) => boolean): Record<string, unknown>[] {
  const kept: Record<string, unknown>[] = [];
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (keep(line)) kept.push(JSON.parse(line) as Record<string, unknown>);
  });
  return kept;
}

/** The highest resident memory of `pid` seen until `done()` holds (sampled every 200 ms). */
async function peakResidentUntil(pid: number, done: () => boolean, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let peak = residentBytes(pid);
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
    peak = Math.max(peak, residentBytes(pid));
  }
  return peak;
}

const megabytes = (bytes: number) => Math.round(bytes / (1024 * 1024));

describe('a log reader that stops reading', () => {
  // Its phases wait on delivery counts, not on time: on a busy machine they take longer.
  it.runIf(process.platform === 'linux')(
    'stuck stdout: memory bounded, dropped lines counted and reported, SIGTERM exits within HERALD_SHUTDOWN_MS; broken stdout likewise',
    async () => {
      // Gotify answers 503 to everything: every delivery is retried, and at `debug` every one logs.
      cluster = await FaultCluster.start({
        env: {
          HERALD_LOG_LEVEL: 'debug',
          HERALD_MAX_ATTEMPTS: '100',
          HERALD_BACKOFF_MS: '1',
          HERALD_BACKOFF_MAX_MS: '5',
          HERALD_SHUTDOWN_MS: String(SHUTDOWN_MS),
        },
      });
      cluster.gotify.fallback = { status: 503 };
      const ids = await cluster.enqueue(NOTIFICATIONS, ID_PREFIX);
      const requests = () => cluster!.gotify.requests.length;
      const workerArgs = ['worker', '--channels', 'gotify', '--concurrency', '50'];

      const stuck = cluster.spawn(workerArgs, {}, { readStdout: false });
      // The baseline is the highest resident memory over the second half of the warm-up, not one
      // sample: a busy machine delays garbage collection, and a sample taken at a low point of the
      // heap's saw-tooth made a bounded worker look as if it grew.
      await cluster.gotify.waitForRequests(WARM_UP / 2, 120_000);
      const before = await peakResidentUntil(stuck.pid!, () => requests() >= WARM_UP, 120_000);
      const peak = await peakResidentUntil(stuck.pid!, () => requests() >= WARM_UP + MEASURED, 300_000);
      expect(peak - before, `resident memory grew from ${megabytes(before)} MB to ${megabytes(peak)} MB`).toBeLessThan(GROWTH_LIMIT_BYTES);

      // Read again: what waited comes out, then the count of what did not fit.
      const reports = keepLines(stuck.stdout!, (line) => line.includes('log lines dropped'));
      await until(
        async () => reports.length,
        (n) => n > 0,
        30_000,
      );
      const dropped = reports[0]!.droppedLines as number;
      expect(reports[0]).toMatchObject({ level: 40, msg: `${dropped} log lines dropped` });
      expect(dropped).toBeGreaterThan(0);

      // Stuck again (megabytes of lines since the pause, far beyond what the pipe holds), then SIGTERM.
      stuck.stdout!.pause();
      await cluster.gotify.waitForRequests(requests() + 5_000, 60_000);
      const stuckStop = await cluster.stopWithin(stuck, 'SIGTERM', SHUTDOWN_MS + STOP_MARGIN_MS);
      expect(stuckStop.code).toBe(0);

      // A reader that went away while lines waited: the writes fail with EPIPE.
      const broken = cluster.spawn(workerArgs, {}, { readStdout: false });
      await cluster.gotify.waitForRequests(requests() + 5_000, 60_000);
      broken.stdout!.destroy();
      const brokenStop = await cluster.stopWithin(broken, 'SIGTERM', SHUTDOWN_MS + STOP_MARGIN_MS);
      expect(brokenStop.code).toBe(0);

      // Nothing was lost on the way: once Gotify answers, every notification is delivered, once.
      cluster.gotify.requests.length = 0;
      cluster.gotify.fallback = { status: 200, body: '{"id":1}' };
      cluster.worker(50);
      const tally = await cluster.settle(ids, 90_000);
      record({
        scenario: 'stdout a pipe nobody reads (worker at debug, Gotify down)',
        load: `${NOTIFICATIONS} notifications, ${WARM_UP + MEASURED} deliveries retried while stuck`,
        faults: `stdout unread, then read, then unread + SIGTERM (exit 0 after ${stuckStop.stopMs} ms); stdout closed + SIGTERM (exit 0 after ${brokenStop.stopMs} ms)`,
        notifications: tally.total,
        delivered: tally.delivered,
        lost: tally.lost,
        duplicated: tally.duplicated,
        notes: `resident memory ${megabytes(before)} → at most ${megabytes(peak)} MB over ${MEASURED} deliveries; ${dropped} lines dropped, reported when read again; HERALD_SHUTDOWN_MS ${SHUTDOWN_MS}`,
      });
      expect(tally.lost).toBe(0);
      expect(tally.delivered).toBe(NOTIFICATIONS);
    },
    600_000,
  );
});
