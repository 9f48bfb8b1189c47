/**
 * Small helpers shared by the benchmark's processes: one clock, statistics, free ports, bounded
 * waits. Everything here is dependency-free so every child process can import it cheaply.
 */
import { createServer } from 'node:net';

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Latency is measured across processes
 * (producer → sink), so every process must read the same clock: the epoch, not a process-local
 * monotonic origin. `timeOrigin + now()` is the epoch with microsecond precision.
 */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The number given as `--name N` on the command line, else `fallback`. */
export function numberOption(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; never waits forever. */
export async function waitFor(what, check, timeoutMs, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Percentile by nearest rank on a sorted copy; `p` in 0..100. Null for no samples. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values) {
  const present = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (present.length === 0) return null;
  const sorted = [...present].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

/**
 * Steady-state rate of a run from its event times: the first `warmupFraction` of events (connection
 * set-up, JIT warm-up, the worker's first fetches) is left out, then events per second between the
 * first and the last counted one.
 */
export function steadyRate(times, warmupFraction = 0.1) {
  if (times.length < 20) return null;
  const sorted = Float64Array.from(times).sort();
  const from = Math.floor(sorted.length * warmupFraction);
  const spanMs = sorted[sorted.length - 1] - sorted[from];
  return spanMs > 0 ? ((sorted.length - 1 - from) * 1000) / spanMs : null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Benchmark notification ids: `bench.<tag>.<index>`, so a sink can tell runs and order apart. */
export const ID_PATTERN = /bench\.([a-z0-9]+)\.(\d+)/;

export function benchId(tag, index) {
  return `bench.${tag}.${index}`;
}

/**
 * In a child process: exit when the parent goes away (its IPC channel closes), so no benchmark
 * process outlives the run even when the orchestrator is killed.
 */
export function exitWithParent() {
  process.on('disconnect', () => process.exit(0));
}

/**
 * In a child process: answer the parent's `{ rpc, call, args }` messages with `{ rpc, result }` or
 * `{ rpc, error }`, by calling `handlers[call]`.
 */
export function serveParent(handlers) {
  exitWithParent();
  process.on('message', async (message) => {
    if (!message || typeof message.rpc !== 'number') return;
    try {
      const handler = handlers[message.call];
      if (!handler) throw new Error(`no handler for ${message.call}`);
      const result = await handler(...(message.args ?? []));
      process.send({ rpc: message.rpc, result });
    } catch (err) {
      process.send({ rpc: message.rpc, error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
    }
  });
  process.send({ ready: true });
}
