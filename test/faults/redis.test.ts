import { afterEach, describe, expect, it } from 'vitest';
import { FaultCluster, API_KEY, RECIPIENT } from './cluster.js';
import { record } from './report.js';
import { freePort } from '../helpers/redis-server.js';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

interface ProducerResult {
  acknowledged: string[];
  unavailable: number;
  maxLatencyMs: number;
  outageMaxLatencyMs: number;
}

/** Posts notifications to the API until stopped, remembering which ones were acknowledged (202). */
function produce(url: string, prefix: string, concurrency: number, isOutage: () => boolean): { stop: () => Promise<ProducerResult> } {
  let running = true;
  const result: ProducerResult = { acknowledged: [], unavailable: 0, maxLatencyMs: 0, outageMaxLatencyMs: 0 };
  let next = 0;
  const loop = async () => {
    while (running) {
      const id = `${prefix}-${next++}`;
      const started = Date.now();
      const outage = isOutage();
      const status = await fetch(`${url}/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, to: RECIPIENT, message: id, channels: ['gotify'] }),
        signal: AbortSignal.timeout(10_000),
      }).then(
        (r) => r.status,
        () => 0,
      );
      const latency = Date.now() - started;
      result.maxLatencyMs = Math.max(result.maxLatencyMs, latency);
      if (outage) result.outageMaxLatencyMs = Math.max(result.outageMaxLatencyMs, latency);
      if (status === 202) result.acknowledged.push(id);
      else if (status === 503) {
        result.unavailable++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

describe('Redis restarts', () => {
  it('kill -9 of Redis under load: API answers 503 without hanging, workers recover, nothing acknowledged is lost', async () => {
    cluster = await FaultCluster.start();
    await cluster.registerRecipient();
    const { url } = await cluster.api(await freePort());
    cluster.worker();
    let outage = false;
    const producer = produce(url, 'restart', 8, () => outage);
    await cluster.gotify.waitForRequests(300, 60_000);
    outage = true;
    await cluster.redis.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 2000));
    await cluster.redis.start();
    outage = false;
    await cluster.gotify.waitForRequests(cluster.gotify.requests.length + 300, 60_000);
    const produced = await producer.stop();
    const tally = await cluster.settle(produced.acknowledged, 90_000);
    record({
      scenario: 'kill -9 Redis under HTTP load, restart on the same AOF',
      load: `8 HTTP producers, ${produced.acknowledged.length} acknowledged`,
      faults: `Redis SIGKILL, 2 s down; ${produced.unavailable} answers 503 (slowest ${produced.outageMaxLatencyMs} ms)`,
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'appendfsync always; workers and API reconnect by themselves',
    });
    expect(produced.unavailable).toBeGreaterThan(0);
    expect(produced.outageMaxLatencyMs).toBeLessThan(2000);
    expect(tally.lost).toBe(0);
  });

  it('Redis away longer than the workers idle poll: workers resume by themselves', async () => {
    cluster = await FaultCluster.start();
    cluster.worker();
    const before = await cluster.enqueue(50, 'before');
    await cluster.settle(before, 30_000);
    await cluster.redis.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 12_000));
    await cluster.redis.start();
    const after = await cluster.enqueue(200, 'after');
    const tally = await cluster.settle(after, 60_000);
    record({
      scenario: 'Redis down 12 s while workers idle',
      load: '200 enqueued after the restart',
      faults: 'Redis stopped 12 s (longer than the idle poll)',
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'no worker restart needed',
    });
    expect(tally.lost).toBe(0);
    expect(tally.delivered).toBe(200);
  });
});
