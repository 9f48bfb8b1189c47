import { afterEach, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Harness, recordCommands, until } from '../helpers/harness.js';
import type { ReceivedRequest, ScriptedAnswer } from '../helpers/http-double.js';
import { Keys } from '../../src/store/keys.js';
import { createAdapters } from '../../src/run/adapters.js';
import { DEFAULT_JOB_OPTIONS, JOB_NAME, MAX_ITEMS_PER_JOB, type DeliveryItem, type DeliveryJobData } from '../../src/queue/queues.js';
import type { BatchResult } from '../../src/sdk/herald.js';
import type { EnqueueResult, NotificationInput, Status } from '../../src/types.js';

/** A notification whose id the test chose. */
type Input = NotificationInput & { id: string };

let h: Harness;
afterEach(async () => h?.close());

/** A BullMQ queue on the harness' deliver-gotify queue, on a connection of its own, closed with the harness. */
function gotifyQueue<T = DeliveryJobData>(harness: Harness): Queue<T> {
  const connection = new Redis(harness.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<T>(Keys.queueName('gotify'), { connection, prefix: harness.prefix });
  harness.onClose(async () => {
    await queue.close();
    connection.disconnect();
  });
  return queue;
}

/** The jobs waiting in a queue, as their items. */
async function waitingItems(queue: Queue<DeliveryJobData>): Promise<DeliveryItem[][]> {
  const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed'], 0, -1, true);
  return jobs.map((job) => (job.data as DeliveryJobData).items);
}

function enqueued(results: BatchResult[]): EnqueueResult[] {
  return results.map((r) => {
    if ('error' in r) throw new Error(`rejected: ${JSON.stringify(r.error)}`);
    return r;
  });
}

const messageOf = (request: ReceivedRequest) => (JSON.parse(request.body.toString('utf8')) as { message: string }).message;

/** Requests the double received, counted by message. */
function requestsByMessage(requests: ReceivedRequest[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of requests) counts.set(messageOf(request), (counts.get(messageOf(request)) ?? 0) + 1);
  return counts;
}

async function allDone(harness: Harness, ids: string[], status: Status['status'] = 'delivered', timeoutMs = 10_000): Promise<Status[]> {
  return Promise.all(ids.map((id) => harness.waitForStatus(id, status, timeoutMs)));
}

/**
 * Counts the requests the Gotify double holds open (received, not yet answered), answering each
 * after `delayMs`. The counter's own timer is armed before the double's answer timer, with the same
 * delay, so it always fires first: a request counts as open until the moment its answer is written.
 */
function measureInFlight(harness: Harness, delayMs: number): { open: () => number; most: () => number } {
  let open = 0;
  let most = 0;
  harness.gotify.respond = (): ScriptedAnswer => {
    open++;
    most = Math.max(most, open);
    setTimeout(() => open--, delayMs);
    return { status: 200, body: '{"id":1}', delayMs };
  };
  return { open: () => open, most: () => most };
}

describe('several deliveries per job', () => {
  it('queues a notifyMany of 120 as three jobs (50 + 50 + 20), then delivers each notification once', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const queue = gotifyQueue(h);
    const inputs = Array.from({ length: 120 }, (_, i): Input => ({ id: `many-${i}`, to: 'u-1', message: `m${i}`, channels: ['gotify'] }));
    const results = enqueued(await h.herald.notifyMany(inputs));
    expect(results.map((r) => [r.id, r.status, r.duplicate])).toEqual(inputs.map((n) => [n.id, 'queued', false]));

    // Before any worker runs: three jobs, in the order given, each item guarded by its record's token.
    const jobs = await waitingItems(queue);
    expect(MAX_ITEMS_PER_JOB).toBe(50);
    expect(jobs.map((items) => items.length)).toEqual([50, 50, 20]);
    expect(jobs.flat().map((item) => item.id)).toEqual(inputs.map((n) => n.id));
    expect(jobs.flat().every((item) => item.to === 'u-1' && item.token.length > 0)).toBe(true);
    const redis = await h.herald.connection();
    expect(await redis.hget(h.herald.keys.record('many-77'), 'token')).toBe(jobs[1]![27]!.token);
    expect(h.gotify.requests).toHaveLength(0);

    await h.startWorker(['gotify']);
    const statuses = await allDone(
      h,
      inputs.map((n) => n.id),
    );
    expect(statuses.every((s) => s.attempts.length === 1 && s.attempts[0]!.outcome === 'delivered')).toBe(true);
    expect(h.gotify.requests).toHaveLength(120);
    const counts = requestsByMessage(h.gotify.requests);
    expect([...counts.keys()].sort()).toEqual(inputs.map((n) => n.message).sort());
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    // A job completes just after its last delivery is recorded, so the queue empties a moment
    // after the statuses say delivered: wait for it rather than read it once.
    expect(
      await until(
        () => queue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized'),
        (n) => n === 0,
      ),
    ).toBe(0);
  });

  it('keeps provider requests in flight at the worker concurrency (3) while one job carries 30 deliveries', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const inFlight = measureInFlight(h, 100);
    const queue = gotifyQueue(h);
    const inputs = Array.from({ length: 30 }, (_, i): Input => ({ id: `slow-${i}`, to: 'u-1', message: `slow ${i}`, channels: ['gotify'] }));
    enqueued(await h.herald.notifyMany(inputs));
    expect((await waitingItems(queue)).map((items) => items.length)).toEqual([30]);

    // The HTTP pool is wider than the concurrency, so only the worker's slots can hold requests back.
    const adapters = createAdapters(h.config, ['gotify'], 50);
    await h.startWorker(['gotify'], adapters, 3);
    const statuses = await allDone(
      h,
      inputs.map((n) => n.id),
    );
    expect(statuses.every((s) => s.attempts.length === 1)).toBe(true);
    expect(h.gotify.requests).toHaveLength(30);
    expect(inFlight.most()).toBeLessThanOrEqual(3);
    // …and the slots are used: three at a time, not one.
    expect(inFlight.most()).toBe(3);
  });

  it("starts a delivery's provider deadline only once it holds a slot (no timeouts while queued behind others)", async () => {
    // 30 deliveries at 3 at a time take about a second; each is answered in 100 ms, well inside the
    // 500 ms deadline, but a deadline started while waiting for the HTTP pool (of 3 connections)
    // would fire for the later ones.
    h = await Harness.create({ env: { HERALD_PROVIDER_TIMEOUT_MS: '500' } });
    await h.register('u-1');
    const inFlight = measureInFlight(h, 100);
    const inputs = Array.from({ length: 30 }, (_, i): Input => ({ id: `queued-${i}`, to: 'u-1', message: `queued ${i}`, channels: ['gotify'] }));
    enqueued(await h.herald.notifyMany(inputs));
    await h.startWorker(['gotify'], undefined, 3);
    const statuses = await allDone(
      h,
      inputs.map((n) => n.id),
    );
    expect(statuses.map((s) => s.attempts.map((a) => a.outcome))).toEqual(inputs.map(() => ['delivered']));
    expect(h.gotify.requests).toHaveLength(30);
    expect(inFlight.most()).toBeLessThanOrEqual(3);
  });

  it('settles each delivery of one job on its own: delivered, retried once then delivered, permanent then dead-lettered', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const queue = gotifyQueue(h);
    const flakyAnswered = new Set<string>();
    h.gotify.respond = (request) => {
      const message = messageOf(request);
      if (message.startsWith('bad')) return { status: 401, body: '{"error":"Unauthorized"}' };
      if (message.startsWith('flaky') && !flakyAnswered.has(message)) {
        flakyAnswered.add(message);
        return { status: 503 };
      }
      return { status: 200, body: '{"id":1}' };
    };
    const kinds = ['ok', 'flaky', 'bad'] as const;
    // Interleaved, so each kind sits at several places in the job.
    const inputs = Array.from({ length: 9 }, (_, i): Input => {
      const kind = kinds[i % 3]!;
      // No email is configured: the 401s fall back to email, which is skipped, and end failed.
      return { id: `${kind}-${i}`, to: 'u-1', message: `${kind} ${i}`, channels: kind === 'bad' ? ['gotify', 'email'] : ['gotify'] };
    });
    enqueued(await h.herald.notifyMany(inputs));
    const jobs = await waitingItems(queue);
    expect(jobs.map((items) => items.map((item) => item.id))).toEqual([inputs.map((n) => n.id)]);
    const redis = await h.herald.connection();
    const firstTokens = new Map(jobs[0]!.map((item) => [item.id, item.token]));

    await h.startWorker(['gotify']);
    for (const { id } of inputs) {
      const kind = id.split('-')[0];
      const final = await h.waitForStatus(id, kind === 'bad' ? 'failed' : 'delivered');
      const record = await redis.hgetall(h.herald.keys.record(id));
      const shape = final.attempts.map((a) => [a.channel, a.outcome, a.statusCode ?? null, a.code ?? null]);
      if (kind === 'ok') {
        expect(shape, id).toEqual([['gotify', 'delivered', 200, null]]);
        expect(record.tries ?? '0', id).toBe('0');
        expect(record.token, id).toBe(firstTokens.get(id));
      } else if (kind === 'flaky') {
        expect(shape, id).toEqual([
          ['gotify', 'transient', 503, 'HERALD_GOTIFY_HTTP_503'],
          ['gotify', 'delivered', 200, null],
        ]);
        // The retry was a job of its own under a new token; the try count lives in the record.
        expect(record.tries, id).toBe('1');
        expect(record.token, id).not.toBe(firstTokens.get(id));
      } else {
        expect(shape, id).toEqual([
          ['gotify', 'permanent', 401, 'HERALD_GOTIFY_HTTP_401'],
          ['email', 'skipped', null, 'HERALD_CHANNEL_DISABLED'],
        ]);
        expect((await h.herald.deadLetters.get(id))?.attempts, id).toHaveLength(2);
      }
    }
    const counts = requestsByMessage(h.gotify.requests);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(inputs.map((n) => [n.message, n.id.startsWith('flaky') ? 2 : 1])));
    expect(await h.herald.deadLetters.count()).toBe(3);
  });
});

