/**
 * The HTTP client of a channel that POSTs to URLs its callers chose (Web Push endpoints, the webhook
 * channel's URLs): the endpoint guard (endpoint-guard.ts) around every request. The URL is checked
 * before anything is built for it, and, with the guard on, every new connection resolves through
 * guardedLookup, so it can only reach an address that was just checked. A refusal, by the URL
 * check or by the lookup, becomes the channel's own permanent DeliveryError.
 * `allowPrivate` (HERALD_ALLOW_PRIVATE_ENDPOINTS) lifts the scheme, port and address rules.
 */
import type { HttpProvider } from '../codes.js';
import { checkEndpointUrl, EndpointRefusedError, guardedLookup, type Resolver } from './endpoint-guard.js';
import { ProviderHttpClient, type HttpResponse, type ProviderRequest } from './http-client.js';
import type { DeliveryError } from './types.js';

export interface GuardedClientOptions {
  /** HERALD_ALLOW_PRIVATE_ENDPOINTS: skip the scheme, port and address rules. */
  allowPrivate: boolean;
  /** DNS resolver of the guarded lookup; tests inject one. */
  resolver?: Resolver;
}

/** The channel's permanent failure for a refused endpoint; `reason` never repeats the endpoint. */
export type Refusal = (reason: string, cause?: unknown) => DeliveryError;

/** The EndpointRefusedError behind a failed request, if the guard was what failed it. */
function guardRefusal(err: unknown): EndpointRefusedError | undefined {
  let current: unknown = err;
  for (let depth = 0; current && depth < 6; depth++) {
    if (current instanceof EndpointRefusedError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export class GuardedHttpClient {
  private readonly http: ProviderHttpClient;

  constructor(
    provider: HttpProvider,
    connections: number,
    private readonly options: GuardedClientOptions,
    private readonly refused: Refusal,
  ) {
    const connect = options.allowPrivate ? undefined : { lookup: guardedLookup(options.resolver) };
    this.http = new ProviderHttpClient(provider, connections, connect);
  }

  /** The endpoint as a URL to send to; throws the channel's refusal when the guard refuses it. */
  url(endpoint: string): URL {
    const url = checkEndpointUrl(endpoint, { allowPrivate: this.options.allowPrivate });
    if (typeof url === 'string') throw this.refused(url);
    return url;
  }

  /** Sends a request to a URL `url()` gave; a refusal at connection time becomes the channel's. */
  async request(request: ProviderRequest): Promise<HttpResponse> {
    try {
      return await this.http.request(request);
    } catch (err) {
      const refusal = guardRefusal(err);
      throw refusal ? this.refused(refusal.message, err) : err;
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
