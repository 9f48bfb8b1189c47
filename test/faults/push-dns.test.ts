/**
 * Push endpoints whose host names never resolve, sent to a real `herald api` process. That
 * process's DNS servers are a DNS double: a preload module sets them before Herald starts, as
 * /etc/resolv.conf names a machine's (Herald resolves endpoint hosts over the process's DNS
 * servers). Names under slow.push.test are never answered; fast.push.test has a public address.
 * Before the per-request bounds, one such batch of 900 host names took minutes and held up every
 * other request that needed DNS meanwhile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, PUBLISH_KEY } from './cluster.js';
import { record } from './report.js';
import { DnsDouble } from '../helpers/dns-double.js';
import { freePort } from '../helpers/redis-server.js';

const keys = { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' };
const headers = { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' };
/** The scenario's outcome: answered within seconds (the bound is 5 s of DNS per request). */
const ANSWERED_WITHIN_MS = 10_000;

let cluster: FaultCluster;
let dns: DnsDouble;
let dir: string;
let url: string;

beforeAll(async () => {
  dns = new DnsDouble();
  const server = await dns.start();
  dns.records.set('fast.push.test', ['142.250.74.42']);
  dns.silent = (name) => name.endsWith('.slow.push.test');
  dir = mkdtempSync(join(tmpdir(), 'herald-dns-'));
  // A CommonJS preload (--require): DNS servers set from an --import preload do not last on Node 20.
  const preload = join(dir, 'dns-servers.cjs');
  writeFileSync(preload, `require('node:dns').setServers([${JSON.stringify(server)}]);\n`);
  cluster = await FaultCluster.start({ env: { HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' } });
  ({ url } = await cluster.api(await freePort(), { NODE_OPTIONS: `--require=${preload}` }));
});
afterAll(async () => {
  await cluster?.close();
  await dns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** 18 notifications × 50 Web Push targets; `host(n, t)` names the host of target t of notification n. */
function batchOf900(host: (n: number, t: number) => string): string {
  const notifications = Array.from({ length: 18 }, (_, n) => ({
    message: `batch item ${n}`,
    channels: ['webpush'],
    targets: { webpush: Array.from({ length: 50 }, (_, t) => ({ endpoint: `https://${host(n, t)}/wpush/${n}-${t}`, keys })) },
  }));
  return JSON.stringify({ notifications });
}

async function timed<T>(request: () => Promise<T>): Promise<{ value: T; ms: number; at: number }> {
  const started = Date.now();
  const value = await request();
  return { value, ms: Date.now() - started, at: Date.now() };
}

const subscribe = () =>
  fetch(`${url}/v1/recipients/u-dns/webpush`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ endpoint: `https://fast.push.test/wpush/${Math.random()}`, keys }),
  });

describe('push endpoints whose hosts never resolve', () => {
  it('a batch of 900 endpoints is answered within seconds, and requests sent meanwhile are not held up', async () => {
    // 900 different host names: refused at once, naming the field, without a lookup.
    const [wide, wideSubscribe] = await Promise.all([
      timed(() => fetch(`${url}/v1/notifications/batch`, { method: 'POST', headers, body: batchOf900((n, t) => `h${n}-${t}.slow.push.test`) })),
      timed(subscribe),
    ]);
    expect(wide.value.status).toBe(400);
    expect(((await wide.value.json()) as { error: { details: unknown } }).error.details).toEqual([
      { field: 'notifications', message: 'The push endpoints name 900 different hosts; at most 50 per request' },
    ]);
    expect(wide.ms).toBeLessThan(ANSWERED_WITHIN_MS);
    expect(wideSubscribe.value.status).toBe(201);
    expect(dns.queries.filter((q) => q.name.endsWith('.slow.push.test'))).toEqual([]);

    // 900 endpoints on 50 host names that never answer: each name asked for once, the batch
    // answered at the DNS deadline with every item refused, while a subscription and a
    // notification sent meanwhile are answered at once.
    const narrow = timed(() => fetch(`${url}/v1/notifications/batch`, { method: 'POST', headers, body: batchOf900((_, t) => `h${t}.slow.push.test`) }));
    const deadline = Date.now() + ANSWERED_WITHIN_MS;
    while (!dns.queries.some((q) => q.name.endsWith('.slow.push.test')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const during = await Promise.all([
      timed(subscribe),
      timed(() => fetch(`${url}/v1/notifications`, { method: 'POST', headers, body: JSON.stringify({ to: 'u-dns', message: 'meanwhile' }) })),
    ]);
    const batch = await narrow;
    expect(during.map((d) => d.value.status)).toEqual([201, 202]);
    for (const d of during) expect(d.at).toBeLessThan(batch.at);
    expect(batch.value.status).toBe(202);
    const { results } = (await batch.value.json()) as { results: { error?: { details: { field: string; message: string }[] } }[] };
    expect(results).toHaveLength(18);
    for (const result of results) {
      expect(result.error?.details).toHaveLength(50);
      expect(new Set(result.error?.details.map((d) => d.message))).toEqual(new Set(['The host name did not resolve within 5 s']));
    }
    expect(batch.ms).toBeLessThan(ANSWERED_WITHIN_MS);
    const perName = new Map<string, number>();
    for (const q of dns.queries) if (q.name.endsWith('.slow.push.test')) perName.set(q.name, (perName.get(q.name) ?? 0) + 1);
    // An A and an AAAA query, each tried at most twice: never once per endpoint (18 share each name).
    expect(Math.max(...perName.values())).toBeLessThanOrEqual(4);

    const redis = new Redis(cluster.redis.url);
    const stored = await redis.keys('faults:n:*');
    redis.disconnect();
    // Only the notification sent meanwhile.
    expect(stored).toHaveLength(1);

    record({
      scenario: '900 push endpoints in one batch, DNS that never answers',
      load: '2 batches of 18 × 50 Web Push targets, a subscription and a notification meanwhile',
      faults: 'DNS silent for every *.slow.push.test name',
      notifications: 0,
      delivered: 0,
      lost: 0,
      duplicated: 0,
      notes: `900 hosts: 400 in ${wide.ms} ms, no lookup; 50 hosts: answered in ${batch.ms} ms (5 s DNS deadline), at most ${Math.max(...perName.values())} queries per name; requests meanwhile answered in ${Math.max(...during.map((d) => d.ms))} ms`,
    });
  });
});
