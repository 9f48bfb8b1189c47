/**
 * One `/v1/events` client: Server-Sent Events over a raw HTTP response.
 *
 * Resumption. A client that gives a last event id first subscribes to the process's shared
 * reader (event-hub.ts), holding what it hands over, then reads the log after that id in pages
 * (XRANGE) and sends them, then sends what it held, then whatever comes: every id once, in order,
 * since an entry is sent only if its id is above the last one sent. Nothing is missed at the seam:
 * an entry written before the subscription is in the pages; one written after it is handed over.
 *
 * Back-pressure. What the socket has not taken is counted (the response's writableLength, plus
 * the entries held during the catch-up). Past `maxBufferBytes`, when the next batch of events
 * comes, the client is dropped: a final
 * `event: dropped` and the end of the response; a socket that takes nothing more is destroyed
 * after `dropGraceMs`. The catch-up itself waits for the socket to drain between pages, so a
 * client is dropped only when live events outrun it.
 */
import type { ServerResponse } from 'node:http';
import type { RedisClient } from '../redis/client.js';
import type { EventLog } from '../store/events.js';
import { compareIds } from '../store/events.js';
import { eventJson, matches, pageAfter, trimmedAfter, type EventEntry, type EventFilter } from '../store/event-reader.js';
import type { EventSubscriber } from './event-hub.js';

export interface EventStreamLimits {
  /** A comment line (`: ping`) this often, in ms, so proxies and clients see the stream is alive. */
  heartbeatMs: number;
  /** Bytes the socket may leave unsent before the client is dropped. */
  maxBufferBytes: number;
  /** How long a dropped client's socket may take to accept the final event before it is destroyed, in ms. */
  dropGraceMs: number;
  /** Entries per catch-up page. */
  pageSize: number;
}

export const DEFAULT_EVENT_STREAM_LIMITS: EventStreamLimits = { heartbeatMs: 15_000, maxBufferBytes: 1024 * 1024, dropGraceMs: 10_000, pageSize: 500 };

function frame(id: string, fields: readonly string[], type: string): string {
  return `id: ${id}\nevent: ${type}\ndata: ${eventJson(id, fields)}\n\n`;
}

function typeOf(fields: readonly string[]): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'type') return fields[i + 1]!;
  return 'message';
}

export class EventStreamClient implements EventSubscriber {
  /** The id of the last entry passed (sent or filtered out); entries at or below it are not sent again. */
  private sent: string | undefined;
  /** Entries handed over during the catch-up, sent after it. */
  private held: EventEntry[] | null = [];
  private heldBytes = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  /** Called once the client is gone (it ended, was dropped, or the server closes). */
  onClose: () => void = () => {};

  constructor(
    private readonly res: ServerResponse,
    private readonly filter: EventFilter,
    private readonly limits: EventStreamLimits,
  ) {
    res.on('close', () => this.finish());
  }

  /** Writes the headers and starts the heartbeat. */
  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
    this.heartbeat = setInterval(() => {
      if (!this.overBound()) this.write(': ping\n\n');
    }, this.limits.heartbeatMs);
  }

  /** Sends what the log holds after `after`, then what was held meanwhile, then goes live. */
  async catchUp(redis: RedisClient, log: EventLog, after: string | undefined): Promise<void> {
    if (after !== undefined) {
      this.sent = after;
      const { gap, oldestId } = await trimmedAfter(redis, log, after);
      if (gap) this.write(`event: gap\ndata: ${JSON.stringify({ lastEventId: after, oldestId })}\n\n`);
      for (;;) {
        if (this.closed) return;
        const page = await pageAfter(redis, log, this.sent, this.limits.pageSize);
        this.send(page);
        if (page.length < this.limits.pageSize) break;
        await this.drained();
      }
    }
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    this.send(held);
  }

  /**
   * A batch of the shared reader. The bound is checked once per batch, before it: writes made in
   * one turn of the event loop all wait in the response's buffer until the next, however fast the
   * client reads, so what counts is what earlier batches left unsent. The buffer thus holds at most
   * the bound and one batch (the reader's COUNT).
   */
  push(entries: readonly EventEntry[]): void {
    if (this.closed) return;
    if (this.overBound()) return;
    if (this.held) {
      for (const entry of entries) {
        this.held.push(entry);
        this.heldBytes += entry[1].reduce((sum, value) => sum + value.length, entry[0].length);
      }
      return;
    }
    this.send(entries);
  }

  /** Drops the client when it has left more than the bound unsent. */
  private overBound(): boolean {
    if (this.res.writableLength + this.heldBytes <= this.limits.maxBufferBytes) return false;
    this.drop('the client reads slower than events arrive');
    return true;
  }

  private send(entries: readonly EventEntry[]): void {
    for (const [id, fields] of entries) {
      if (this.closed) return;
      if (this.sent !== undefined && compareIds(id, this.sent) <= 0) continue;
      this.sent = id;
      if (matches(this.filter, fields)) this.write(frame(id, fields, typeOf(fields)));
    }
  }

  private write(text: string): void {
    if (!this.closed) this.res.write(text);
  }

  private drained(): Promise<void> {
    if (!this.res.writableNeedDrain || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Ends the client with a final `event: dropped` naming why. */
  drop(reason: string): void {
    if (this.closed) return;
    this.res.write(`event: dropped\ndata: ${JSON.stringify({ reason, lastEventId: this.sent ?? null })}\n\n`);
    this.finish();
    this.res.end();
    // The response is over, and so is the connection (no keep-alive for a client that lagged): the
    // socket closes once it has taken what is queued, or at the grace deadline.
    this.res.socket?.end();
    const timer = setTimeout(() => this.res.destroy(), this.limits.dropGraceMs);
    timer.unref();
    this.res.on('close', () => clearTimeout(timer));
  }

  /** Bytes not yet taken by the socket, with those held during the catch-up. */
  get bufferedBytes(): number {
    return this.res.writableLength + this.heldBytes;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = null;
    this.heldBytes = 0;
    clearInterval(this.heartbeat);
    this.onClose();
  }

  /** The server closes: end the response (clients reconnect with their last id). */
  end(): void {
    this.finish();
    this.res.end();
  }
}
