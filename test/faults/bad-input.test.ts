import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { Redis } from 'ioredis';
import { FaultCluster, API_KEY, PUBLISH_KEY } from './cluster.js';
import { record } from './report.js';
import { freePort } from '../helpers/redis-server.js';

interface Case {
  name: string;
  method?: string;
  path?: string;
  contentType?: string | null;
  body: string | Buffer | undefined;
  key?: string;
}

const valid = { to: 'u', message: 'hello' };

/**
 * Sends one request with node:http, which reads an early answer (such as a 413 sent before the
 * whole body was uploaded) instead of failing on the reset that may follow it.
 */
function send(
  base: string,
  path: string,
  method: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    // The path as written (a URL would resolve its dot segments before sending).
    const options = { hostname, port, path, method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } };
    const req = httpRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may close the connection after answering early; the answer is what counts.
    req.on('error', (err) => (req.destroyed && (req as unknown as { res?: unknown }).res ? undefined : reject(err)));
    req.end(body);
  });
}
const json = (value: unknown) => JSON.stringify(value);

/** Wrong-typed values for every field of a notification. */
function wrongTypes(): Case[] {
  const fields: Record<string, unknown[]> = {
    id: [null, 5, true, [], {}, '', 'has space', 'x'.repeat(129), 'ünïcode'],
    to: [null, 5, [], {}, '', 'x'.repeat(129)],
    targets: [null, 'x', [], { gotify: 'token' }, { email: 5 }, { email: 'a@[127.0.0.1]' }, { email: 'root@localhost' }, { webpush: {} }, { sms: '1' }],
    title: [5, [], {}, 'x'.repeat(251)],
    message: [null, 5, [], {}, '', 'x'.repeat(4001)],
    priority: ['5', 5.5, -1, 11, null, 1e308],
    url: [
      5,
      '',
      'x'.repeat(2049),
      'javascript:alert(1)',
      'not a url',
      'data:text/html,x',
      'intent://scan/#Intent;package=com.evil;end',
      'content://com.android.contacts/contacts',
      'ms-settings:privacy',
      'smb://10.0.0.1/share',
      'blob:https://example.org/5c7f',
      'http://example.org/x',
    ],
    category: [5, '', 'x'.repeat(65)],
    data: ['x', 5, [], null, { blob: 'x'.repeat(3000) }],
    channels: ['gotify', [], ['sms'], ['gotify', 'gotify'], [5]],
    ttlSeconds: [0, -1, 2_419_201, '60', 1.5],
    delayMs: [-1, 'soon', 1.5],
    sendAt: ['tomorrow', 5, '2026-13-45T99:99:99Z'],
    collapseKey: [5, '', 'x'.repeat(33), 'has space'],
    skipIfOnline: ['yes', 1, null],
  };
  const cases: Case[] = [];
  for (const [field, values] of Object.entries(fields)) {
    for (const [i, value] of values.entries()) cases.push({ name: `${field} #${i}`, body: json({ ...valid, [field]: value }) });
  }
  return cases;
}

