import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Herald, HeraldError } from '../../src/index.js';
import { Harness, PUBLISH_KEY, recordCommands } from '../helpers/harness.js';
import { freePort } from '../helpers/redis-server.js';
import { MAX_ITEMS_PER_JOB } from '../../src/queue/queues.js';

let h: Harness;
afterEach(async () => h?.close());

describe('SDK', () => {
  it('enqueues a whole batch in one Redis round trip', async () => {
    h = await Harness.create();
    const redis = new Redis(h.redisUrl);
    const herald = new Herald({ redis, prefix: h.prefix });
    try {
      await herald.notify({ to: 'u', message: 'warm-up' });
      const recorder = recordCommands(redis);
      const results = await herald.notifyMany(Array.from({ length: 100 }, (_, i) => ({ id: `batch-${i}`, to: 'u', message: `m${i}` })));
      recorder.stop();
      const sent = recorder.names;
      expect(results).toHaveLength(100);
      expect(results.every((r) => 'id' in r && !r.duplicate)).toBe(true);
      // One MULTI … EXEC block, written at once: the claim script and one job insert per
      // MAX_ITEMS_PER_JOB notifications (same channel, no delay).
      expect(sent[0]).toBe('multi');
      expect(sent.at(-1)).toBe('exec');
      expect(sent.filter((name) => name === 'exec')).toHaveLength(1);
      expect(sent.length).toBe(2 + 1 + Math.ceil(100 / MAX_ITEMS_PER_JOB));
      expect((await herald.status('batch-42'))?.status).toBe('queued');
    } finally {
      await herald.close();
      redis.disconnect();
    }
  });

  it('throws HeraldError with the code and details of the HTTP 400, and enqueues nothing', async () => {
    h = await Harness.create();
    // A JavaScript caller's mistake, which TypeScript refuses: validated at run time all the same.
    // @ts-expect-error priority is a number
    const error = await h.herald.notify({ to: 'u', message: 'x', priority: 'high' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).code).toBe('HERALD_ERR_VALIDATION');
    expect((error as HeraldError).details).toEqual([{ field: 'priority', message: expect.any(String) }]);
    const redis = await h.herald.connection();
    expect(await redis.keys(`${h.prefix}:n:*`)).toEqual([]);
  });

  it('refuses an enqueue linger that is not 0 to 1000 ms, naming the option', () => {
    expect(() => new Herald({ enqueueLingerMs: -1 })).toThrow(/enqueueLingerMs must be a number of milliseconds from 0 to 1000, got -1/);
    expect(() => new Herald({ enqueueLingerMs: Number.NaN })).toThrow(RangeError);
  });

  it('refuses a key prefix that HERALD_PREFIX would refuse, since no worker could share it', () => {
    expect(() => new Herald({ prefix: 'app:herald' })).toThrow(/prefix must be 1-64 characters of letters, digits, _ \. - \{ \}, got "app:herald"/);
    expect(() => new Herald({ prefix: '' })).toThrow(RangeError);
  });

  it('refuses retention and subscription limits outside the bounds of their environment variables, naming the option', () => {
    expect(() => new Herald({ statusRetentionSeconds: 30 })).toThrow(/statusRetentionSeconds must be a whole number of seconds from 60 to 31536000, got 30/);
    expect(() => new Herald({ deadLetterRetentionSeconds: 90.5 })).toThrow(
      /deadLetterRetentionSeconds must be a whole number of seconds from 60 to 31536000, got 90.5/,
    );
    expect(() => new Herald({ webpushMaxSubscriptions: 0 })).toThrow(/webpushMaxSubscriptions must be a whole number from 1 to 1000, got 0/);
  });

  it('reports a Redis it cannot reach as HERALD_ERR_REDIS_UNAVAILABLE', async () => {
    h = await Harness.create();
    const herald = new Herald({ redis: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 300 });
    try {
      const error = await herald.notify({ to: 'u', message: 'x' }).catch((e: unknown) => e);
      expect((error as HeraldError).code).toBe('HERALD_ERR_REDIS_UNAVAILABLE');
    } finally {
      await herald.close();
    }
  });

  it('makes callers that arrive while it connects share one wait, and wait anew after a failed one', async () => {
    h = await Harness.create();
    // A Redis that is not there yet: its port is free until the test starts a server on it.
    const port = await freePort();
    const redis = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
    redis.on('error', () => {});
    const herald = new Herald({ redis, connectTimeoutMs: 300 });
    try {
      const listeners = () => [redis.listenerCount('ready'), redis.listenerCount('end')];
      const [ready, end] = listeners();
      const waiting = Array.from({ length: 100 }, () => herald.connection().catch((e: unknown) => e));
      expect(listeners()).toEqual([ready! + 1, end! + 1]);
      const failures = await Promise.all(waiting);
      expect(failures.every((e) => (e as HeraldError).code === 'HERALD_ERR_REDIS_UNAVAILABLE')).toBe(true);
      expect(listeners()).toEqual([ready, end]);
      // The failed wait is not kept: the next caller waits anew (and fails again, Redis being still away).
      const again = herald.connection().catch((e: unknown) => e);
      expect(listeners()).toEqual([ready! + 1, end! + 1]);
      expect(((await again) as HeraldError).code).toBe('HERALD_ERR_REDIS_UNAVAILABLE');
    } finally {
      await herald.close();
      redis.disconnect();
    }
  });
});

describe('herald start', () => {
  it('runs the API and the workers in one process and stops cleanly on SIGINT', async () => {
    h = await Harness.create();
    await h.register('u');
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/src/cli.js', 'start'], {
      env: { ...process.env, ...h.env, HERALD_PORT: String(port), HERALD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const ok = await fetch(`${base}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await fetch(`${base}/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'via-start', to: 'u', message: 'one process' }),
      });
      expect(res.status).toBe(202);
      await h.waitForStatus('via-start', 'delivered');
    } finally {
      child.kill('SIGINT');
    }
    const [code] = await once(child, 'exit');
    expect(code, stderr).toBe(0);
  });
});
