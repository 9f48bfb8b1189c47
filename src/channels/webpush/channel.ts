/**
 * Web Push channel (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID): one POST of an
 * `aes128gcm` body to one browser subscription's endpoint. The processor calls it once per
 * subscription of the recipient.
 *
 * Answers: 200/201/202 success; 404/410 → `gone` (the processor removes the subscription);
 * 413 and other 4xx → permanent; 429 → rate_limited with Retry-After; 5xx, network errors and
 * timeouts → transient (classify.ts).
 */
import { attemptCode } from '../../codes.js';
import { httpFailure } from '../classify.js';
import type { Resolver } from '../endpoint-guard.js';
import { GuardedHttpClient } from '../guarded-http-client.js';
import { PushKeyError } from './crypto.js';
import { InlineEncryptor, type PushEncryptor } from './encryptor.js';
import { fitPayload } from './payload.js';
import { DeliveryError, type ChannelAdapter, type OutgoingMessage, type Receipt, type SendContext, type WebPushTarget } from '../types.js';
import { VapidSigner, type VapidSettings } from './vapid.js';

export interface WebPushOptions {
  vapid: VapidSettings;
  /** Deadline of one request to a push service. */
  timeoutMs: number;
  /** Keep-alive connections per push-service origin; match the worker's concurrency. */
  connections: number;
  /** HERALD_ALLOW_PRIVATE_ENDPOINTS: skip the scheme, port and address rules. */
  allowPrivateEndpoints: boolean;
  /** DNS resolver of the endpoint guard; tests inject one. */
  resolver?: Resolver;
  /** Clock in ms; tests move it. */
  now?: () => number;
  /** Where payloads are encrypted (closed with the channel); in the event loop when absent. */
  encryptor?: PushEncryptor;
}

export type Urgency = 'very-low' | 'low' | 'normal' | 'high';

/** RFC 8030 §5.3 Urgency from Herald's 0–10 (Gotify) priority scale. */
export function urgencyFor(priority: number): Urgency {
  if (priority <= 1) return 'very-low';
  if (priority <= 3) return 'low';
  if (priority <= 7) return 'normal';
  return 'high';
}

/** RFC 8030 §5.2 TTL: whole seconds the push service may hold the message, never negative. */
export function ttlSecondsFor(expiresAt: number, now: number): number {
  return Math.max(0, Math.floor((expiresAt - now) / 1000));
}

/** The headers of a push message other than Authorization. */
export function pushHeaders(message: OutgoingMessage, now: number): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-encoding': 'aes128gcm',
    ttl: String(ttlSecondsFor(message.expiresAt, now)),
    urgency: urgencyFor(message.priority),
  };
  // A push service replaces an undelivered message with the same Topic (the collapse key).
  if (message.collapseKey) headers.topic = message.collapseKey;
  return headers;
}

const SUCCESS = new Set([200, 201, 202]);
const GONE = new Set([404, 410]);

function refused(reason: string, cause?: unknown): DeliveryError {
  return new DeliveryError('permanent', attemptCode.HERALD_WEBPUSH_ENDPOINT_REFUSED, `push endpoint refused: ${reason}`, { cause });
}

export class WebPushChannel implements ChannelAdapter<'webpush'> {
  readonly name = 'webpush' as const;
  readonly vapid: VapidSigner;
  private readonly http: GuardedHttpClient;
  private readonly encryptor: PushEncryptor;
  private readonly now: () => number;

  constructor(private readonly options: WebPushOptions) {
    this.now = options.now ?? Date.now;
    this.vapid = new VapidSigner(options.vapid, { now: this.now });
    this.encryptor = options.encryptor ?? new InlineEncryptor();
    // Pools are per origin and keep connections alive.
    const guard = { allowPrivate: options.allowPrivateEndpoints, ...(options.resolver ? { resolver: options.resolver } : {}) };
    this.http = new GuardedHttpClient('WEBPUSH', options.connections, guard, refused);
  }

  async send(message: OutgoingMessage, target: WebPushTarget, ctx: SendContext): Promise<Receipt> {
    const url = this.http.url(target.subscription.endpoint);
    const body = await this.encrypt(message, target);
    const now = this.now();
    const headers = pushHeaders(message, now);
    headers.authorization = this.vapid.authorization(url.origin);

    const response = await this.http.request({ url, method: 'POST', headers, body, timeoutMs: this.options.timeoutMs, signal: ctx.signal });
    if (SUCCESS.has(response.statusCode)) return { statusCode: response.statusCode };
    if (GONE.has(response.statusCode)) {
      throw new DeliveryError(
        'gone',
        attemptCode.webpushHttp(response.statusCode),
        `the push service no longer knows this subscription (${response.statusCode})`,
        {
          statusCode: response.statusCode,
        },
      );
    }
    throw httpFailure('WEBPUSH', response.statusCode, response.headers['retry-after']);
  }

  /** The encrypted body; failures here are the subscription's or the payload's, so permanent. */
  private async encrypt(message: OutgoingMessage, target: WebPushTarget): Promise<Buffer> {
    const payload = fitPayload(message);
    if (!payload) {
      throw new DeliveryError('permanent', attemptCode.HERALD_WEBPUSH_PAYLOAD_TOO_LARGE, 'the payload does not fit 4096 bytes even with an empty message');
    }
    try {
      return await this.encryptor.encrypt(payload.json, target.subscription.keys.p256dh, target.subscription.keys.auth);
    } catch (err) {
      if (err instanceof PushKeyError) throw new DeliveryError('permanent', err.code, err.message);
      throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.encryptor.close()]);
  }
}
