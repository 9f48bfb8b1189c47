import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Harness } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

const CLI = 'dist/src/cli.js';

describe('expiry and scheduling', () => {
  it('expires a notification that could not be sent before createdAt + ttl, and never sends it late', async () => {
    h = await Harness.create();
    await h.register('u');
    const { id } = await h.herald.notify({ to: 'u', message: 'too late', ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    await h.startWorker();
    const final = await h.waitForStatus(id, 'expired');
    expect(final.attempts).toEqual([]);
    expect(h.gotify.requests).toHaveLength(0);
  });

  it('expires instead of retrying past the deadline', async () => {
    // The retry comes 1.25-2.5 s later (backoff with jitter), after the 1 s lifetime ran out.
    h = await Harness.create({ env: { HERALD_BACKOFF_MS: '2500', HERALD_BACKOFF_MAX_MS: '2500' } });
    await h.register('u');
    h.gotify.answer({ status: 503 });
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u', message: 'short-lived', ttlSeconds: 1 });
    const final = await h.waitForStatus(id, 'expired', 6000);
    expect(final.attempts.map((a) => a.outcome)).toEqual(['transient']);
    expect(h.gotify.requests).toHaveLength(1);
  });

  it('holds a scheduled notification until its time (delayMs and sendAt)', async () => {
    h = await Harness.create();
    await h.register('u');
    await h.startWorker();
    const enqueuedAt = Date.now();
    const delayed = await h.herald.notify({ to: 'u', message: 'later', delayMs: 700 });
    const at = await h.herald.notify({ to: 'u', message: 'at', sendAt: new Date(enqueuedAt + 900).toISOString() });
    expect(delayed.status).toBe('scheduled');
    expect((await h.herald.status(at.id))?.status).toBe('scheduled');
    await h.waitForStatus(delayed.id, 'delivered');
    await h.waitForStatus(at.id, 'delivered');
    const times = Object.fromEntries(h.gotify.requests.map((r) => [JSON.parse(r.body.toString()).message, r.at - enqueuedAt]));
    expect(times.later).toBeGreaterThanOrEqual(690);
    expect(times.at).toBeGreaterThanOrEqual(890);
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight delivery finish before closing', async () => {
    h = await Harness.create();
    await h.register('u');
    h.gotify.answer({ delayMs: 400 });
    const worker = await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u', message: 'in flight' });
    await h.gotify.waitForRequests(1);
    await worker.close(5000);
    expect((await h.herald.status(id))?.status).toBe('delivered');
  });

  it('hands back a delivery cut off by the deadline; another worker delivers it', async () => {
    h = await Harness.create();
    await h.register('u');
    h.gotify.answer({ hang: true });
    const first = await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u', message: 'cut off' });
    await h.gotify.waitForRequests(1);
    await first.close(200);
    const handedBack = await h.herald.status(id);
    expect(handedBack?.status).toBe('queued');
    expect(handedBack?.attempts).toEqual([]);
    await h.startWorker();
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => a.outcome)).toEqual(['delivered']);
    expect(h.gotify.requests).toHaveLength(2);
  });

  it('runs as a separate `herald worker` process and exits 0 on SIGTERM', async () => {
    h = await Harness.create();
    await h.register('u');
    const child = spawn(process.execPath, [CLI, 'worker', '--channels', 'gotify', '--concurrency', '4'], {
      env: { ...process.env, ...h.env, HERALD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const { id } = await h.herald.notify({ to: 'u', message: 'from another process' });
      await h.waitForStatus(id, 'delivered', 15_000);
      expect(h.gotify.json(0)).toMatchObject({ message: 'from another process' });
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code, stderr).toBe(0);
  });

  it('refuses to start with invalid settings and names every bad variable', async () => {
    const child = spawn(process.execPath, [CLI, 'worker'], {
      env: { PATH: process.env.PATH, HERALD_MAX_ATTEMPTS: 'lots', REDIS_URL: 'nope' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toContain('HERALD_MAX_ATTEMPTS');
    expect(stderr).toContain('REDIS_URL');
  });

  it('says how to get Redis when none is configured, running or installed', async () => {
    const script = `import('./dist/src/redis/local-server.js').then((m) => m.startLocalRedis({ dataDir: '/tmp/herald-none' })).catch((e) => { console.log(e.name + ': ' + e.message); })`;
    const child = spawn(process.execPath, ['-e', script], { env: { PATH: '/nonexistent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    await once(child, 'exit');
    expect(stdout).toContain('RedisNotFoundError');
    expect(stdout).toContain('apt-get install redis-server');
    expect(stdout).toContain('REDIS_URL');
  });
});
