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
  private lastHref: string | undefined;
  private lastTarget: { origin: string; path: string } | undefined;

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
   * request, which halves the client's CPU per request at thousands of requests per second. The
   * handler is one object (Exchange) rather than a closure per callback: a worker makes thousands
   * of requests a second, and what each allocates is paid again in scavenges.
   */
  request(req: ProviderRequest): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      const exchange = new Exchange(this.provider, resolve, reject);
      // The deadline bounds the whole exchange (a wait for a free connection, connect, headers,
      // body); so does the caller's signal (shutdown).
      exchange.timer = setTimeout(deadlinePassed, req.timeoutMs, exchange);
      if (req.signal) exchange.watchedIn = this.aborts.watch(req.signal, exchange);
      try {
        const target = this.target(req.url);
        this.pool(target.origin).dispatch({ path: target.path, method: req.method, headers: req.headers, body: req.body ?? null }, exchange);
      } catch (err) {
        exchange.settle(err);
      }
    });
  }

  /**
   * A URL's origin and path, worked out once for the same URL again (a provider's one endpoint):
   * URL's origin, pathname and search getters make new strings on every call, its href does not.
   */
  private target(url: URL): { origin: string; path: string } {
    const { href } = url;
    if (href !== this.lastHref || !this.lastTarget) {
      this.lastHref = href;
      this.lastTarget = { origin: url.origin, path: `${url.pathname}${url.search}` };
    }
    return this.lastTarget;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
    this.lastUsed.clear();
  }
}

/** What the deadline's timer calls: `setTimeout`'s argument, so the timer needs no closure. */
function deadlinePassed(exchange: Exchange): void {
  exchange.cut();
}

/** One request's exchange with undici: its handler, its deadline and what it has read. */
class Exchange implements Dispatcher.DispatchHandler {
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Where the caller's signal is watched for this exchange (AbortFanOut). */
  watchedIn: Set<Cuttable> | undefined;
  private abortRequest: ((reason: Error) => void) | undefined;
  private statusCode = 0;
  private rawHeaders: Buffer[] = NO_HEADERS;
  private chunks: Buffer[] | undefined;
  private size = 0;
  private cutShort = false;
  private settled = false;

  constructor(
    private readonly provider: HttpProvider,
    private readonly resolve: (response: HttpResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  /** The deadline passed or the caller's signal aborted. */
  cut(): void {
    this.cutShort = true;
    this.abortRequest?.(new Error('request cut short'));
  }

  settle(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.watchedIn?.delete(this);
    if (err !== null) this.reject(networkFailure(this.provider, err, this.cutShort));
    else this.resolve(new ProviderResponse(this.statusCode, this.rawHeaders, this.bodyText()));
  }

  /** The body read, up to the limit; most responses come in one chunk, decoded without a copy. */
  private bodyText(): string {
    const { chunks } = this;
    if (!chunks) return '';
    const length = Math.min(this.size, MAX_RESPONSE_BYTES);
    return chunks.length === 1 ? chunks[0]!.toString('utf8', 0, length) : Buffer.concat(chunks, length).toString('utf8');
  }

  onConnect(abortRequest: (reason: Error) => void): void {
    this.abortRequest = abortRequest;
    if (this.cutShort) abortRequest(new Error('request cut short'));
  }

  onHeaders(code: number, headers: Buffer[]): boolean {
    this.statusCode = code;
    this.rawHeaders = headers;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const { size } = this;
    if (size < MAX_RESPONSE_BYTES) (this.chunks ??= []).push(chunk.length > MAX_RESPONSE_BYTES - size ? chunk.subarray(0, MAX_RESPONSE_BYTES - size) : chunk);
    this.size = size + chunk.length;
    if (this.size >= MAX_RESPONSE_BYTES) {
      // Enough read: answer now and drop the rest with the connection.
      this.settle(null);
      this.abortRequest?.(new Error('response body over the limit'));
      return false;
    }
    return true;
  }

  onComplete(): void {
    this.settle(null);
  }

  onError(err: Error): void {
    this.settle(err);
  }
}

const NO_HEADERS: Buffer[] = [];

/** A response; its headers are decoded only when asked for (most deliveries never read them). */
class ProviderResponse implements HttpResponse {
  private decoded: Record<string, string | string[] | undefined> | undefined;

  constructor(
    readonly statusCode: number,
    private readonly rawHeaders: Buffer[],
    readonly body: string,
  ) {}

  get headers(): Record<string, string | string[] | undefined> {
    if (!this.decoded) {
      const headers: Record<string, string | string[] | undefined> = {};
      const raw = this.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]!.toString('latin1').toLowerCase();
        const value = raw[i + 1]!.toString('latin1');
        const seen = headers[name];
        headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
      }
      this.decoded = headers;
    }
    return this.decoded;
  }
}

/**
 * One 'abort' listener per signal, however many requests use it: the worker passes the same
 * shutdown signal to every request, and a listener per request adds up at a worker's request rate.
 */
interface Cuttable {
  cut(): void;
}

class AbortFanOut {
  private readonly bySignal = new Map<AbortSignal, Set<{ cut(): void }>>();

  /**
   * Cuts `exchange` short when `signal` aborts (at once if it has); returns the set it is watched
   * in, from which it deletes itself when it ends (no closure per request to stop watching).
   */
  watch(signal: AbortSignal, exchange: Cuttable): Set<Cuttable> | undefined {
    if (signal.aborted) {
      exchange.cut();
      return undefined;
    }
    let watching = this.bySignal.get(signal);
    if (!watching) {
      const set = (watching = new Set());
      this.bySignal.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          this.bySignal.delete(signal);
          for (const each of set) each.cut();
        },
        { once: true },
      );
    }
    watching.add(exchange);
    return watching;
  }
}
