/**
 * What happens to a request body Herald answers without reading: a 413 sent as soon as the
 * Content-Length is known, a 401 or 415 decided from the headers.
 *
 * Closing the connection at once would leave the client's unsent bytes arriving at a closed
 * socket; the kernel then resets the connection, and the reset can reach the client before it
 * has read the answer, so the client sees EPIPE or ECONNRESET instead of the 413 (RFC 9112,
 * section 9.6). So the rest of the body is read and thrown away, and the connection stays open
 * (HTTP framing is intact, so it may carry the next request). Reading is bounded: past
 * DRAIN_LIMITS.maxBytes more than the route's own body limit, or DRAIN_LIMITS.maxMs after the
 * answer, the connection is closed; a client is not owed an unbounded amount of reading. The bound
 * counts from the route's limit so that a body just over a large limit (the batch route's 62.6 MiB)
 * is read to its end like one just over 64 KiB, instead of being cut 16 MiB in. A client that asked to close the connection
 * (`Connection: close`) has it closed once its body has been read.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface DrainLimits {
  /** Bytes beyond the route's body limit read and discarded after the answer before the connection is closed. */
  maxBytes: number;
  /** How long after the answer the rest of the body may take to arrive. */
  maxMs: number;
}

export const DRAIN_LIMITS: DrainLimits = { maxBytes: 16 * 1024 * 1024, maxMs: 10_000 };

function clientAskedToClose(request: FastifyRequest): boolean {
  const tokens = String(request.headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
  if (tokens.includes('close')) return true;
  return request.raw.httpVersion === '1.0' && !tokens.includes('keep-alive');
}

/**
 * Call before sending an answer to a request whose body may not have been read. Does nothing
 * when the whole request has arrived.
 */
export function drainUnreadBody(request: FastifyRequest, reply: FastifyReply, limits: DrainLimits = DRAIN_LIMITS): void {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return;
  const closeAfterBody = clientAskedToClose(request);
  // Fastify asks for `Connection: close` after a body error; Node would then close the socket as
  // soon as the answer is written, with the body still arriving. Keep it open while reading.
  reply.header('connection', 'keep-alive');

  let received = 0;
  const maxBytes = limits.maxBytes + (request.routeOptions.bodyLimit ?? 0);
  const timer = setTimeout(() => giveUp(), limits.maxMs);
  timer.unref();
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > maxBytes) giveUp();
  };
  const onEnd = () => {
    stop();
    if (closeAfterBody) raw.socket.end();
  };
  const stop = () => {
    clearTimeout(timer);
    raw.off('data', onData);
    raw.off('end', onEnd);
    raw.off('close', stop);
  };
  function giveUp(): void {
    stop();
    // Destroying a request whose body has not all arrived destroys its connection.
    raw.destroy();
  }
  // A 'data' listener puts the stream in flowing mode: what arrives is counted and dropped.
  raw.on('data', onData);
  raw.once('end', onEnd);
  raw.once('close', stop);
}
