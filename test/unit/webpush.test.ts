import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VAPID_REFRESH_BEFORE_MS, VAPID_TOKEN_TTL_MS, VapidSigner } from '../../src/channels/webpush/vapid.js';
import { pushHeaders, ttlSecondsFor, urgencyFor, WebPushChannel } from '../../src/channels/webpush/channel.js';
import { MAX_RETRY_AFTER_MS } from '../../src/channels/classify.js';
import { ELLIPSIS, fitPayload, payloadCanFit } from '../../src/channels/webpush/payload.js';
import { MAX_PLAINTEXT_BYTES } from '../../src/channels/webpush/crypto.js';
import type { OutgoingMessage } from '../../src/channels/types.js';
import { PushService, vapidEnv, verifyVapid } from '../helpers/push-service.js';

function settings() {
  const env = vapidEnv();
  return { publicKey: env.VAPID_PUBLIC_KEY!, privateKey: env.VAPID_PRIVATE_KEY!, subject: env.VAPID_SUBJECT! };
}

describe('VAPID tokens', () => {
  it('signs a token the push service verifies: aud = origin, exp 12 h ahead, sub', () => {
    const vapid = settings();
    const now = Date.now();
    const signer = new VapidSigner(vapid, { now: () => now });
    const header = signer.authorization('https://push.example.net');
    const { claims, problems } = verifyVapid(header, vapid.publicKey, 'https://push.example.net', now);
    expect(problems).toEqual([]);
    expect(claims).toEqual({ aud: 'https://push.example.net', exp: Math.floor((now + VAPID_TOKEN_TTL_MS) / 1000), sub: 'mailto:ops@example.org' });
    expect(header.endsWith(`, k=${vapid.publicKey}`)).toBe(true);
  });

  it('reuses one token per audience until an hour before it expires, then signs a new one', () => {
    let now = 1_700_000_000_000;
    const signer = new VapidSigner(settings(), { now: () => now });
    const first = signer.authorization('https://a.example');
    expect(signer.authorization('https://a.example')).toBe(first);
    const other = signer.authorization('https://b.example');
    expect(other).not.toBe(first);
    expect(signer.signed).toBe(2);

    now += VAPID_TOKEN_TTL_MS - VAPID_REFRESH_BEFORE_MS - 1;
    expect(signer.authorization('https://a.example')).toBe(first);
    expect(signer.signed).toBe(2);
    now += 1;
    const renewed = signer.authorization('https://a.example');
    expect(renewed).not.toBe(first);
    expect(signer.signed).toBe(3);
    expect(signer.authorization('https://a.example')).toBe(renewed);
  });

  it("refuses a public key that is not the private key's", () => {
    const a = settings();
    const b = settings();
    expect(() => new VapidSigner({ ...a, publicKey: b.publicKey })).toThrow(/not the public key/);
  });
});

describe('push headers', () => {
  it('maps priority to Urgency on the contract scale', () => {
    expect([0, 1, 2, 3, 4, 5, 7, 8, 10].map(urgencyFor)).toEqual(['very-low', 'very-low', 'low', 'low', 'normal', 'normal', 'normal', 'high', 'high']);
  });

  it('TTL is the whole seconds left before expiry, never negative', () => {
    expect(ttlSecondsFor(10_999, 1_000)).toBe(9);
    expect(ttlSecondsFor(1_000, 1_000)).toBe(0);
    expect(ttlSecondsFor(500, 1_000)).toBe(0);
  });

  it('sets Topic from collapseKey only when there is one', () => {
    const base: OutgoingMessage = { id: 'n1', message: 'hi', priority: 9, expiresAt: 61_000 };
    expect(pushHeaders({ ...base, collapseKey: 'room-1' }, 1_000)).toEqual({
      'content-type': 'application/octet-stream',
      'content-encoding': 'aes128gcm',
      ttl: '60',
      urgency: 'high',
      topic: 'room-1',
    });
    expect(pushHeaders(base, 1_000)).not.toHaveProperty('topic');
  });
});

describe('payload fitting', () => {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

  it('keeps a payload that fits as is, with the contract fields', () => {
    const fitted = fitPayload({ id: 'n1', title: 'T', message: 'Hello', priority: 5, url: 'https://x.example/1', category: 'chat', data: { a: 1 } });
    expect(fitted).toEqual({
      truncated: false,
      json: '{"id":"n1","title":"T","body":"Hello","url":"https://x.example/1","category":"chat","priority":5,"data":{"a":1}}',
    });
  });

  it('carries the collapseKey as `tag`, the last field, only when the notification has one', () => {
    const fitted = fitPayload({ id: 'n2', message: 'Hi', priority: 5, collapseKey: 'room-42' });
    expect(fitted?.json).toBe('{"id":"n2","body":"Hi","priority":5,"tag":"room-42"}');
    expect(JSON.parse(fitPayload({ id: 'n3', message: 'Hi', priority: 5 })!.json)).not.toHaveProperty('tag');
  });

  it('cuts only the message, ends it with an ellipsis, and fills the space', () => {
    const source = { id: 'n1', title: 'T', message: 'ü'.repeat(4000), priority: 5, data: { keep: 'x'.repeat(500) } };
    const fitted = fitPayload(source)!;
    expect(fitted.truncated).toBe(true);
    expect(bytes(fitted.json)).toBeLessThanOrEqual(MAX_PLAINTEXT_BYTES);
    // One more character would not have fit (each ü is 2 bytes).
    expect(bytes(fitted.json)).toBeGreaterThan(MAX_PLAINTEXT_BYTES - 2);
    const parsed = JSON.parse(fitted.json) as { body: string; data: unknown; title: string };
    expect(parsed.body.endsWith(ELLIPSIS)).toBe(true);
    expect(source.message.startsWith(parsed.body.slice(0, -1))).toBe(true);
    expect(parsed.data).toEqual(source.data);
    expect(parsed.title).toBe('T');
  });

  it('never splits a surrogate pair or an escape', () => {
    for (const unit of ['😀', '"', '\n', '\u0001']) {
      const fitted = fitPayload({ id: 'n', message: unit.repeat(3000), priority: 5 })!;
      const body = (JSON.parse(fitted.json) as { body: string }).body;
      expect(Array.from(body.slice(0, -1)).every((c) => c === unit)).toBe(true);
      expect(bytes(fitted.json)).toBeLessThanOrEqual(MAX_PLAINTEXT_BYTES);
    }
  });

  it('gives up when even an empty message cannot fit', () => {
    const source = { id: 'n', message: 'hi', priority: 5, url: `https://x.example/${'a'.repeat(2000)}`, data: { big: '\u0001'.repeat(340) } };
    expect(payloadCanFit(source)).toBe(false);
    expect(fitPayload(source)).toBeNull();
    expect(payloadCanFit({ ...source, data: { small: 1 } })).toBe(true);
  });
});