describe('a batch of very large notifications', () => {
  it('is enqueued as several transactions of bounded size, in order, each notification once; an ordinary batch stays one', async () => {
    h = await Harness.create();
    await h.herald.notify({ id: 'warm-up', targets: { gotify: { token: 'A-token-0123' } }, message: 'warm-up', channels: ['gotify'] });
    const redis = (await h.herald.connection()) as Redis;
    const transactionsOf = async (inputs: Input[]): Promise<{ results: EnqueueResult[]; transactions: number }> => {
      const recorder = recordCommands(redis);
      try {
        const results = enqueued(await h.herald.notifyMany(inputs));
        return { results, transactions: recorder.names.filter((name) => name === 'exec').length };
      } finally {
        recorder.stop();
      }
    };
    // 300 notifications of 8000 characters each: about 2.4 million characters, far past one transaction's bound.
    const big = Array.from(
      { length: 300 },
      (_, i): Input => ({
        id: `big-${i}`,
        targets: { gotify: { token: 'A-token-0123' } },
        message: `${i} ${'x'.repeat(3000)}`.padEnd(4000, 'é'),
        title: 'é'.repeat(250),
        url: `https://example.org/${'p'.repeat(2000)}`,
        channels: ['gotify'],
      }),
    );
    const split = await transactionsOf(big);
    expect(split.transactions).toBeGreaterThan(1);
    expect(split.results.map((r) => [r.id, r.status, r.duplicate])).toEqual(big.map((n) => [n.id, 'queued', false]));
    const queue = gotifyQueue(h);
    const queuedIds = (await waitingItems(queue)).flat().map((item) => item.id);
    expect(queuedIds.filter((id) => id.startsWith('big-')).sort()).toEqual(big.map((n) => n.id).sort());
    expect((await h.herald.status('big-299'))?.status).toBe('queued');

    const ordinary = Array.from(
      { length: 1000 },
      (_, i): Input => ({ id: `small-${i}`, targets: { gotify: { token: 'A-token-0123' } }, message: `small ${i}` }),
    );
    expect((await transactionsOf(ordinary)).transactions).toBe(1);
  });
});

