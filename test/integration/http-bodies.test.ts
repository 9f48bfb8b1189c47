/**
 * Request bodies over real sockets: the per-route limits, what happens to a body answered before
 * it was read, and the errors Fastify and Node raise themselves (malformed paths, ranges, headers).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { BATCH_BODY_LIMIT_BYTES, BODY_LIMIT_BYTES } from '../../src/http/body-limits.js';
import { DRAIN_LIMITS } from '../../src/http/unread-body.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

async function listening(): Promise<{ app: FastifyInstance; port: number }> {
  h = await Harness.create();
  const app = await h.app();
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as { port: number }).port };
}

/** A raw HTTP/1.1 client: what it writes is exactly what the server reads, paths included. */
class RawClient {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  error: NodeJS.ErrnoException | undefined;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    this.socket.on('error', (err) => (this.error = err));
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** The next complete response (Content-Length framed); fails if the connection closes first. */
  async response(): Promise<{ status: number; headers: string; body: string }> {
    for (;;) {
      const text = this.received.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd >= 0) {
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? 0);
        const end = headEnd + 4 + length;
        if (this.received.length >= end) {
          const head = text.slice(0, headEnd);
          const body = this.received.subarray(headEnd + 4, end).toString('utf8');
          this.received = this.received.subarray(end);
          return { status: Number(head.split(' ')[1]), headers: head, body };
        }
      }
      if (this.closed) throw new Error(`connection closed before a full response (${this.error?.code ?? 'no error'})`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

const post = (path: string, length: number, extra = '') =>
  `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${PUBLISH_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n${extra}\r\n`;

describe('a body answered before it was read', () => {
  it('is read to its end after the 413, and the connection carries the next request', async () => {
    const { port } = await listening();
    const client = new RawClient(port);
    const body = Buffer.alloc(2 * 1024 * 1024, 'x');
    await client.write(post('/v1/notifications', body.length));
    await client.write(body.subarray(0, 64 * 1024));
    // The answer comes before the body is sent: Content-Length alone is over the limit.
    const answer = await client.response();
    expect([answer.status, JSON.parse(answer.body).error.code]).toEqual([413, 'HERALD_ERR_PAYLOAD_TOO_LARGE']);
    expect(JSON.parse(answer.body).error.message).toBe(`The request body is larger than ${BODY_LIMIT_BYTES} bytes, this route's limit`);
    // Only now does the rest of the body go out: the server still reads, so no write fails.
    await client.write(body.subarray(64 * 1024));
    await client.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    expect((await client.response()).status).toBe(200);
    client.socket.destroy();
  });

  it('is read to its end, then the connection is closed, when the client asked for that', async () => {
    const { port } = await listening();
    const client = new RawClient(port);
    const body = Buffer.alloc(1024 * 1024, 'x');
    await client.write(post('/v1/notifications', body.length, 'connection: close\r\n'));
    expect((await client.response()).status).toBe(413);
    await client.write(body);
    await client.closedByServer();
    expect(client.error).toBeUndefined();
  });

  it("is read to its end past a large route's own limit too: a batch 4 MiB over it gets its 413, no reset", async () => {
    const { port } = await listening();
    const client = new RawClient(port);
    const body = Buffer.alloc(BATCH_BODY_LIMIT_BYTES + 4 * 1024 * 1024, ' ');
    await client.write(post('/v1/notifications/batch', body.length, 'connection: close\r\n'));
    expect((await client.response()).status).toBe(413);
    // More than DRAIN_LIMITS.maxBytes in all, but within it of the route's limit: all of it is read.
    expect(body.length).toBeGreaterThan(DRAIN_LIMITS.maxBytes);
    await client.write(body);
    await client.closedByServer();
    expect(client.error).toBeUndefined();
  });

  it('is read only up to a bound: a client that keeps sending has its connection closed', async () => {
    const { port } = await listening();
    const client = new RawClient(port);
    await client.write(post('/v1/notifications', 1_000_000_000));
    expect((await client.response()).status).toBe(413);
    const chunk = Buffer.alloc(256 * 1024, 'x');
    // What the kernel took: what the server read, plus what the socket buffers hold.
    let written = 0;
    // Far past the bound, but far short of what was announced.
    while (written < 4 * DRAIN_LIMITS.maxBytes) {
      const failed = await client.write(chunk).then(
        () => false,
        () => true,
      );
      if (failed) break;
      written += chunk.length;
    }
    await client.closedByServer();
    expect(written).toBeLessThan(4 * DRAIN_LIMITS.maxBytes);
    expect(written).toBeGreaterThan(DRAIN_LIMITS.maxBytes);
  });

  it('of an unauthenticated request is read too, and answered 401', async () => {
    const { port } = await listening();
    const client = new RawClient(port);
    const body = Buffer.alloc(512 * 1024, 'x');
    await client.write(post('/v1/notifications', body.length).replace(`authorization: Bearer ${PUBLISH_KEY}\r\n`, ''));
    expect((await client.response()).status).toBe(401);
    await client.write(body);
    await client.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    expect((await client.response()).status).toBe(200);
    client.socket.destroy();
  });
});

describe('the batch route', () => {
  /**
   * The largest body the single route accepts: every text field at its maximum in characters,
   * each written as a \u escape (as Python's json module writes non-ASCII text), padded with
   * whitespace to just under 64 KiB.
   */
  function largestSingleBody(id: string): string {
    const escaped = (length: number) => '\\u00e9'.repeat(length);
    const json =
      `{"id":"${id}","to":"${escaped(128)}","title":"${escaped(250)}","message":"${escaped(4000)}",` +
      `"url":"https://example.org/${escaped(2028)}","category":"${escaped(64)}","data":{"note":"${escaped(1000)}"},` +
      `"targets":{"email":"bob@example.org","gotify":{"token":"${escaped(256)}"}},"channels":["email","gotify"]`;
    return `${json}${' '.repeat(BODY_LIMIT_BYTES - 1 - json.length)}}`;
  }

  it('accepts 1000 of the largest notifications the single route accepts', async () => {
    const { app } = await listening();
    const single = largestSingleBody('big-single');
    expect(single.length).toBe(BODY_LIMIT_BYTES);
    const headers = { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' };
    expect((await app.inject({ method: 'POST', url: '/v1/notifications', headers, payload: single })).statusCode).toBe(202);

    const batch = `{"notifications":[${Array.from({ length: 1000 }, (_, i) => largestSingleBody(`big-${String(i).padStart(4, '0')}`)).join(',')}]}`;
    expect(batch.length).toBeGreaterThan(1000 * BODY_LIMIT_BYTES);
    const res = await app.inject({ method: 'POST', url: '/v1/notifications/batch', headers, payload: batch });
    expect(res.statusCode).toBe(202);
    const { results } = res.json() as { results: { id?: string; status?: string }[] };
    expect(results).toHaveLength(1000);
    expect(results.every((r, i) => r.id === `big-${String(i).padStart(4, '0')}` && r.status === 'queued')).toBe(true);
    expect((await h.herald.status('big-0999'))?.status).toBe('queued');
  });

  it('refuses a body over its own limit with 413, and the other routes keep 64 KiB', async () => {
    const { app } = await listening();
    const headers = { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' };
    const over = `{"notifications":[{"to":"u","message":"m"}]}${' '.repeat(BATCH_BODY_LIMIT_BYTES)}`;
    const refused = await app.inject({ method: 'POST', url: '/v1/notifications/batch', headers, payload: over });
    expect([refused.statusCode, refused.json().error.code]).toEqual([413, 'HERALD_ERR_PAYLOAD_TOO_LARGE']);
    expect(refused.json().error.message).toBe(`The request body is larger than ${BATCH_BODY_LIMIT_BYTES} bytes, this route's limit`);
    const padded = `{"to":"u","message":"m"}${' '.repeat(BODY_LIMIT_BYTES)}`;
    expect((await app.inject({ method: 'POST', url: '/v1/notifications', headers, payload: padded })).statusCode).toBe(413);
    expect((await app.inject({ method: 'PUT', url: '/v1/recipients/u-1', headers, payload: `{}${' '.repeat(BODY_LIMIT_BYTES)}` })).statusCode).toBe(413);
    // A batch that would have been refused before: far over 64 KiB, well under its limit.
    const batch = {
      notifications: Array.from({ length: 300 }, (_, i) => ({
        id: `b-${i}`,
        to: `u-${i}`,
        title: 'Weekly digest',
        message: 'x'.repeat(1500),
        data: { room: i },
      })),
    };
    expect(JSON.stringify(batch).length).toBeGreaterThan(4 * BODY_LIMIT_BYTES);
    expect((await app.inject({ method: 'POST', url: '/v1/notifications/batch', headers, payload: batch })).statusCode).toBe(202);
  });
});

describe('errors Fastify and Node raise by themselves', () => {
  it('answer with the Herald code of their status, never a 500, and log no error', async () => {
    const { port } = await listening();
    const cases: [request: string, status: number, code: string][] = [
      ['GET /docs/static/../../package.json HTTP/1.1\r\nhost: x\r\n\r\n', 403, 'HERALD_ERR_FORBIDDEN'],
      ['GET /docs/static/a%00b HTTP/1.1\r\nhost: x\r\n\r\n', 403, 'HERALD_ERR_FORBIDDEN'],
      ['GET /docs/static/% HTTP/1.1\r\nhost: x\r\n\r\n', 400, 'HERALD_ERR_BAD_REQUEST'],
      ['GET /v1/notifications/%E0%A4%A HTTP/1.1\r\nhost: x\r\n\r\n', 400, 'HERALD_ERR_BAD_REQUEST'],
      ['GET /docs/static/swagger-ui.css HTTP/1.1\r\nhost: x\r\nrange: bytes=999999999-\r\n\r\n', 416, 'HERALD_ERR_RANGE_NOT_SATISFIABLE'],
      [`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HERALD_ERR_HEADERS_TOO_LARGE'],
      ['GET /healthz HTTP/1.1 extra\r\nhost: x\r\n\r\n', 400, 'HERALD_ERR_BAD_REQUEST'],
    ];
    for (const [request, status, code] of cases) {
      const client = new RawClient(port);
      await client.write(request);
      const answer = await client.response();
      expect([request.split('\r\n')[0]!.slice(0, 60), answer.status, JSON.parse(answer.body).error.code]).toEqual([
        request.split('\r\n')[0]!.slice(0, 60),
        status,
        code,
      ]);
      client.socket.destroy();
    }
    expect(h.logs.lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });

  it('take the longest user ids and notification ids in a path, percent-encoded', async () => {
    const { app } = await listening();
    const headers = { authorization: `Bearer ${PUBLISH_KEY}` };
    const userId = '藤'.repeat(128);
    expect(
      (await app.inject({ method: 'PUT', url: `/v1/recipients/${encodeURIComponent(userId)}`, headers, payload: { email: 'bob@example.org' } })).statusCode,
    ).toBe(200);
    expect((await app.inject({ method: 'GET', url: `/v1/recipients/${encodeURIComponent(userId)}`, headers })).json().userId).toBe(userId);
    expect((await app.inject({ method: 'GET', url: `/v1/notifications/${'n'.repeat(128)}`, headers })).statusCode).toBe(404);
    const tooLong = await app.inject({ method: 'GET', url: `/v1/notifications/${'n'.repeat(2000)}`, headers });
    expect([tooLong.statusCode, tooLong.json().error.code]).toEqual([414, 'HERALD_ERR_URI_TOO_LONG']);
  });
});