describe('push service answers', () => {
  let push: PushService;
  let channel: WebPushChannel;
  beforeAll(async () => {
    const vapid = settings();
    push = await new PushService(vapid.publicKey).start();
    channel = new WebPushChannel({ vapid, timeoutMs: 300, connections: 2, allowPrivateEndpoints: true });
  });
  afterAll(async () => {
    await channel.close();
    await push.close();
  });

  async function outcome(...answers: Parameters<PushService['answer']>[1][]) {
    const browser = push.browser();
    push.answer(browser, ...answers);
    const message: OutgoingMessage = { id: 'n1', message: 'hi', priority: 5, expiresAt: Date.now() + 60_000 };
    return channel.send(message, { id: 's', subscription: browser.subscription }, {}).then(
      (receipt) => ({ kind: 'delivered', statusCode: receipt.statusCode }),
      (err: { kind: string; code: string; statusCode?: number; retryAfterMs?: number }) => ({
        kind: err.kind,
        code: err.code,
        statusCode: err.statusCode,
        retryAfterMs: err.retryAfterMs,
      }),
    );
  }

  it('classifies every answer by status code', async () => {
    expect(await outcome({ status: 201 })).toEqual({ kind: 'delivered', statusCode: 201 });
    expect(await outcome({ status: 202 })).toEqual({ kind: 'delivered', statusCode: 202 });
    expect(await outcome({ status: 410 })).toMatchObject({ kind: 'gone', code: 'HERALD_WEBPUSH_HTTP_410' });
    expect(await outcome({ status: 404 })).toMatchObject({ kind: 'gone', code: 'HERALD_WEBPUSH_HTTP_404' });
    expect(await outcome({ status: 413 })).toMatchObject({ kind: 'permanent', code: 'HERALD_WEBPUSH_HTTP_413' });
    expect(await outcome({ status: 403 })).toMatchObject({ kind: 'permanent', code: 'HERALD_WEBPUSH_HTTP_403' });
    expect(await outcome({ status: 500 })).toMatchObject({ kind: 'transient', code: 'HERALD_WEBPUSH_HTTP_500' });
    expect(await outcome({ status: 502 })).toMatchObject({ kind: 'transient', statusCode: 502 });
  });

  it('reads Retry-After as seconds or an HTTP date, capped', async () => {
    expect(await outcome({ status: 429, headers: { 'retry-after': '7' } })).toMatchObject({ kind: 'rate_limited', retryAfterMs: 7000 });
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const dated = (await outcome({ status: 429, headers: { 'retry-after': inAMinute } })) as { retryAfterMs?: number };
    expect(dated.retryAfterMs).toBeGreaterThan(55_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(await outcome({ status: 429, headers: { 'retry-after': '999999' } })).toMatchObject({ retryAfterMs: MAX_RETRY_AFTER_MS });
  });

  it('does not follow redirects, and a push service that does not answer in time is transient', async () => {
    const before = push.received.length;
    expect(await outcome({ status: 301, headers: { location: 'http://169.254.169.254/latest/meta-data' } })).toMatchObject({
      kind: 'permanent',
      statusCode: 301,
    });
    expect(push.received.length).toBe(before + 1);
    expect(await outcome({ status: 201, delayMs: 1000 })).toMatchObject({ kind: 'transient', code: 'HERALD_TIMEOUT' });
  });

  it('a payload that cannot fit and broken subscription keys are permanent, with nothing sent', async () => {
    const before = push.received.length;
    const browser = push.browser();
    const huge: OutgoingMessage = {
      id: 'n1',
      message: 'hi',
      priority: 5,
      expiresAt: Date.now() + 60_000,
      url: `https://x.example/${'u'.repeat(2040)}`,
      data: { d: '\u0001'.repeat(340) },
    };
    await expect(channel.send(huge, { id: 's', subscription: browser.subscription }, {})).rejects.toMatchObject({
      kind: 'permanent',
      code: 'HERALD_WEBPUSH_PAYLOAD_TOO_LARGE',
    });
    const broken = { ...browser.subscription, keys: { ...browser.subscription.keys, p256dh: 'AAAA' } };
    await expect(
      channel.send({ id: 'n1', message: 'hi', priority: 5, expiresAt: Date.now() + 60_000 }, { id: 's', subscription: broken }, {}),
    ).rejects.toMatchObject({ kind: 'permanent', code: 'HERALD_WEBPUSH_BAD_KEYS' });
    expect(push.received.length).toBe(before);
  });
});