describe('notify calls of one event-loop turn', () => {
  it('share one Redis transaction, each caller getting its own result, a repeated id reported as a duplicate and delivered once', async () => {
    h = await Harness.create();
    await h.register('u-1');
    // Warm-up: the connection is ready and the scripts are loaded before counting.
    await h.herald.notify({ id: 'warm-up', to: 'u-1', message: 'warm-up', channels: ['gotify'] });
    const redis = (await h.herald.connection()) as Redis;
    const recorder = recordCommands(redis);
    const sent = recorder.names;

    // 20 calls, the last repeating the first id with another message.
    const inputs = Array.from({ length: 19 }, (_, i): Input => ({ id: `turn-${i}`, to: 'u-1', message: `turn ${i}`, channels: ['gotify'] }));
    inputs.push({ id: 'turn-0', to: 'u-1', message: 'second copy of turn 0', channels: ['gotify'] });
    let results: EnqueueResult[];
    try {
      results = await Promise.all(inputs.map((input) => h.herald.notify(input)));
    } finally {
      recorder.stop();
    }

    expect(sent.filter((name) => name === 'exec')).toHaveLength(1);
    expect(sent.filter((name) => name === 'multi')).toHaveLength(1);
    expect(results.map((r) => r.id)).toEqual(inputs.map((n) => n.id));
    expect(results.map((r) => r.duplicate)).toEqual([...Array.from({ length: 19 }, () => false), true]);
    expect(results.every((r) => r.status === 'queued')).toBe(true);

    // The repeated id was neither claimed again nor queued: one delivery waits per id.
    const queue = gotifyQueue(h);
    expect(
      (await waitingItems(queue))
        .flat()
        .map((item) => item.id)
        .sort(),
    ).toEqual(['warm-up', ...inputs.slice(0, 19).map((n) => n.id)].sort());

    await h.startWorker(['gotify']);
    await allDone(h, ['warm-up', ...inputs.slice(0, 19).map((n) => n.id)]);
    await until(
      () => queue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized'),
      (n) => n === 0,
    );
    const counts = requestsByMessage(h.gotify.requests);
    expect(counts.get('turn 0')).toBe(1);
    expect(counts.has('second copy of turn 0')).toBe(false);
    expect(h.gotify.requests).toHaveLength(20);
    expect((await h.herald.status('turn-0'))?.attempts).toHaveLength(1);
  });
});

