/**
 * A push-service double: a real HTTP server on port 0 that does what a browser vendor's push
 * service and the browser together would do with a Web Push request. For every request it
 *   - verifies the VAPID JWT (ES256 signature with the `k=` key, which must be the deployment's;
 *     `aud` = this server's origin; `exp` in the future and at most 24 h ahead; a `sub`),
 *   - decrypts the `aes128gcm` body with the subscription's private key and auth secret,
 * and records the outcome, so a test proves the wire format rather than that a call was made.
 * Answers are scripted per subscription path (status, Retry-After, delay, no answer, a dropped
 * connection); 201 otherwise.
 *
 * The decryption here is written independently of src/channels/webpush/crypto.ts (it uses
 * node's hkdfSync rather than hand-rolled HMAC steps), so the two cannot share a mistake.
 */
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { generateVapidKeys } from '../../src/channels/webpush/vapid.js';
import type { PushSubscriptionJSON } from '../../src/types.js';

export interface PushAnswer {
  status?: number;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Never answer (the client's deadline must fire). */
  hang?: boolean;
  /** Drop the connection without answering (a network error for the client). */
  reset?: boolean;
}

export interface ReceivedPush {
  path: string;
  at: number;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  /** The decrypted payload, parsed as JSON; null when something failed (see `problems`). */
  payload: Record<string, unknown> | null;
  claims: { aud?: unknown; exp?: unknown; sub?: unknown } | null;
  /** Every check that failed; a well-formed request has none. */
  problems: string[];
  status: number;
}

/** A browser's side of a subscription: what it hands out, and the secrets it keeps. */
export interface TestBrowser {
  path: string;
  subscription: PushSubscriptionJSON;
  privateKey: Buffer;
  authSecret: Buffer;
}

/** A fresh VAPID key pair and subject, as environment variables. */
export function vapidEnv(): Record<string, string> {
  const keys = generateVapidKeys();
  return { VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: 'mailto:ops@example.org' };
}

/** Decrypts an RFC 8291 `aes128gcm` body (single record) with the receiver's secrets. */
export function decryptPushBody(body: Buffer, receiverPrivateKey: Buffer, authSecret: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body.readUInt8(20);
  const senderPublicKey = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  if (idLength !== 65) throw new Error(`key id length ${idLength}, expected 65`);
  if (record.length > recordSize) throw new Error('more than one record');

  const receiver = createECDH('prime256v1');
  receiver.setPrivateKey(receiverPrivateKey);
  const shared = receiver.computeSecret(senderPublicKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), receiver.getPublicKey(), senderPublicKey]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const key = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));

  const decipher = createDecipheriv('aes-128-gcm', key, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 0x02) throw new Error('last record delimiter (0x02) missing');
  return padded.subarray(0, end);
}

/** Verifies a `vapid t=…, k=…` header; returns the claims and every problem found. */
export function verifyVapid(
  header: string | undefined,
  expectedKey: string,
  audience: string,
  now = Date.now(),
): { claims: ReceivedPush['claims']; problems: string[] } {
  const problems: string[] = [];
  const match = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(header ?? '');
  if (!match) return { claims: null, problems: ['Authorization is not "vapid t=…, k=…"'] };
  const [, token, key] = match as unknown as [string, string, string];
  if (key !== expectedKey) problems.push('k is not the deployment VAPID public key');
  const [headerPart, claimsPart, signaturePart] = token.split('.') as [string, string, string];
  const jwtHeader = JSON.parse(Buffer.from(headerPart, 'base64url').toString()) as { alg?: string };
  if (jwtHeader.alg !== 'ES256') problems.push(`alg is ${jwtHeader.alg}`);
  const raw = Buffer.from(key, 'base64url');
  const publicKey = createPublicKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') },
  });
  const signed = verify(
    'sha256',
    Buffer.from(`${headerPart}.${claimsPart}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signaturePart, 'base64url'),
  );
  if (!signed) problems.push('JWT signature does not verify');
  const claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString()) as NonNullable<ReceivedPush['claims']>;
  if (claims.aud !== audience) problems.push(`aud is ${String(claims.aud)}, expected ${audience}`);
  const nowSeconds = now / 1000;
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds || claims.exp > nowSeconds + 86_400) problems.push('exp is not within the next 24 h');
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) problems.push('sub is not mailto: or https:');
  return { claims, problems };
}

export class PushService {
  readonly received: ReceivedPush[] = [];
  private readonly browsers = new Map<string, TestBrowser>();
  private readonly scripts = new Map<string, PushAnswer[]>();
  private readonly fallbacks = new Map<string, PushAnswer>();
  private readonly server: Server;
  private waiters: { count: number; resolve: () => void }[] = [];
  private next = 0;
  origin = '';

  constructor(private readonly vapidPublicKey: string) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '';
        const push = this.inspect(path, req.headers, Buffer.concat(chunks));
        const answer: PushAnswer =
          push.problems.length > 0 ? { status: 400 } : (this.scripts.get(path)?.shift() ?? this.fallbacks.get(path) ?? { status: 201 });
        push.status = answer.status ?? 201;
        this.received.push(push);
        this.waiters = this.waiters.filter((w) => {
          if (!(this.received.length >= w.count)) return true;
          w.resolve();
          return false;
        });
        if (answer.hang) return;
        if (answer.reset) {
          req.socket.destroy();
          return;
        }
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(push.status, answer.headers);
          res.end();
        }, answer.delayMs ?? 0);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return this;
  }

  /** A new browser: real P-256 keys and auth secret, and an endpoint on this server. */
  browser(): TestBrowser {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const authSecret = randomBytes(16);
    const path = `/push/${++this.next}-${randomBytes(6).toString('hex')}`;
    const browser: TestBrowser = {
      path,
      privateKey: ecdh.getPrivateKey(),
      authSecret,
      subscription: {
        endpoint: `${this.origin}${path}`,
        expirationTime: null,
        keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
      },
    };
    this.browsers.set(path, browser);
    return browser;
  }

  /** Queues answers for one browser's endpoint, used in order. */
  answer(browser: TestBrowser, ...answers: PushAnswer[]): this {
    this.scripts.set(browser.path, [...(this.scripts.get(browser.path) ?? []), ...answers]);
    return this;
  }

  /** The answer for a browser once its script is used up. */
  always(browser: TestBrowser, answer: PushAnswer): this {
    this.fallbacks.set(browser.path, answer);
    return this;
  }

  for(browser: TestBrowser): ReceivedPush[] {
    return this.received.filter((r) => r.path === browser.path);
  }

  waitForRequests(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${count} push requests, got ${this.received.length}`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private inspect(path: string, headers: IncomingHttpHeaders, body: Buffer): ReceivedPush {
    const push: ReceivedPush = { path, at: Date.now(), headers, bodyBytes: body.length, payload: null, claims: null, problems: [], status: 0 };
    const { claims, problems } = verifyVapid(headers.authorization, this.vapidPublicKey, this.origin);
    push.claims = claims;
    push.problems.push(...problems);
    if (headers['content-encoding'] !== 'aes128gcm') push.problems.push('Content-Encoding is not aes128gcm');
    if (body.length > 4096) push.problems.push(`body of ${body.length} bytes exceeds 4096`);
    if (!/^\d+$/.test(String(headers.ttl))) push.problems.push('TTL missing');
    const browser = this.browsers.get(path);
    if (!browser) {
      push.problems.push('unknown subscription');
      return push;
    }
    try {
      push.payload = JSON.parse(decryptPushBody(body, browser.privateKey, browser.authSecret).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      push.problems.push(`body does not decrypt: ${(err as Error).message}`);
    }
    return push;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
