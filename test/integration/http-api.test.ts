import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/http/app.js';
import { loadConfig } from '../../src/config.js';
import { heraldFromConfig } from '../../src/run/api.js';
import { ADMIN_KEY, Harness, PUBLISH_KEY } from '../helpers/harness.js';
import { freePort, RedisProcess } from '../helpers/redis-server.js';

let h: Harness;
let app: FastifyInstance;
afterEach(async () => {
  await app?.close();
  await h?.close();
});

async function setup(): Promise<void> {
  h = await Harness.create();
  app = await buildApp({ herald: h.herald, config: h.config, logger: h.logger });
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function queuedJobs(): Promise<number> {
  const redis = await h.herald.connection();
  let total = 0;
  for (const channel of ['gotify', 'webpush', 'email']) total += await redis.llen(`${h.prefix}:deliver-${channel}:wait`);
  return total;
}

describe('HTTP API', () => {
  it('enqueues, then reports the delivered status', async () => {
    await setup();
    await h.register('u-1');
    await h.startWorker();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: auth(PUBLISH_KEY),
      payload: { id: 'http-1', to: 'u-1', message: 'over HTTP' },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id: 'http-1', status: 'queued', duplicate: false });
    await h.waitForStatus('http-1', 'delivered');
    const status = await app.inject({ method: 'GET', url: '/v1/notifications/http-1', headers: auth(PUBLISH_KEY) });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ id: 'http-1', status: 'delivered', to: 'u-1', channel: 'gotify', attempts: [{ outcome: 'delivered' }] });
    expect(h.gotify.requests).toHaveLength(1);
  });

  it('answers the auth matrix: 401 without or with an unknown key, 403 without the scope', async () => {
    await setup();
    const cases: [string, string, Record<string, string>, number][] = [
      ['POST', '/v1/notifications', {}, 401],
      ['POST', '/v1/notifications', auth('not-a-key-at-all-xx'), 401],
      ['POST', '/v1/notifications', { authorization: PUBLISH_KEY }, 401],
      ['GET', '/v1/dead-letters', auth(PUBLISH_KEY), 403],
      ['GET', '/v1/stats', auth(PUBLISH_KEY), 403],
      ['GET', '/metrics', auth(PUBLISH_KEY), 403],
      ['GET', '/metrics', {}, 401],
      ['GET', '/v1/stats', auth(ADMIN_KEY), 200],
      ['GET', '/docs/json', {}, 200],
      ['POST', '/v1/dead-letters/x/replay', auth(PUBLISH_KEY), 403],
      ['GET', '/v1/dead-letters', auth(ADMIN_KEY), 200],
      ['GET', '/v1/notifications/none', auth(ADMIN_KEY), 404],
      ['GET', '/v1/notifications/none', auth(PUBLISH_KEY), 404],
      ['GET', '/healthz', {}, 200],
      ['GET', '/readyz', {}, 200],
    ];
    for (const [method, url, headers, expected] of cases) {
      const res = await app.inject({ method: method as 'GET', url, headers, ...(method === 'POST' ? { payload: { to: 'u', message: 'm' } } : {}) });
      expect([method, url, res.statusCode]).toEqual([method, url, expected]);
      if (expected >= 400) expect(res.json().error.code).toMatch(/^HERALD_ERR_/);
    }
  });

  it('answers 405 with Allow for a known path asked with another method, 404 for an unknown path', async () => {
    await setup();
    const cases: [method: 'GET' | 'PATCH' | 'DELETE' | 'POST', url: string, status: number, code: string, allow: string[] | undefined][] = [
      ['DELETE', '/v1/dead-letters?limit=5', 405, 'HERALD_ERR_METHOD_NOT_ALLOWED', ['GET', 'HEAD']],
      ['GET', '/v1/notifications', 405, 'HERALD_ERR_METHOD_NOT_ALLOWED', ['POST']],
      ['PATCH', '/v1/recipients/u-1', 405, 'HERALD_ERR_METHOD_NOT_ALLOWED', ['DELETE', 'GET', 'HEAD', 'PUT']],
      ['POST', '/v1/nothing-here', 404, 'HERALD_ERR_NOT_FOUND', undefined],
      // The route takes GET; the file is what is missing.
      ['GET', '/docs/static/no-such-file.css', 404, 'HERALD_ERR_NOT_FOUND', undefined],
    ];
    for (const [method, url, status, code, allow] of cases) {
      const res = await app.inject({ method, url, headers: auth(ADMIN_KEY), ...(method === 'POST' ? { payload: { x: 1 } } : {}) });
      const allowed = typeof res.headers.allow === 'string' ? res.headers.allow.split(', ').sort() : undefined;
      expect([method, url, res.statusCode, res.json().error.code, allowed]).toEqual([method, url, status, code, allow]);
    }
  });

  it('refuses invalid notifications with every bad field named, and enqueues nothing', async () => {
    await setup();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: auth(PUBLISH_KEY),
      payload: { to: 5, message: '', priority: 99, bogus: true },
    });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('HERALD_ERR_VALIDATION');
    expect(error.details.map((d: { field: string }) => d.field).sort()).toEqual(['bogus', 'message', 'priority', 'to']);
    expect(await queuedJobs()).toBe(0);
  });

  it('refuses bodies over 64 KiB, non-JSON content types and broken JSON', async () => {
    await setup();
    const big = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: { ...auth(PUBLISH_KEY), 'content-type': 'application/json' },
      payload: JSON.stringify({ to: 'u', message: 'x'.repeat(70_000) }),
    });
    expect([big.statusCode, big.json().error.code]).toEqual([413, 'HERALD_ERR_PAYLOAD_TOO_LARGE']);
    const text = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: { ...auth(PUBLISH_KEY), 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect([text.statusCode, text.json().error.code]).toEqual([415, 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE']);
    const broken = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: { ...auth(PUBLISH_KEY), 'content-type': 'application/json' },
      payload: '{"to": "u",',
    });
    expect([broken.statusCode, broken.json().error.code]).toEqual([400, 'HERALD_ERR_INVALID_JSON']);
    const poisoned = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: { ...auth(PUBLISH_KEY), 'content-type': 'application/json' },
      payload: '{"to":"u","message":"m","__proto__":{"x":1}}',
    });
    expect(poisoned.statusCode).toBe(400);
    expect(await queuedJobs()).toBe(0);
  });

  it('enqueues a batch with per-item errors', async () => {
    await setup();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/notifications/batch',
      headers: auth(PUBLISH_KEY),
      payload: { notifications: [{ id: 'b-1', to: 'u', message: 'one' }, { to: 'u' }, { id: 'b-1', to: 'u', message: 'again' }] },
    });
    expect(res.statusCode).toBe(202);
    const { results } = res.json();
    expect(results[0]).toEqual({ id: 'b-1', status: 'queued', duplicate: false });
    expect(results[1].error).toMatchObject({ code: 'HERALD_ERR_VALIDATION', details: [{ field: 'message' }] });
    expect(results[2]).toEqual({ id: 'b-1', status: 'queued', duplicate: true });
    const tooMany = await app.inject({
      method: 'POST',
      url: '/v1/notifications/batch',
      headers: auth(PUBLISH_KEY),
      payload: { notifications: Array.from({ length: 1001 }, () => ({ to: 'u', message: 'm' })) },
    });
    expect([tooMany.statusCode, tooMany.json().error.details[0].field]).toEqual([400, 'notifications']);
  });

  it('sends once when the same id is enqueued concurrently over HTTP and the SDK', async () => {
    await setup();
    await h.register('u');
    await h.startWorker();
    const http = Array.from({ length: 10 }, () =>
      app.inject({ method: 'POST', url: '/v1/notifications', headers: auth(PUBLISH_KEY), payload: { id: 'same', to: 'u', message: 'once' } }),
    );
    const sdk = Array.from({ length: 10 }, () => h.herald.notify({ id: 'same', to: 'u', message: 'once' }));
    const answers = [...(await Promise.all(http)).map((r) => r.json()), ...(await Promise.all(sdk))];
    expect(answers.filter((a) => a.duplicate === false)).toHaveLength(1);
    expect(answers.every((a) => a.id === 'same')).toBe(true);
    await h.waitForStatus('same', 'delivered');
    // Give dropped duplicate jobs time to run; none may send.
    await h.herald.notify({ id: 'marker', to: 'u', message: 'after' });
    await h.waitForStatus('marker', 'delivered');
    expect(h.gotify.requests.filter((r) => r.body.toString().includes('"once"'))).toHaveLength(1);
  });

  it('answers 503 within a second when Redis is down, and recovers', async () => {
    h = await Harness.create();
    const redis = new RedisProcess(await freePort(), mkdtempSync(join(tmpdir(), 'herald-redis-')));
    await redis.start();
    const { config } = loadConfig({ ...h.env, REDIS_URL: redis.url });
    const herald = heraldFromConfig(config);
    app = await buildApp({ herald, config, logger: h.logger });
    h.onClose(async () => {
      await herald.close();
      await redis.stop();
    });
    const send = () => app.inject({ method: 'POST', url: '/v1/notifications', headers: auth(PUBLISH_KEY), payload: { to: 'u', message: 'm' } });
    expect((await send()).statusCode).toBe(202);
    await redis.stop();
    const started = Date.now();
    const down = await send();
    expect(Date.now() - started).toBeLessThan(1000);
    expect([down.statusCode, down.json().error.code]).toEqual([503, 'HERALD_ERR_REDIS_UNAVAILABLE']);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    await redis.start();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 202) {
      status = (await send()).statusCode;
      if (status !== 202) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(202);
  });
});