describe('jobs queued before batching', () => {
  it('delivers a legacy job whose data is a single {id, token, to}', async () => {
    h = await Harness.create();
    await h.herald.recipients.set('u-legacy', { gotify: { token: 'AlegacyUser' } });
    const { id } = await h.herald.notify({ id: 'legacy-1', to: 'u-legacy', message: 'from an old job', channels: ['gotify'] });
    const redis = await h.herald.connection();
    const token = await redis.hget(h.herald.keys.record(id), 'token');
    expect(token).toBeTruthy();

    // Replace the batch job the SDK queued with one of the shape older versions queued.
    const queue = gotifyQueue<DeliveryJobData | DeliveryItem>(h);
    expect(await queue.getJobCountByTypes('waiting')).toBe(1);
    await queue.drain(true);
    expect(await queue.getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(0);
    await queue.add(JOB_NAME, { id, token: token!, to: 'u-legacy' }, DEFAULT_JOB_OPTIONS);

    await h.startWorker(['gotify']);
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => [a.channel, a.outcome])).toEqual([['gotify', 'delivered']]);
    expect(h.gotify.requests).toHaveLength(1);
    expect(messageOf(h.gotify.requests[0]!)).toBe('from an old job');
    // The job's `to` was honoured: the recipient's own Gotify token was used.
    expect(h.gotify.requests[0]!.headers['x-gotify-key']).toBe('AlegacyUser');
  });
});
