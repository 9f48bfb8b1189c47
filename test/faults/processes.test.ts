import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { FaultCluster } from './cluster.js';
import { record } from './report.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const LOAD = 3000;

describe('workers killed and stopped under load', () => {
  it('SIGKILL of workers mid-flight: every notification ends, none lost', async () => {
    cluster = await FaultCluster.start();
    cluster.gotify.fallback = { status: 200, body: '{"id":1}', delayMs: 2 };
    const ids = await cluster.enqueue(LOAD, 'kill');
    const first = cluster.worker();
    const second = cluster.worker();
    await cluster.gotify.waitForRequests(LOAD / 4, 60_000);
    await cluster.stop(first, 'SIGKILL');
    await cluster.gotify.waitForRequests(LOAD / 2, 60_000);
    await cluster.stop(second, 'SIGKILL');
    cluster.worker();
    const tally = await cluster.settle(ids, 90_000);
    record({
      scenario: 'SIGKILL two workers mid-flight',
      load: `${LOAD} queued, 2 workers × 20`,
      faults: '2 × SIGKILL, 1 replacement worker',
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'duplicates are deliveries in flight at the kill (at-least-once)',
    });
    expect(tally.lost).toBe(0);
    expect(tally.delivered).toBe(LOAD);
  });

  it('SIGTERM under load: in-flight deliveries finish within the deadline, nothing lost', async () => {
    cluster = await FaultCluster.start({ env: { HERALD_SHUTDOWN_MS: '5000' } });
    cluster.gotify.fallback = { status: 200, body: '{"id":1}', delayMs: 20 };
    const ids = await cluster.enqueue(LOAD, 'term');
    const worker = cluster.worker(50);
    await cluster.gotify.waitForRequests(500, 60_000);
    const { code, stopMs } = await cluster.stopWithin(worker, 'SIGTERM', 5000 + 2000);
    expect(code).toBe(0);
    cluster.worker(50);
    const tally = await cluster.settle(ids, 90_000);
    record({
      scenario: 'SIGTERM a worker under load',
      load: `${LOAD} queued, 50 in flight`,
      faults: `SIGTERM (exit 0 after ${stopMs} ms)`,
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'graceful stop: in-flight deliveries finish',
    });
    expect(tally.lost).toBe(0);
    expect(tally.duplicated).toBe(0);
  });

  it('refuses to start against a Redis that may evict keys', async () => {
    cluster = await FaultCluster.start({ redisArgs: ['--maxmemory-policy', 'allkeys-lru'] });
    const worker = cluster.worker();
    const [code] = (await once(worker, 'exit')) as [number];
    expect(code).toBe(1);
    expect(cluster.output.join('')).toContain('maxmemory-policy is "allkeys-lru"');
    const api = cluster.spawn(['api'], { HERALD_PORT: '0' });
    const [apiCode] = (await once(api, 'exit')) as [number];
    expect(apiCode).toBe(1);
    record({
      scenario: 'Redis with maxmemory-policy allkeys-lru',
      load: '-',
      faults: 'eviction policy',
      notifications: 0,
      delivered: 0,
      lost: 0,
      duplicated: 0,
      notes: '`herald worker` and `herald api` refuse to start and say how to fix it',
    });
  });
});
