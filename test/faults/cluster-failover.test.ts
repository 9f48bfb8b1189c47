/**
 * A primary of the Redis Cluster dies under load: Herald with 4 shards on three primaries and three
 * replicas, a real `herald api` and two `herald worker` processes, notifications posted over HTTP at
 * a steady rate. A primary serving at least one shard is SIGKILLed; its replica takes over its
 * slots; the killed node is started again, as a supervisor would, and rejoins as the new primary's
 * replica. Every notification the API accepted (202) must end delivered; the API must answer every
 * request (202 or 503) within the client's 10 s bound; deliveries the Gotify double saw twice are
 * counted and reported.
 *
 * The API acknowledges an enqueue only once a replica holds it (HERALD_REPLICA_ACKS=1, the default
 * on a cluster): the second scenario freezes a replica and shows what that costs and why it is safe.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cellPrefix, shardOf } from '../../src/shards.js';
import { API_KEY, FaultCluster, RECIPIENT } from './cluster.js';
import { record } from './report.js';
import { freePort } from '../helpers/redis-server.js';
import type { RedisCluster } from '../helpers/redis-cluster.js';

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

interface Posted {
  /** HTTP status, or 0 when no answer came within ANSWER_BOUND_MS (or the connection failed). */
  status: number;
  body: { duplicate?: boolean; error?: { code: string } } | null;
  ms: number;
}