function structural(): Case[] {
  let deep = '1';
  for (let i = 0; i < 10_000; i++) deep = `{"a":${deep}}`;
  return [
    { name: 'unknown top-level field', body: json({ ...valid, admin: true }) },
    { name: 'unknown nested field', body: json({ ...valid, targets: { email: 'a@b.org', fax: '1' } }) },
    { name: 'deeply nested data', body: `{"to":"u","message":"m","data":${deep}}` },
    { name: 'deeply nested arrays', body: `${'['.repeat(20_000)}${']'.repeat(20_000)}` },
    { name: 'array body', body: json([valid]) },
    { name: 'string body', body: json('hello') },
    { name: 'null body', body: 'null' },
    { name: 'empty body', body: '' },
    { name: 'truncated JSON', body: '{"to":"u","message":' },
    { name: 'bad UTF-8', body: Buffer.concat([Buffer.from('{"to":"u","message":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]) },
    { name: 'proto poisoning', body: '{"to":"u","message":"m","__proto__":{"admin":true}}' },
    { name: 'constructor poisoning', body: '{"to":"u","message":"m","constructor":{"prototype":{"admin":true}}}' },
    { name: 'oversize body (65 KiB)', body: json({ ...valid, message: 'x'.repeat(66_000) }) },
    // Answered as soon as the Content-Length is read, while the body is still being sent: repeated,
    // because a client that could not read that early answer used to see a reset now and then.
    ...Array.from({ length: 40 }, (_, i) => ({ name: `oversize body (2 MiB) #${i + 1}`, body: 'x'.repeat(2 * 1024 * 1024) })),
    { name: 'oversize batch (63 MiB)', path: '/v1/notifications/batch', body: `{"notifications":[]}${' '.repeat(66 * 1000 * 1000)}` },
    { name: 'text/plain', contentType: 'text/plain', body: 'hello' },
    { name: 'form encoded', contentType: 'application/x-www-form-urlencoded', body: 'to=u&message=m' },
    { name: 'multipart', contentType: 'multipart/form-data; boundary=x', body: '--x\r\n\r\nm\r\n--x--' },
    { name: 'xml', contentType: 'application/xml', body: '<n/>' },
    { name: 'no content type', contentType: null, body: json(valid) },
    { name: 'batch of 1001', path: '/v1/notifications/batch', body: json({ notifications: Array.from({ length: 1001 }, () => valid) }) },
    { name: 'batch not an array', path: '/v1/notifications/batch', body: json({ notifications: valid }) },
    { name: 'batch with unknown field', path: '/v1/notifications/batch', body: json({ notifications: [valid], extra: 1 }) },
    { name: 'wrong key', key: 'wrong-key-wrong-key-wrong', body: json(valid) },
    { name: 'no key', key: '', body: json(valid) },
    { name: 'publish key on an admin route', method: 'GET', path: '/v1/dead-letters', key: PUBLISH_KEY, contentType: null, body: undefined },
    { name: 'publish key replaying a dead letter', path: '/v1/dead-letters/x/replay', key: PUBLISH_KEY, body: json({}) },
    { name: 'key in the wrong header form', key: 'Basic Zm9vOmJhcg==', body: json(valid) },
    { name: 'docs path out of its directory', method: 'GET', path: '/docs/static/../../package.json', contentType: null, body: undefined },
    { name: 'docs path with a NUL', method: 'GET', path: '/docs/static/a%00b', contentType: null, body: undefined },
    { name: 'path that is not percent-encoded UTF-8', method: 'GET', path: '/v1/notifications/%E0%A4%A', contentType: null, body: undefined },
  ];
}

function hostileEndpoints(): Case[] {
  const endpoints = [
    'http://push.example.org/x',
    'https://127.0.0.1/x',
    'https://localhost/x',
    'https://[::1]/x',
    'https://10.0.0.8/x',
    'https://172.16.3.4/x',
    'https://192.168.1.1/x',
    'https://169.254.169.254/latest/meta-data',
    'https://[fd00:ec2::254]/x',
    'https://[::ffff:127.0.0.1]/x',
    'https://0.0.0.0/x',
    'https://push.example.org:8443/x',
    'file:///etc/passwd',
    'gopher://x/1',
    'not a url',
  ];
  const keys = { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' };
  return endpoints.flatMap((endpoint, i) => [
    { name: `subscribe ${i}`, path: '/v1/recipients/u-1/webpush', body: json({ endpoint, keys }) },
    { name: `target ${i}`, body: json({ message: 'm', targets: { webpush: [{ endpoint, keys }] } }) },
  ]);
}

let cluster: FaultCluster;
let api: { child: ChildProcess; url: string };

beforeAll(async () => {
  cluster = await FaultCluster.start({
    env: {
      HERALD_LOG_LEVEL: 'debug',
      HERALD_ALLOW_PRIVATE_ENDPOINTS: '0',
      VAPID_PUBLIC_KEY: 'BOE0aaAAhCoiavo4ggOdVRBLW3zriSjb49bTX1PrqBm3MdOzuTx2vrr4PbmXUduBaKPYGs9vwNUfFUSmYAKvpOo',
      VAPID_PRIVATE_KEY: 'oJvk85-LL6URqTw4M1v9jKPRnCLEs-AA0RdFmGkIECs',
      VAPID_SUBJECT: 'mailto:ops@example.org',
    },
  });
  api = await cluster.api(await freePort());
});
afterAll(async () => cluster?.close());

describe('a corpus of malformed requests', () => {
  it('answers every one with a 4xx and a HERALD_ERR code, enqueues nothing, and keeps running', async () => {
    const cases = [...wrongTypes(), ...structural(), ...hostileEndpoints()];
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const c of cases) {
      const headers: Record<string, string> = {};
      if (c.key !== '') headers.authorization = `Bearer ${c.key ?? API_KEY}`;
      if (c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
      const res = await send(api.url, c.path ?? '/v1/notifications', c.method ?? 'POST', headers, c.body).catch((err: Error) => err);
      if (res instanceof Error) {
        failures.push(`${c.name}: connection failed (${res.message})`);
        continue;
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const { text } = res;
      let code: unknown;
      try {
        code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
      } catch {
        code = undefined;
      }
      if (res.status < 400 || res.status >= 500 || typeof code !== 'string' || !code.startsWith('HERALD_ERR_')) {
        failures.push(`${c.name}: ${res.status} ${text.slice(0, 120)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(api.child.exitCode).toBeNull();
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);

    const redis = new Redis(cluster.redis.url);
    const records = await redis.keys('faults:n:*');
    const waiting = await Promise.all(['gotify', 'webpush', 'email'].map((c) => redis.llen(`faults:deliver-${c}:wait`)));
    const subscriptions = await redis.keys('faults:r:*');
    redis.disconnect();
    expect(records).toEqual([]);
    expect(waiting).toEqual([0, 0, 0]);
    expect(subscriptions).toEqual([]);

    const logs = cluster.output.join('');
    expect(logs).not.toContain(API_KEY);
    expect(logs).not.toContain('wrong-key-wrong-key-wrong');
    expect(logs).not.toContain(PUBLISH_KEY);
    record({
      scenario: 'malformed requests and hostile push endpoints',
      load: `${cases.length} requests`,
      faults: [...statuses]
        .sort()
        .map(([s, n]) => `${n}× ${s}`)
        .join(', '),
      notifications: 0,
      delivered: 0,
      lost: 0,
      duplicated: 0,
      notes: 'no 5xx, nothing enqueued, no key in the logs',
    });
  });
});
