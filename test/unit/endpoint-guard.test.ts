import { createServer } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import { checkEndpointUrl, EndpointRefusedError, guardedLookup, isPublicAddress, type GuardOptions, type Resolver } from '../../src/channels/endpoint-guard.js';
import { EndpointChecker } from '../../src/channels/endpoint-check.js';
import { WebPushChannel } from '../../src/channels/webpush/channel.js';
import { WebhookChannel } from '../../src/channels/webhook.js';
import { generateSecret } from '../../src/channels/standard-webhooks.js';
import { DeliveryError, type OutgoingMessage } from '../../src/channels/types.js';
import { vapidEnv } from '../helpers/push-service.js';

const strict = { allowPrivate: false };
const MESSAGE: OutgoingMessage = { id: 'n1', message: 'hi', priority: 5, expiresAt: Date.now() + 60_000 };
/** The subscribe-time verdict on one endpoint. */
async function endpointProblem(endpoint: string, options: GuardOptions, resolver?: Resolver): Promise<string | null> {
  const [problem] = await new EndpointChecker({ allowPrivate: options.allowPrivate, ...(resolver ? { resolver } : {}) }).check([endpoint], 'endpoint');
  return problem ?? null;
}
const resolveTo =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
const notFound: Resolver = async () => {
  throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
};

const HOSTILE = [
  'http://push.example.com/x',
  'https://push.example.com:8443/x',
  'https://push.example.com:80/x',
  'https://user:secret@push.example.com/x',
  'ftp://push.example.com/x',
  'not a url',
  'https://127.0.0.1/x',
  'https://127.8.9.10/x',
  'https://2130706433/x', // 127.0.0.1 written as one number
  'https://0x7f.1/x', // 127.0.0.1 in hex shorthand
  'https://0.0.0.0/x',
  'https://10.1.2.3/x',
  'https://172.16.0.1/x',
  'https://172.31.255.254/x',
  'https://192.168.1.1/x',
  'https://100.64.0.1/x',
  'https://169.254.169.254/latest/meta-data/',
  'https://224.0.0.1/x',
  'https://255.255.255.255/x',
  'https://[::1]/x',
  'https://[::]/x',
  'https://[fe80::1]/x',
  'https://[fc00::1]/x',
  'https://[fd00:ec2::254]/x',
  'https://[ff02::1]/x',
  'https://[::ffff:127.0.0.1]/x',
  'https://[::ffff:a9fe:a9fe]/x', // 169.254.169.254, mapped
  'https://[::ffff:10.0.0.1]/x',
  'https://[64:ff9b::10.0.0.1]/x', // NAT64 of a private address
  'https://[2002:c0a8:101::1]/x', // 6to4 of 192.168.1.1
  'https://[2001:db8::1]/x',
  'https://localhost/x',
  'https://push.localhost/x',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://printer.local/x',
  'https://intranet/x',
];

const PUBLIC = [
  'https://fcm.googleapis.com/fcm/send/abc:def',
  'https://updates.push.services.mozilla.com/wpush/v2/gAAAA',
  'https://web.push.apple.com/QGuQyavXutnMH',
  'https://push.example.com:443/x',
  'https://8.8.8.8/x',
  'https://[2607:f8b0:4005:80a::200a]/x',
  'https://[::ffff:8.8.8.8]/x',
];

describe('endpoint guard: addresses', () => {
  it('knows public from non-public addresses', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '142.250.74.42', '2a00:1450:4001:82a::200a', '64:ff9b::808:808', '2002:808:808::1']) {
      expect(isPublicAddress(address), address).toBe(true);
    }
    for (const address of [
      '127.0.0.1',
      '10.0.0.1',
      '172.20.1.1',
      '192.168.0.10',
      '169.254.169.254',
      '100.127.255.255',
      '0.0.0.0',
      '239.1.1.1',
      '::1',
      '::',
      'fe80::abcd',
      'fd12:3456::1',
      'fd00:ec2::254',
      'ff05::2',
      '::ffff:192.168.1.1',
      '::ffff:7f00:1',
      '::127.0.0.1',
      '2001:db8::5',
      '2001::1',
      'not-an-ip',
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
  });
});

