import type { LookupAddress } from 'node:dns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dnsResolver, EndpointChecker } from '../../src/channels/endpoint-check.js';
import type { Resolver } from '../../src/channels/endpoint-guard.js';
import { HeraldError } from '../../src/errors.js';
import { DnsDouble } from '../helpers/dns-double.js';

const PUBLIC_V4 = '142.250.74.42';
const PUBLIC_V6 = '2a00:1450:4001:82a::200a';

let dns: DnsDouble;
let server: string;
beforeEach(async () => {
  dns = new DnsDouble();
  server = await dns.start();
});
afterEach(async () => dns.close());

const endpointsOn = (hosts: string[], perHost = 1) => hosts.flatMap((host) => Array.from({ length: perHost }, (_, i) => `https://${host}/wpush/${i}`));

describe('push endpoint check over DNS (c-ares against a DNS double)', () => {
  it('resolves each host once per request, however many endpoints share it', async () => {
    for (const host of ['fcm.push.test', 'mozilla.push.test', 'apple.push.test']) dns.records.set(host, [PUBLIC_V4, PUBLIC_V6]);
    const checker = new EndpointChecker({ allowPrivate: false, resolver: dnsResolver([server]) });
    const problems = await checker.check(endpointsOn(['fcm.push.test', 'mozilla.push.test', 'apple.push.test'], 10), 'notifications');
    expect(problems).toEqual(Array(30).fill(null));
    // One A and one AAAA query per host, not per endpoint.
    expect(dns.queries.map((q) => `${q.type} ${q.name}`).sort()).toEqual([
      'A apple.push.test',
      'A fcm.push.test',
      'A mozilla.push.test',
      'AAAA apple.push.test',
      'AAAA fcm.push.test',
      'AAAA mozilla.push.test',
    ]);
  });

  it('refuses a request naming more hosts than allowed at once, naming its field, without a lookup', async () => {
    const checker = new EndpointChecker({ allowPrivate: false, resolver: dnsResolver([server]) });
    const hosts = Array.from({ length: 51 }, (_, i) => `push-${i}.push.test`);
    const refusal = await checker.check(endpointsOn(hosts, 2), 'notifications').catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(HeraldError);
    expect((refusal as HeraldError).details).toEqual([
      { field: 'notifications', message: 'The push endpoints name 51 different hosts; at most 50 per request' },
    ]);
    expect(dns.queries).toEqual([]);
    // Fifty are fine; so are endpoints that need no lookup (IP literals), whatever their number.
    for (const host of hosts) dns.records.set(host, [PUBLIC_V4]);
    expect(await checker.check(endpointsOn(hosts.slice(0, 50)), 'notifications')).toEqual(Array(50).fill(null));
    const literals = Array.from({ length: 60 }, (_, i) => `https://8.8.${i}.8/x`);
    expect(await checker.check(literals, 'notifications')).toEqual(Array(60).fill(null));
  });

  it('says why a host is refused: a private address, no such name, or no answer in time', async () => {
    dns.records.set('public.push.test', [PUBLIC_V4]);
    dns.records.set('rebind.push.test', [PUBLIC_V4, '10.0.0.7']);
    dns.records.set('v6-loopback.push.test', ['::1']);
    dns.silent = (name) => name === 'silent.push.test';
    const checker = new EndpointChecker({ allowPrivate: false, resolver: dnsResolver([server]), limits: { deadlineMs: 300 } });
    const hosts = ['public.push.test', 'rebind.push.test', 'v6-loopback.push.test', 'nxdomain.push.test', 'silent.push.test'];
    expect(await checker.check([...endpointsOn(hosts), 'http://public.push.test/x'], 'endpoint')).toEqual([
      null,
      'Must be on a public address',
      'Must be on a public address',
      'The host name does not resolve',
      'The host name did not resolve within 0.3 s',
      'Must be an https: URL',
    ]);
  });

  it("a request's lookups do not wait behind another request's names that never answer", async () => {
    dns.records.set('fast.push.test', [PUBLIC_V4]);
    dns.silent = (name) => name.endsWith('.slow.push.test');
    const checker = new EndpointChecker({ allowPrivate: false, resolver: dnsResolver([server]), limits: { deadlineMs: 2000 } });
    let slowDone = false;
    const slow = checker.check(endpointsOn(Array.from({ length: 50 }, (_, i) => `n${i}.slow.push.test`)), 'notifications').finally(() => {
      slowDone = true;
    });
    expect(await checker.check(['https://fast.push.test/wpush/1'], 'endpoint')).toEqual([null]);
    expect(slowDone).toBe(false);
    expect(new Set(await slow)).toEqual(new Set(['The host name did not resolve within 2 s']));
  });
});

describe('push endpoint check: bounds', () => {
  it('resolves at most `concurrency` hosts of a request at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const resolver: Resolver = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return [{ address: PUBLIC_V4, family: 4 } satisfies LookupAddress];
    };
    const checker = new EndpointChecker({ allowPrivate: false, resolver, limits: { concurrency: 3 } });
    const problems = await checker.check(endpointsOn(Array.from({ length: 20 }, (_, i) => `h${i}.push.test`)), 'notifications');
    expect(problems).toEqual(Array(20).fill(null));
    expect(most).toBe(3);
  });

  it('answers by the deadline when the resolver never does', async () => {
    const never: Resolver = () => new Promise(() => undefined);
    const checker = new EndpointChecker({ allowPrivate: false, resolver: never, limits: { deadlineMs: 50 } });
    expect(await checker.check(['https://a.push.test/1', 'https://b.push.test/1', 'https://8.8.8.8/1'], 'endpoint')).toEqual([
      'The host name did not resolve within 0.05 s',
      'The host name did not resolve within 0.05 s',
      null,
    ]);
  });

  it('looks nothing up when private endpoints are allowed', async () => {
    const resolver: Resolver = () => Promise.reject(new Error('no lookup expected'));
    const checker = new EndpointChecker({ allowPrivate: true, resolver, limits: { maxHosts: 1 } });
    expect(await checker.check(['http://127.0.0.1:8080/a', 'https://a.push.test/1', 'https://b.push.test/1'], 'endpoint')).toEqual([null, null, null]);
  });
});
