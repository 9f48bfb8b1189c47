/**
 * Webhook channel: one POST of the notification as JSON to the recipient's own URL, signed as
 * Standard Webhooks with HERALD_WEBHOOK_SECRET (standard-webhooks.ts), so the receiver can tell
 * Herald's requests from anyone else's. `webhook-id` is the notification id on every try, so a
 * receiver that saw a message already can drop a retry of it; each try is signed afresh, with the
 * time it is sent.
 *
 * The URL was chosen by whoever registered the recipient: it passes the endpoint guard (https on a
 * public address) when registered and again at every connection (guarded-http-client.ts).
 *
 * Answers: 2xx success; 410 → `gone` (the processor removes the URL from the recipient); other
 * 4xx (and a 3xx: redirects are never followed) → permanent; 429 → rate_limited with Retry-After;
 * 5xx, network errors and timeouts → transient (classify.ts).
 */
import { attemptCode } from '../codes.js';
import { httpFailure } from './classify.js';
import type { Resolver } from './endpoint-guard.js';
import { GuardedHttpClient } from './guarded-http-client.js';
import { sign, signingKey } from './standard-webhooks.js';
import { DeliveryError, type ChannelAdapter, type OutgoingMessage, type Receipt, type SendContext, type WebhookTarget } from './types.js';

export interface WebhookSettings {
  /** HERALD_WEBHOOK_SECRET: `whsec_` and the base64 of the signing key. */
  secret: string;
}

export interface WebhookOptions {
  settings: WebhookSettings;
  /** Deadline of one request. */
  timeoutMs: number;
  /** Keep-alive connections per receiver origin; match the worker's concurrency. */
  connections: number;
  /** HERALD_ALLOW_PRIVATE_ENDPOINTS: skip the scheme, port and address rules. */
  allowPrivateEndpoints: boolean;
  /** DNS resolver of the endpoint guard; tests inject one. */
  resolver?: Resolver;
  /** Clock in ms; tests move it. */
  now?: () => number;
}

/** The JSON body: the notification's own fields, as the producer gave them. */
export function webhookBody(message: OutgoingMessage): string {
  const { id, title, message: text, priority, url, category, data } = message;
  // Absent fields are left out (JSON.stringify drops undefined).
  return JSON.stringify({ id, title, message: text, priority, url, category, data });
}

function refused(reason: string, cause?: unknown): DeliveryError {
  return new DeliveryError('permanent', attemptCode.HERALD_WEBHOOK_URL_REFUSED, `webhook URL refused: ${reason}`, { cause });
}

export class WebhookChannel implements ChannelAdapter<'webhook'> {
  readonly name = 'webhook' as const;
  private readonly http: GuardedHttpClient;
  private readonly key: Buffer;
  private readonly now: () => number;

  constructor(private readonly options: WebhookOptions) {
    this.key = signingKey(options.settings.secret);
    this.now = options.now ?? Date.now;
    const guard = { allowPrivate: options.allowPrivateEndpoints, ...(options.resolver ? { resolver: options.resolver } : {}) };
    this.http = new GuardedHttpClient('WEBHOOK', options.connections, guard, refused);
  }

  async send(message: OutgoingMessage, target: WebhookTarget, ctx: SendContext): Promise<Receipt> {
    const url = this.http.url(target.url);
    const body = webhookBody(message);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...sign(this.key, message.id, this.now() / 1000, body) };
    const response = await this.http.request({ url, method: 'POST', headers, body, timeoutMs: this.options.timeoutMs, signal: ctx.signal });
    const status = response.statusCode;
    if (status >= 200 && status < 300) return { statusCode: status };
    if (status === 410) {
      throw new DeliveryError('gone', attemptCode.webhookHttp(status), 'the webhook endpoint is gone (410); its URL is removed from the recipient', {
        statusCode: status,
      });
    }
    throw httpFailure('WEBHOOK', status, response.headers['retry-after']);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
