/**
 * Keep-alive HTTP client for providers: one undici Pool per origin, created on first use, so a
 * steady stream of deliveries reuses warm connections (and TLS sessions) instead of opening one
 * per message. Every request has a deadline, redirects are never followed, and response bodies are
 * read only up to a small limit.
 */
import { Pool, type Dispatcher } from 'undici';
import type { HttpProvider } from '../codes.js';
import { networkFailure } from './classify.js';

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ProviderRequest {
  url: URL;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
}

const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * Pools unused this long are closed. Push endpoints are chosen by users, so without eviction the
 * set of origins (and their idle sockets) would only grow.
 */
const POOL_IDLE_MS = 5 * 60_000;

export class ProviderHttpClient {
  private readonly pools = new Map<string, Pool>();
  private readonly aborts = new AbortFanOut();
  private readonly lastUsed = new Map<string, number>();
  private lastSweep = Date.now();

  constructor(
    /** The provider, for its failures' messages, e.g. `GOTIFY`. */
    private readonly provider: HttpProvider,
    private readonly connectionsPerOrigin: number,
    private readonly connect?: Pool.Options['connect'],
    private readonly poolIdleMs: number = POOL_IDLE_MS,
  ) {}

  /** Origins with an open connection pool. */
  get origins(): string[] {
    return [...this.pools.keys()];
  }

  private pool(origin: string): Pool {
    const now = Date.now();
    if (now - this.lastSweep > this.poolIdleMs) this.closeIdlePools(now);
    this.lastUsed.set(origin, now);
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.connectionsPerOrigin,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 300_000,
        ...(this.connect ? { connect: this.connect } : {}),
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  private closeIdlePools(now: number): void {
    this.lastSweep = now;
    for (const [origin, used] of this.lastUsed) {
      if (now - used < this.poolIdleMs) continue;
      const pool = this.pools.get(origin);
      this.pools.delete(origin);
      this.lastUsed.delete(origin);
      // Requests still running on it finish; close() only waits for them.
      void pool?.close().catch(() => {});
    }
  }

  /**
   * Sends one request; network failures and the deadline become transient DeliveryErrors. It uses
   * undici's handler interface rather than `request()`: no body stream, no AbortController per
   * request, which halves the client's CPU per request at thousands of requests per second.
   */
  request(req: ProviderRequest): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let statusCode = 0;
      let rawHeaders: Buffer[] = [];
      let abort: ((reason: Error) => void) | undefined;
      let cutShort = false;
      let settled = false;
      // The deadline bounds the whole exchange (a wait for a free connection, connect, headers,
      // body); so does the caller's signal (shutdown).
      const cut = () => {
        cutShort = true;
        abort?.(new Error('request cut short'));
      };
      const timer = setTimeout(cut, req.timeoutMs);
      const unwatch = req.signal ? this.aborts.watch(req.signal, cut) : undefined;
      const settle = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unwatch?.();
        if (err !== null) reject(networkFailure(this.provider, err, cutShort));
        else resolve(response(statusCode, rawHeaders, Buffer.concat(chunks, Math.min(size, MAX_RESPONSE_BYTES)).toString('utf8')));
      };
      const handler: Dispatcher.DispatchHandler = {
        onConnect: (abortRequest) => {
          abort = abortRequest;
          if (cutShort) abortRequest(new Error('request cut short'));
        },
        onHeaders: (code, headers) => {
          statusCode = code;
          rawHeaders = headers as unknown as Buffer[];
          return true;
        },
        onData: (chunk) => {
          if (size < MAX_RESPONSE_BYTES) chunks.push(chunk.length > MAX_RESPONSE_BYTES - size ? chunk.subarray(0, MAX_RESPONSE_BYTES - size) : chunk);
          size += chunk.length;
          if (size >= MAX_RESPONSE_BYTES) {
            // Enough read: answer now and drop the rest with the connection.
            settle(null);
            abort?.(new Error('response body over the limit'));
            return false;
          }
          return true;
        },
        onComplete: () => settle(null),
        onError: (err) => settle(err),
      };
      try {
        const { url } = req;
        this.pool(url.origin).dispatch({ path: `${url.pathname}${url.search}`, method: req.method, headers: req.headers, body: req.body ?? null }, handler);
      } catch (err) {
        settle(err);
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
    this.lastUsed.clear();
  }
}

/** A response; its headers are decoded only when asked for (most deliveries never read them). */
function response(statusCode: number, rawHeaders: Buffer[], body: string): HttpResponse {
  let headers: Record<string, string | string[] | undefined> | undefined;
  return {
    statusCode,
    body,
    get headers() {
      if (!headers) {
        headers = {};
        for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString('latin1').toLowerCase();
          const value = rawHeaders[i + 1]!.toString('latin1');
          const seen = headers[name];
          headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
        }
      }
      return headers;
    },
  };
}

/**
 * One 'abort' listener per signal, however many requests use it: the worker passes the same
 * shutdown signal to every request, and a listener per request adds up at a worker's request rate.
 */
class AbortFanOut {
  private readonly bySignal = new Map<AbortSignal, Set<() => void>>();

  /** Calls `onAbort` when `signal` aborts (at once if it has); returns the function that stops watching. */
  watch(signal: AbortSignal, onAbort: () => void): () => void {
    if (signal.aborted) {
      onAbort();
      return () => {};
    }
    let callbacks = this.bySignal.get(signal);
    if (!callbacks) {
      const set = (callbacks = new Set());
      this.bySignal.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          this.bySignal.delete(signal);
          for (const callback of set) callback();
        },
        { once: true },
      );
    }
    callbacks.add(onAbort);
    return () => {
      callbacks.delete(onAbort);
    };
  }
}
