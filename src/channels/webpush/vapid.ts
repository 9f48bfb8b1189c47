/**
 * VAPID (RFC 8292): the application server identifies itself to push services with an ES256 JWT
 * `{aud: push service origin, exp, sub: VAPID_SUBJECT}` sent as
 * `Authorization: vapid t=<jwt>, k=<public key>`.
 *
 * Signing is the costliest step of a send after encryption, and the token depends only on the
 * audience, so one token per push-service origin is kept and reused until shortly before it
 * expires. A handful of origins (FCM, Mozilla, Apple, Microsoft) serve nearly every browser.
 */
import { createECDH, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export interface VapidSettings {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/** Lifetime of a token. RFC 8292 caps it at 24 h; half that leaves room for clock skew. */
export const VAPID_TOKEN_TTL_MS = 12 * 3_600_000;
/** A cached token is replaced this long before it expires, so none is sent about to lapse. */
export const VAPID_REFRESH_BEFORE_MS = 3_600_000;
/** Origins remembered at once; past this the oldest is forgotten (endpoints come from users). */
export const VAPID_CACHE_MAX = 1000;

const JWT_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256' })).toString('base64url');

interface CachedToken {
  authorization: string;
  /** Time (ms) after which the token is no longer handed out. */
  refreshAt: number;
}

export interface VapidSignerOptions {
  /** Clock in ms; tests move it. */
  now?: () => number;
}

export class VapidSigner {
  private readonly key: KeyObject;
  private readonly cache = new Map<string, CachedToken>();
  private readonly now: () => number;
  /** How many tokens were signed: lets tests and the benchmark see the cache work. */
  signed = 0;

  constructor(
    private readonly settings: VapidSettings,
    options: VapidSignerOptions = {},
  ) {
    this.key = vapidPrivateKey(settings.publicKey, settings.privateKey);
    this.now = options.now ?? Date.now;
  }

  /** The `Authorization` header value for a push service origin, e.g. `https://fcm.googleapis.com`. */
  authorization(audience: string): string {
    const now = this.now();
    const cached = this.cache.get(audience);
    if (cached && now < cached.refreshAt) return cached.authorization;

    const expiresAt = now + VAPID_TOKEN_TTL_MS;
    const claims = { aud: audience, exp: Math.floor(expiresAt / 1000), sub: this.settings.subject };
    const signingInput = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    // JWS wants the raw r|s pair (IEEE P1363), not the DER encoding node produces by default.
    const signature = sign('sha256', Buffer.from(signingInput), { key: this.key, dsaEncoding: 'ieee-p1363' });
    const authorization = `vapid t=${signingInput}.${signature.toString('base64url')}, k=${this.settings.publicKey}`;
    this.signed++;

    this.cache.delete(audience);
    if (this.cache.size >= VAPID_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(audience, { authorization, refreshAt: expiresAt - VAPID_REFRESH_BEFORE_MS });
    return authorization;
  }
}

/**
 * Whether VAPID_PUBLIC_KEY (base64url, uncompressed point) is the public half of VAPID_PRIVATE_KEY
 * (base64url scalar). Browsers check pushes against the public key, so a mismatched pair would
 * sign tokens every push service refuses; loadConfig checks this at start, before the first send.
 */
export function vapidKeysMatch(publicKey: string, privateKey: string): boolean {
  try {
    return publicKeyOf(Buffer.from(privateKey, 'base64url')).equals(Buffer.from(publicKey, 'base64url'));
  } catch {
    return false;
  }
}

/** The uncompressed public point (0x04 | x | y) of a P-256 private scalar; throws when it is not one. */
function publicKeyOf(d: Buffer): Buffer {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  return ecdh.getPublicKey();
}

/** Builds the signing key from the base64url raw keys of the environment, refusing a mismatched pair. */
export function vapidPrivateKey(publicKey: string, privateKey: string): KeyObject {
  if (!vapidKeysMatch(publicKey, privateKey)) throw new Error('VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY');
  const d = Buffer.from(privateKey, 'base64url');
  const derived = publicKeyOf(d);
  return createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: 'P-256',
      d: d.toString('base64url'),
      x: derived.subarray(1, 33).toString('base64url'),
      y: derived.subarray(33, 65).toString('base64url'),
    },
  });
}

/** The raw sizes of a P-256 key pair as VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY hold them. */
const PRIVATE_KEY_BYTES = 32;
const COORDINATE_BYTES = 32;

/** A new VAPID key pair (`herald vapid`), in the base64url raw form loadConfig expects. */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  return vapidKeysOf(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
}

/**
 * The public key uncompressed (0x04 | x | y, 65 bytes) and the private scalar (32 bytes) of a
 * P-256 key. A scalar or coordinate below 2^248 has leading zero bytes, and some encoders drop
 * them (ECDH#getPrivateKey does, one key in 256); push services and browsers want the full
 * length, so each part is padded back to it.
 */
export function vapidKeysOf(key: KeyObject): { publicKey: string; privateKey: string } {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y) throw new Error('a VAPID key must be a P-256 private key');
  const part = (value: string, bytes: number) => fullLength(Buffer.from(value, 'base64url'), bytes);
  return {
    publicKey: Buffer.concat([Buffer.of(0x04), part(jwk.x, COORDINATE_BYTES), part(jwk.y, COORDINATE_BYTES)]).toString('base64url'),
    privateKey: part(jwk.d, PRIVATE_KEY_BYTES).toString('base64url'),
  };
}

function fullLength(value: Buffer, bytes: number): Buffer {
  return value.length >= bytes ? value : Buffer.concat([Buffer.alloc(bytes - value.length), value]);
}
