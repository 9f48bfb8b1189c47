/**
 * ntfy channel: ntfy's JSON publish API, `POST {NTFY_URL}/` (the server's root, not a topic's URL)
 * with the topic in the body, and `Authorization: Bearer NTFY_TOKEN` when a token is set.
 * 200 is success; 400/401/403 (and other 4xx) are permanent; 429, 5xx, network errors and
 * timeouts are transient (classify.ts), as for Gotify.
 */
import { httpFailure } from './classify.js';
import { ProviderHttpClient } from './http-client.js';
import type { ChannelAdapter, NtfyTarget, OutgoingMessage, Receipt, SendContext } from './types.js';

export interface NtfySettings {
  /** NTFY_URL: the server's base URL, without a trailing slash. */
  url: string;
  /** NTFY_TOKEN: an access token, for a server that restricts who may publish. */
  token?: string;
}

export interface NtfyOptions {
  settings: NtfySettings;
  timeoutMs: number;
  /** Keep-alive connections to the ntfy server; match the worker's concurrency. */
  connections: number;
}

/** ntfy's priorities: 1 min, 2 low, 3 default, 4 high, 5 max. */
export type NtfyPriority = 1 | 2 | 3 | 4 | 5;

/** ntfy's 1–5 from Herald's 0–10 (Gotify) scale: 0–1 → 1, 2–3 → 2, 4–6 → 3, 7–8 → 4, 9–10 → 5. */
export function ntfyPriority(priority: number): NtfyPriority {
  if (priority <= 1) return 1;
  if (priority <= 3) return 2;
  if (priority <= 6) return 3;
  if (priority <= 8) return 4;
  return 5;
}

/** The JSON body of ntfy's publish API for one message to `topic`. */
export function ntfyBody(message: OutgoingMessage, topic: string): Record<string, unknown> {
  const body: Record<string, unknown> = { topic, message: message.message, priority: ntfyPriority(message.priority), markdown: true };
  if (message.title) body.title = message.title;
  if (message.url) body.click = message.url;
  // A tag that names an emoji (`warning`, `tada`) is shown as one; any other is listed as text.
  if (message.category) body.tags = [message.category];
  return body;
}

export class NtfyChannel implements ChannelAdapter<'ntfy'> {
  readonly name = 'ntfy' as const;
  private readonly http: ProviderHttpClient;
  private readonly endpoint: URL;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: NtfyOptions) {
    this.http = new ProviderHttpClient('NTFY', options.connections);
    this.endpoint = new URL(`${options.settings.url}/`);
    this.headers = { 'content-type': 'application/json' };
    if (options.settings.token) this.headers.authorization = `Bearer ${options.settings.token}`;
  }

  async send(message: OutgoingMessage, target: NtfyTarget, ctx: SendContext): Promise<Receipt> {
    const response = await this.http.request({
      url: this.endpoint,
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify(ntfyBody(message, target.topic)),
      timeoutMs: this.options.timeoutMs,
      signal: ctx.signal,
    });
    if (response.statusCode !== 200) throw httpFailure('NTFY', response.statusCode, response.headers['retry-after']);
    return { statusCode: 200 };
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
