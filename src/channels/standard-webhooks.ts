/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): what makes a POST from Herald
 * verifiable by its receiver. A secret is `whsec_` followed by the base64 of 24 to 64 random bytes;
 * those bytes (not the text) key an HMAC-SHA256 of `<id>.<timestamp>.<body>`, sent as
 *   webhook-id: <id>                       the same on every retry of one message (receivers dedupe on it)
 *   webhook-timestamp: <unix seconds>      when this try was signed (receivers refuse stale ones)
 *   webhook-signature: v1,<base64 HMAC>
 * The body is signed as the exact bytes sent. Used by the webhook channel (HERALD_WEBHOOK_SECRET)
 * and by anything else Herald signs the same way.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** Key sizes the specification allows, in bytes. */
export const MIN_KEY_BYTES = 24;
export const MAX_KEY_BYTES = 64;

/** A type rather than an interface, so that it passes for any record of headers. */
export type StandardWebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** Why `secret` is not a Standard Webhooks secret, in words that never repeat it; null when it is one. */
export function secretProblem(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with ${SECRET_PREFIX}`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return `must be ${SECRET_PREFIX} followed by base64`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < MIN_KEY_BYTES || bytes > MAX_KEY_BYTES) return `must encode ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes (it encodes ${bytes})`;
  return null;
}

/** The HMAC key of a secret; throws a RangeError (without the secret) when it is not one. */
export function signingKey(secret: string): Buffer {
  const problem = secretProblem(secret);
  if (problem) throw new RangeError(`The webhook secret ${problem}`);
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** A new secret: 32 random bytes. */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * The headers that sign `body` as message `id` at `timestampSeconds`, with a `whsec_…` secret or
 * its key (signingKey: a sender of many messages decodes it once).
 */
export function sign(secret: string | Buffer, id: string, timestampSeconds: number, body: string | Buffer): StandardWebhookHeaders {
  const key = typeof secret === 'string' ? signingKey(secret) : secret;
  const timestamp = String(Math.floor(timestampSeconds));
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
