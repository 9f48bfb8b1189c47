/**
 * A real HTTP server on port 0 that stands in for a provider (Gotify, ntfy, a webhook receiver).
 * Tests script its answers in order — status, headers, delay, no answer at all, or a dropped
 * connection — and read back every request it received. With `inspect`, every request is checked
 * against the provider's wire format: one with problems is answered 400 and keeps its problems,
 * so a malformed request can never pass for a delivery.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the client's deadline must fire). */
  hang?: boolean;
  /** Drop the connection without answering (a network error for the client). */
  reset?: boolean;
  /** Answer only once this settles (then after `delayMs`): the test decides when. */
  heldUntil?: Promise<unknown>;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
  /** What `inspect` found wrong with the request; empty when it is well-formed. */
  problems: string[];
}

export class HttpDouble {
  readonly requests: ReceivedRequest[] = [];
  private readonly script: ScriptedAnswer[] = [];
  private readonly server: Server;
  private waiters: { count: number; resolve: () => void }[] = [];
  /** Answer used when the script is empty. */
  fallback: ScriptedAnswer;
  /** Picks the answer from the request itself (e.g. by message), ahead of the script; undefined falls through. */
  respond?: (request: ReceivedRequest) => ScriptedAnswer | undefined;

  constructor(
    fallback: ScriptedAnswer = { status: 200, body: '{"id":1}' },
    /** The provider's wire format: every problem of a request, in words. */
    private readonly inspect?: (request: ReceivedRequest) => string[],
  ) {
    this.fallback = fallback;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const received: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
          at: Date.now(),
          problems: [],
        };
        received.problems = this.inspect?.(received) ?? [];
        this.requests.push(received);
        this.waiters = this.waiters.filter((w) => {
          if (!(this.requests.length >= w.count)) return true;
          w.resolve();
          return false;
        });
        const scripted = this.respond?.(received) ?? this.script.shift() ?? this.fallback;
        const answer: ScriptedAnswer = received.problems.length > 0 ? { status: 400, body: JSON.stringify({ problems: received.problems }) } : scripted;
        if (answer.hang) return;
        if (answer.reset) {
          req.socket.destroy();
          return;
        }
        const reply = () =>
          setTimeout(() => {
            if (res.destroyed) return;
            res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
            res.end(answer.body ?? '');
          }, answer.delayMs ?? 0);
        if (answer.heldUntil) void answer.heldUntil.then(reply, reply);
        else reply();
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** Queues answers, used in order by the next requests. */
  answer(...answers: ScriptedAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  /** Resolves once `count` requests have arrived, or rejects after `timeoutMs`. */
  waitForRequests(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${count} requests, got ${this.requests.length}`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  json(index: number): Record<string, unknown> {
    return JSON.parse(this.requests[index]!.body.toString('utf8')) as Record<string, unknown>;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
