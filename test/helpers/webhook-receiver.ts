/**
 * A webhook receiver double: an HttpDouble that checks every request as a receiver of Herald's
 * webhook channel would: the Standard Webhooks signature (https://www.standardwebhooks.com) and
 * the JSON body `{id, title, message, priority, url, category, data}`.
 *
 * The verification is written here from the specification, independently of
 * src/channels/standard-webhooks.ts, so the two cannot share a mistake: the key is the base64 after
 * `whsec_`; the signed content is `<webhook-id>.<webhook-timestamp>.<raw body>`; the header holds
 * space-separated `v1,<base64 HMAC-SHA256>` entries, any of which may match; the timestamp must be
 * within five minutes of the receiver's clock.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HttpDouble, type ReceivedRequest } from './http-double.js';

const TOLERANCE_SECONDS = 5 * 60;

/** Every reason a receiver holding `secret` would refuse the request's signature. */
export function signatureProblems(secret: string, headers: IncomingHttpHeaders, body: Buffer, nowMs = Date.now()): string[] {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || id === '') return ['webhook-id is missing'];
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp)) return ['webhook-timestamp is not unix seconds'];
  if (typeof signatures !== 'string') return ['webhook-signature is missing'];
  const problems: string[] = [];
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) problems.push('webhook-timestamp is more than 5 minutes away');
  const key = Buffer.from(secret.slice(secret.indexOf('_') + 1), 'base64');
  const expected = createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]))
    .digest();
  const matches = signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) problems.push('no v1 signature in webhook-signature verifies');
  return problems;
}

const FIELDS = new Set(['id', 'title', 'message', 'priority', 'url', 'category', 'data']);

/** Every way `request` departs from what the webhook channel sends, signed with `secret`. */
export function webhookProblems(request: ReceivedRequest, secret: string): string[] {
  const problems = signatureProblems(secret, request.headers, request.body);
  if (request.method !== 'POST') problems.push(`method ${request.method}, expected POST`);
  if (!String(request.headers['content-type']).startsWith('application/json')) problems.push('Content-Type is not application/json');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  for (const name of Object.keys(body)) if (!FIELDS.has(name)) problems.push(`${name} is not a field of the webhook body`);
  if (body.id !== request.headers['webhook-id']) problems.push('the body id is not the webhook-id');
  if (typeof body.message !== 'string') problems.push('message is not a string');
  if (!Number.isInteger(body.priority)) problems.push('priority is not an integer');
  return problems;
}

/** A receiver of webhooks signed with `secret`, at any path of its origin. */
export function webhookReceiver(secret: string): HttpDouble {
  return new HttpDouble({ status: 204 }, (request) => webhookProblems(request, secret));
}
