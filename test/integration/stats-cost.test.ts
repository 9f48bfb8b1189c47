/**
 * Measures what recording statistics costs: the same deliveries run with statistics on and with
 * them switched off, on a Redis of this test's own, counting (a) the requests this process writes
 * to Redis from the worker's connections — each write is one round trip, a pipeline or MULTI
 * included — and (b) the commands Redis executed, from INFO. Statistics must add commands inside
 * the transition script only, never a request.
 */
import { mkdtempSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { StatsDeltaBuilder } from '../../src/store/stats-counters.js';
import { Harness, until } from '../helpers/harness.js';
import { freePort, RedisProcess } from '../helpers/redis-server.js';

const N = 200;

let h: Harness | undefined;
let server: RedisProcess | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
  await server?.stop();
});

interface Cost {
  requestsPerDelivery: number;
  commandsPerDelivery: number;
  scriptCallsPerDelivery: number;
  hincrbyPerDelivery: number;
}

function commandStats(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_(\S+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

/** Delivers N notifications (first try) after a warm-up and returns what they cost. */
async function measure(harness: Harness, admin: Redis, sdkPort: number): Promise<Cost> {
  await harness.register(...Array.from({ length: 5 }, (_, i) => `w-${i}`), ...Array.from({ length: N }, (_, i) => `u-${i}`));
  const warm = await harness.herald.notifyMany(Array.from({ length: 5 }, (_, i) => ({ to: `w-${i}`, message: 'warm-up', channels: ['gotify'] })));
  for (const r of warm) if ('id' in r) await harness.waitForStatus(r.id, 'delivered');

  const redisPort = Number(new URL(harness.redisUrl).port);
  let requests = 0;
  const write = Socket.prototype.write;
  const spy = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: Parameters<Socket['write']>) {
    // Only the worker's connections: the SDK's (enqueue, status polls) and this test's INFO are left out.
    if (this.remotePort === redisPort && this.localPort !== sdkPort && this !== (admin.stream as Socket)) requests++;
    return write.apply(this, args);
  });
  const before = commandStats(await admin.info('commandstats'));

  const results = await harness.herald.notifyMany(Array.from({ length: N }, (_, i) => ({ to: `u-${i}`, message: `m-${i}`, channels: ['gotify'] })));
  for (const r of results) if ('id' in r) await harness.waitForStatus(r.id, 'delivered');
  await until(
    () => harness.herald.stats(60),
    (s) => s.queues['deliver-gotify']!.active === 0,
  );

  const after = commandStats(await admin.info('commandstats'));
  spy.mockRestore();
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const total = [...after.keys()].reduce((sum, name) => sum + delta(name), 0);
  return {
    requestsPerDelivery: requests / N,
    commandsPerDelivery: total / N,
    scriptCallsPerDelivery: (delta('evalsha') + delta('eval')) / N,
    hincrbyPerDelivery: delta('hincrby') / N,
  };
}

async function run(statsOn: boolean): Promise<Cost> {
  server = new RedisProcess(await freePort(), mkdtempSync(join(tmpdir(), 'herald-cost-')));
  await server.start();
  h = await Harness.create({ redisUrl: server.url });
  if (!statsOn) vi.spyOn(StatsDeltaBuilder.prototype, 'build').mockReturnValue(undefined as never);
  const sdk = (await h.herald.connection()) as Redis;
  const admin = new Redis(server.url);
  try {
    await h.startWorker(['gotify'], undefined, 1);
    return await measure(h, admin, (sdk.stream as Socket).localPort!);
  } finally {
    admin.disconnect();
    await h.close();
    await server.stop();
    h = undefined;
    server = undefined;
  }
}

describe('cost of statistics', () => {
  it('adds no Redis round trip per delivery attempt: only commands inside the transition script', async () => {
    const on = await run(true);
    const off = await run(false);
    console.log(`statistics cost over ${N} first-try deliveries — on: ${JSON.stringify(on)}; off: ${JSON.stringify(off)}`);

    // One more request per delivery would show as +1.0; BullMQ's own timers (idle fetches, lock
    // renewals) make either run vary by a few requests in all, hence the margin of 1 in 20.
    expect(Math.abs(on.requestsPerDelivery - off.requestsPerDelivery)).toBeLessThan(0.05);
    expect(Math.abs(on.scriptCallsPerDelivery - off.scriptCallsPerDelivery)).toBeLessThan(0.05);
    // The counters are bumped inside the transition script: attempts, outcome, latency bucket,
    // latency sum and ended, in the minute, hour and totals hashes: 5 × 3 per delivery when each
    // delivery is committed alone, as with this worker's concurrency of 1 (deliveries committed
    // together share them). BullMQ's own HINCRBYs are the same in both runs.
    const statsHincrby = on.hincrbyPerDelivery - off.hincrbyPerDelivery;
    expect(statsHincrby).toBeGreaterThan(0);
    expect(statsHincrby).toBeLessThanOrEqual(5 * 3 + 0.01);
  });
});
