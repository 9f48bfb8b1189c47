/**
 * Gotify channel: `POST {GOTIFY_URL}/message` with the application token in `X-Gotify-Key`.
 * 200 is success; 400/401/403 (and other 4xx) are permanent; 429, 5xx, network errors and
 * timeouts are transient (see classify.ts).
 */
import { httpFailure } from './classify.js';
import { ProviderHttpClient } from './http-client.js';
import type { ChannelAdapter, GotifyTarget, OutgoingMessage, Receipt, SendContext } from './types.js';

export interface GotifySettings {
  url: string;
  /** GOTIFY_TOKEN: a shared application token. */
  defaultToken?: string;
  /**
   * HERALD_GOTIFY_SHARED: the shared token is used for a registered recipient without a token of
   * its own (a deployment whose users share one Gotify inbox). Never for an unknown recipient.
   */
  shared: boolean;
}

export interface GotifyOptions {
  settings: GotifySettings;
  timeoutMs: number;
  /** Keep-alive connections to the Gotify server; match the worker's concurrency. */
  connections: number;
}

/** The JSON body Gotify's `POST /message` takes. */
export function gotifyBody(message: OutgoingMessage): Record<string, unknown> {
  const extras: Record<string, unknown> = {
    'client::display': { contentType: 'text/markdown' },
  };
  if (message.url) {
    extras['client::notification'] = { click: { url: message.url } };
    extras['android::action'] = { onReceive: { intentUrl: message.url } };
  }
  const herald: Record<string, unknown> = { id: message.id };
  if (message.category) herald.category = message.category;
  if (message.data) herald.data = message.data;
  extras['herald::notification'] = herald;

  const body: Record<string, unknown> = { message: message.message, priority: message.priority, extras };
  if (message.title) body.title = message.title;
  return body;
}

/** What every accepted message answers: the adapters' callers only read it. */
const ACCEPTED: Receipt = Object.freeze({ statusCode: 200 });

export class GotifyChannel implements ChannelAdapter<'gotify'> {
  readonly name = 'gotify' as const;
  private readonly http: ProviderHttpClient;
  private readonly endpoint: URL;

  constructor(private readonly options: GotifyOptions) {
    this.http = new ProviderHttpClient('GOTIFY', options.connections);
    this.endpoint = new URL(`${options.settings.url}/message`);
  }

  async send(message: OutgoingMessage, target: GotifyTarget, ctx: SendContext): Promise<Receipt> {
    const response = await this.http.request({
      url: this.endpoint,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gotify-key': target.token },
      body: JSON.stringify(gotifyBody(message)),
      timeoutMs: this.options.timeoutMs,
      signal: ctx.signal,
    });
    if (response.statusCode !== 200) throw httpFailure('GOTIFY', response.statusCode, response.headers['retry-after']);
    return ACCEPTED;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
