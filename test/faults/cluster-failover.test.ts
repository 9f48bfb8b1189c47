/**
 * A primary of the Redis Cluster dies under load: Herald with 4 shards on three primaries and three
 * replicas, a real `herald api` and two `herald worker` processes, notifications posted over HTTP at
 * a steady rate. A primary serving at least one shard is SIGKILLed; its replica takes over its
 * slots. Every notification the API accepted (202) must end delivered; the API must answer every
 * request (202 or 503) within the client's 10 s bound; deliveries the Gotify double saw twice are
 * counted and reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cellPrefix } from '../../src/shards.js';
import { API_KEY, FaultCluster, RECIPIENT } from './cluster.js';
import { record } from './report.js';
import { freePort } from '../helpers/redis-server.js';

const SHARDS = 4;
const RATE_PER_SECOND = 100;
/** A request not answered within this long is a hang: the client gives up and counts it. */
const ANSWER_BOUND_MS = 10_000;

let deployment: FaultCluster | undefined;
afterEach(async () => {
  await deployment?.close();
  deployment = undefined;
});

interface Answer {
  id: string;
  /** HTTP status, or 0 when no answer came within ANSWER_BOUND_MS (or the connection failed). */
  status: number;
  sentAt: number;
  latencyMs: number;
}

/**
 * Open-loop load: one POST every 1000/rate ms whatever the answers, so a slow API sees requests
 * pile up as a real producer's would, each with its own id.
 */
function steadyLoad(url: string, rate: number): { answers: Answer[]; stop: () => Promise<Answer[]> } {
  const answers: Answer[] = [];
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  const post = (id: string) => {
    const sentAt = Date.now();
    const request = fetch(`${url}/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, to: RECIPIENT, message: id, channels: ['gotify'] }),
      signal: AbortSignal.timeout(ANSWER_BOUND_MS),
    })
      .then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => 0,
      )
      .then((status) => {
        answers.push({ id, status, sentAt, latencyMs: Date.now() - sentAt });
      });
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
  };
  const timer = setInterval(() => post(`failover-${next++}`), 1000 / rate);
  return {
    answers,
    stop: async () => {
      clearInterval(timer);
      await Promise.all(inFlight);
      return answers;
    },
  };
}

describe('Redis Cluster failover', () => {
  it('SIGKILL of a primary serving a shard under HTTP load: its replica takes over, Herald reconnects by itself, nothing accepted is lost', async () => {
    deployment = await FaultCluster.startOnRedisCluster({ shards: SHARDS });
    const redisCluster = deployment.redisCluster!;
    await deployment.registerRecipient();
    const { url } = await deployment.api(await freePort());
    deployment.worker();
    deployment.worker();
    const load = steadyLoad(url, RATE_PER_SECOND);
    await deployment.gotify.waitForRequests(500, 60_000);

    // The primary of shard 0: every key of the shard hashes to the slot of its tag.
    const shardSlot = await redisCluster.slotOf(`${cellPrefix('faults', 0, SHARDS)}:x`);
    const victim = await redisCluster.primaryOfSlot(shardSlot);
    const shardsOnVictim: number[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      if ((await redisCluster.primaryOfKey(`${cellPrefix('faults', shard, SHARDS)}:x`)).port === victim.port) shardsOnVictim.push(shard);
    }
    const killedAt = Date.now();
    const { promoted, failoverMs } = await redisCluster.killPrimary(victim);
    expect((await redisCluster.primaryOfSlot(shardSlot)).port).toBe(promoted.port);

    // Herald must reach the promoted replica by itself: notifications accepted from now on, some
    // of them on the failed-over shards, are delivered with no process restarted.
    const deliveredAtFailover = deployment.gotify.requests.length;
    await deployment.gotify.waitForRequests(deliveredAtFailover + 1000, 90_000);
    const answers = await load.stop();

    const accepted = answers.filter((a) => a.status === 202).map((a) => a.id);
    const unavailable = answers.filter((a) => a.status === 503).length;
    const unanswered = answers.filter((a) => a.status === 0).length;
    const other = answers.filter((a) => a.status !== 202 && a.status !== 503 && a.status !== 0);
    const aroundFailover = answers.filter((a) => a.sentAt >= killedAt - 1000 && a.sentAt <= killedAt + failoverMs + 1000);
    const slowest = Math.max(...answers.map((a) => a.latencyMs));
    const slowestAround = Math.max(0, ...aroundFailover.map((a) => a.latencyMs));
    const acceptedAfter = answers.filter((a) => a.status === 202 && a.sentAt > killedAt + failoverMs).length;

    const tally = await deployment.settle(accepted, 120_000);
    const summary = {
      requests: answers.length,
      accepted: accepted.length,
      acceptedAfterFailover: acceptedAfter,
      unavailable,
      unanswered,
      other: other.map((a) => a.status),
      failoverMs,
      shardsOnVictim,
      slowestAnswerMs: slowest,
      slowestAnswerAroundFailoverMs: slowestAround,
      ...tally,
    };
    console.log(`cluster failover: ${JSON.stringify(summary)}`);
    record({
      scenario: 'kill -9 a Redis Cluster primary under HTTP load (4 shards, 3 primaries + 3 replicas)',
      load: `${RATE_PER_SECOND}/s over HTTP, ${answers.length} requests, ${accepted.length} accepted; 1 API, 2 workers`,
      faults: `primary of shards ${shardsOnVictim.join(',')} SIGKILLed, replica serving after ${failoverMs} ms; ${unavailable} answers 503, slowest answer ${slowestAround} ms`,
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'cluster-node-timeout 1 s; no process restarted; duplicates: deliveries whose completion was written to the dead primary',
    });

    expect(unanswered).toBe(0);
    expect(other).toEqual([]);
    expect(acceptedAfter).toBeGreaterThan(0);
    expect(tally.lost).toBe(0);
    expect(tally.delivered).toBe(accepted.length);
  });
});