describe('endpoint guard: subscribe time', () => {
  it('refuses every hostile endpoint, with a reason that does not repeat it', async () => {
    for (const endpoint of HOSTILE) {
      const problem = await endpointProblem(endpoint, strict, resolveTo('93.184.215.14'));
      expect(problem, endpoint).toEqual(expect.any(String));
      expect(problem).not.toContain('example');
      expect(problem).not.toContain('secret');
    }
  });

  it('accepts public endpoints', async () => {
    for (const endpoint of PUBLIC) {
      expect(await endpointProblem(endpoint, strict, resolveTo('142.250.74.42', '2a00:1450:4001:82a::200a')), endpoint).toBeNull();
    }
  });

  it('refuses a host name when any of its addresses is not public, or when it does not resolve', async () => {
    const endpoint = 'https://push.example.com/x';
    expect(await endpointProblem(endpoint, strict, resolveTo('142.250.74.42', '10.0.0.7'))).toBe('Must be on a public address');
    expect(await endpointProblem(endpoint, strict, resolveTo('::ffff:127.0.0.1'))).toBe('Must be on a public address');
    expect(await endpointProblem(endpoint, strict, resolveTo())).toBe('Must be on a public address');
    expect(await endpointProblem(endpoint, strict, notFound)).toBe('The host name does not resolve');
  });

  it('HERALD_ALLOW_PRIVATE_ENDPOINTS lifts scheme, port and address rules, but not the URL shape', async () => {
    const lab = { allowPrivate: true };
    expect(await endpointProblem('http://127.0.0.1:8080/push/1', lab, notFound)).toBeNull();
    expect(await endpointProblem('https://10.0.0.1/push', lab, notFound)).toBeNull();
    expect(await endpointProblem('ftp://10.0.0.1/push', lab)).toBe('Must be an https: URL');
    expect(checkEndpointUrl('http://user:pw@127.0.0.1/x', lab)).toBe('Must not carry a user name or password');
  });
});

describe('endpoint guard: send time', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()!();
  });

  it('the guarded lookup answers only with checked addresses, in both callback forms', async () => {
    const lookup = guardedLookup(resolveTo('142.250.74.42', '2a00:1450:4001:82a::200a'));
    const all = await new Promise((resolve, reject) => lookup('push.example.com', { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
    expect(all).toEqual([
      { address: '142.250.74.42', family: 4 },
      { address: '2a00:1450:4001:82a::200a', family: 6 },
    ]);
    const one = await new Promise((resolve, reject) =>
      lookup('push.example.com', { family: 6 }, (err, address, family) => (err ? reject(err) : resolve([address, family]))),
    );
    expect(one).toEqual(['2a00:1450:4001:82a::200a', 6]);
    const refused = await new Promise((resolve) => guardedLookup(resolveTo('142.250.74.42', '127.0.0.1'))('push.example.com', {}, (err) => resolve(err)));
    expect(refused).toBeInstanceOf(EndpointRefusedError);
  });

  /** The channels that POST to URLs callers chose, each sending one message to `url` and refusing with its own code. */
  const guarded: [string, string, (resolver: Resolver) => { send(url: string): Promise<unknown>; close(): Promise<void> }][] = [
    [
      'Web Push',
      'HERALD_WEBPUSH_ENDPOINT_REFUSED',
      (resolver) => {
        const env = vapidEnv();
        const channel = new WebPushChannel({
          vapid: { publicKey: env.VAPID_PUBLIC_KEY!, privateKey: env.VAPID_PRIVATE_KEY!, subject: env.VAPID_SUBJECT! },
          timeoutMs: 2000,
          connections: 1,
          allowPrivateEndpoints: false,
          resolver,
        });
        const keys = { p256dh: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', auth: 'BTBZMqHH6r4Tts7J_aSIgg' };
        return { send: (endpoint) => channel.send(MESSAGE, { id: 's1', subscription: { endpoint, keys } }, {}), close: () => channel.close() };
      },
    ],
    [
      'the webhook channel',
      'HERALD_WEBHOOK_URL_REFUSED',
      (resolver) => {
        const channel = new WebhookChannel({ settings: { secret: generateSecret() }, timeoutMs: 2000, connections: 1, allowPrivateEndpoints: false, resolver });
        return { send: (url) => channel.send(MESSAGE, { url }, {}), close: () => channel.close() };
      },
    ],
  ];

  it.each(guarded)('a name that now resolves to a private address (DNS rebinding) fails permanently before any byte is sent: %s', async (_, code, make) => {
    // A server on loopback stands for the internal service the rebinding would reach.
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));

    // When it was registered the name was public.
    const endpoint = 'https://push.example.com/wpush/s3cr3tpath';
    expect(await endpointProblem(endpoint, strict, resolveTo('142.250.74.42'))).toBeNull();
    // Now it answers with the loopback address.
    const channel = make(resolveTo('127.0.0.1'));
    closers.push(() => channel.close());
    const error = await channel.send(endpoint).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ kind: 'permanent', code });
    expect((error as Error).message).not.toContain('example.com');
    expect((error as Error).message).not.toContain('s3cr3tpath');
    expect(connections).toBe(0);

    // Literal private addresses, plain http and other ports are refused without any lookup.
    for (const refused of ['https://169.254.169.254/x', 'https://[::1]/x', 'http://push.example.com/x', 'https://push.example.com:8443/x']) {
      expect(await channel.send(refused).catch((err: unknown) => err), refused).toMatchObject({ kind: 'permanent', code });
    }
  });
});