/** POSTs one Gotify notification for RECIPIENT under `id`; never throws. */
async function postNotification(url: string, id: string): Promise<Posted> {
  const started = Date.now();
  try {
    const response = await fetch(`${url}/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, to: RECIPIENT, message: id, channels: ['gotify'] }),
      signal: AbortSignal.timeout(ANSWER_BOUND_MS),
    });
    return { status: response.status, body: (await response.json()) as Posted['body'], ms: Date.now() - started };
  } catch {
    return { status: 0, body: null, ms: Date.now() - started };
  }
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
    const request = postNotification(url, id).then(({ status, ms }) => {
      answers.push({ id, status, sentAt, latencyMs: ms });
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

/** The deployment on a Redis Cluster of its own, the recipient registered, the API up and `workers` workers. */
async function deploy(workers: number): Promise<{ running: FaultCluster; redisCluster: RedisCluster; url: string }> {
  const running = await FaultCluster.startOnRedisCluster({ shards: SHARDS });
  deployment = running;
  await running.registerRecipient();
  const { url } = await running.api(await freePort());
  for (let i = 0; i < workers; i++) running.worker();
  return { running, redisCluster: running.redisCluster!, url };
}

describe('Redis Cluster failover', () => {
  it('SIGKILL of a primary serving a shard under HTTP load: its replica takes over, Herald reconnects by itself, nothing accepted is lost', async () => {
    const { running, redisCluster, url } = await deploy(2);
    const load = steadyLoad(url, RATE_PER_SECOND);
    await running.gotify.waitForRequests(500, 60_000);

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
    // Until a replica is back, the promoted primary cannot copy an enqueue anywhere: its shards'
    // enqueues answer 503 after the 1 s wait. A supervisor starts the killed node again; it rejoins
    // as the new primary's replica.
    await victim.start();
    await redisCluster.waitHealthy();
    const replicaBackMs = Date.now() - killedAt;
    expect((await redisCluster.replicaOf(promoted)).port).toBe(victim.port);

    // Herald must reach the promoted replica by itself: notifications accepted from now on, some
    // of them on the failed-over shards, are delivered with no process restarted.
    const deliveredAtFailover = running.gotify.requests.length;
    await running.gotify.waitForRequests(deliveredAtFailover + 1000, 90_000);
    const answers = await load.stop();

    const accepted = answers.filter((a) => a.status === 202).map((a) => a.id);
    const unavailable = answers.filter((a) => a.status === 503).length;
    const unanswered = answers.filter((a) => a.status === 0).length;
    const other = answers.filter((a) => a.status !== 202 && a.status !== 503 && a.status !== 0);
    const aroundFailover = answers.filter((a) => a.sentAt >= killedAt - 1000 && a.sentAt <= killedAt + failoverMs + 1000);
    const slowest = Math.max(...answers.map((a) => a.latencyMs));
    const slowestAround = Math.max(0, ...aroundFailover.map((a) => a.latencyMs));
    const acceptedAfter = answers.filter((a) => a.status === 202 && a.sentAt > killedAt + failoverMs).length;

    const tally = await running.settle(accepted, 120_000);
    const summary = {
      requests: answers.length,
      accepted: accepted.length,
      acceptedAfterFailover: acceptedAfter,
      unavailable,
      unanswered,
      other: other.map((a) => a.status),
      failoverMs,
      replicaBackMs,
      shardsOnVictim,
      slowestAnswerMs: slowest,
      slowestAnswerAroundFailoverMs: slowestAround,
      ...tally,
    };
    console.log(`cluster failover: ${JSON.stringify(summary)}`);
    record({
      scenario: 'kill -9 a Redis Cluster primary under HTTP load (4 shards, 3 primaries + 3 replicas)',
      load: `${RATE_PER_SECOND}/s over HTTP, ${answers.length} requests, ${accepted.length} accepted; 1 API, 2 workers`,
      faults: `primary of shards ${shardsOnVictim.join(',')} SIGKILLed, replica serving after ${failoverMs} ms, the killed node back as its replica after ${replicaBackMs} ms; ${unavailable} answers 503, slowest answer ${slowestAround} ms`,
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'cluster-node-timeout 1 s; HERALD_REPLICA_ACKS=1: 202 only once a replica holds the enqueue; no Herald process restarted',
    });

    expect(unanswered).toBe(0);
    // An answer other than 202 or 503 names its cause in the API's log: show it with the failure.
    const failedRequests = running.output
      .join('')
      .split('\n')
      .filter((line) => line.includes('"request failed"'));
    expect(other, failedRequests.join('\n').slice(0, 4000)).toEqual([]);
    expect(acceptedAfter).toBeGreaterThan(0);
    expect(tally.lost).toBe(0);
    expect(tally.delivered).toBe(accepted.length);
  });

  it('a replica that cannot copy an enqueue: the API answers 503 within the wait, and the retry with the same id is a duplicate, sent once', async () => {
    const { running, redisCluster, url } = await deploy(1);
    const post = (id: string) => postNotification(url, id);
    // An id of shard 0, and shard 0's primary and replica.
    const id = Array.from({ length: 100 }, (_, i) => `frozen-${i}`).find((candidate) => shardOf(candidate, SHARDS) === 0)!;
    const primary = await redisCluster.primaryOfKey(`${cellPrefix('faults', 0, SHARDS)}:x`);
    const replica = await redisCluster.replicaOf(primary);
    expect((await post('warm-up')).status).toBe(202);

    // A frozen replica is a replica that is slow or cut off: it acknowledges nothing.
    replica.signal('SIGSTOP');
    let frozen: Posted;
    try {
      frozen = await post(id);
    } finally {
      replica.signal('SIGCONT');
    }
    await redisCluster.waitHealthy();
    // The primary holds the notification, but nothing guarantees it would survive a failover: not acknowledged.
    expect([frozen.status, frozen.body?.error?.code]).toEqual([503, 'HERALD_ERR_REDIS_UNAVAILABLE']);
    const retried = await post(id);
    expect([retried.status, retried.body?.duplicate]).toEqual([202, true]);
    const tally = await running.settle([id], 30_000);
    console.log(`frozen replica: 503 after ${frozen.ms} ms; the retry answered duplicate; ${JSON.stringify(tally)}`);
    record({
      scenario: "a Redis Cluster replica frozen (SIGSTOP) while its primary's shard takes an enqueue",
      load: '1 notification for shard 0 over HTTP, then its retry',
      faults: `replica of shard 0's primary stopped, then continued; the enqueue answered ${frozen.status} after ${frozen.ms} ms`,
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'HERALD_REPLICA_ACKS=1 waits up to 1 s for the replica; the retry with the same id answered duplicate, sent once',
    });
    expect(tally.delivered).toBe(1);
    expect(tally.duplicated).toBe(0);
  });
});
