/**
 * Keep-alive HTTP client for providers: one undici Pool per origin, created on first use, so a
 * steady stream of deliveries reuses warm connections (and TLS sessions) instead of opening one
 * per message. Every request has a deadline, redirects are never followed, and response bodies are
 * read only up to a small limit.
 */
import { Pool, type Dispatcher } from 'undici';
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
  private readonly lastUsed = new Map<string, number>();
  private lastSweep = Date.now();

  constructor(
    /** Upper-case provider name used in error codes, e.g. `GOTIFY`. */
    private readonly provider: string,
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

  /** Sends one request; network failures and the deadline become transient DeliveryErrors. */
  async request(req: ProviderRequest): Promise<HttpResponse> {
    // One timer per request bounds the whole exchange (connect, headers, body); it is cheaper
    // than combining AbortSignals on every request, which matters at thousands per second.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), req.timeoutMs);
    const onCallerAbort = () => controller.abort();
    req.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const response = await this.pool(req.url.origin).request({
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: controller.signal,
      } as Dispatcher.RequestOptions);
      const body = await readLimited(response.body, MAX_RESPONSE_BYTES);
      return { statusCode: response.statusCode, headers: response.headers, body };
    } catch (err) {
      throw networkFailure(this.provider, err, controller.signal);
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
    this.lastUsed.clear();
  }
}

/** Reads at most `limit` bytes of a body and drops the rest, so a hostile server cannot fill memory. */
async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (size < limit) chunks.push(buffer.subarray(0, limit - size));
    size += buffer.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}
