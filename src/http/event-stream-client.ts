/**
 * One `/v1/events` client: Server-Sent Events over a raw HTTP response.
 *
 * Resumption. A client that gives a last event id first subscribes to the process's shared
 * reader (event-hub.ts), holding what it hands over, then reads the log after that id in pages
 * (XRANGE) and sends them, then sends what it held, then whatever comes: every id once, in order,
 * since an entry is sent only if its id is above the last one sent. Nothing is missed at the seam:
 * an entry written before the subscription is in the pages; one written after it is handed over.
 *
 * Shards. With several shards the client follows every shard's log (one hub each) and keeps the
 * last id passed in each; an event's SSE `id:` is that vector (store/event-ids.ts, a position), and
 * its Event id is its entry id qualified by its shard. A resuming client catches up every shard's
 * log after its own part of the position. With one shard, ids are the entry ids, as always.
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
import { encodePosition, eventIdOf } from '../event-ids.js';
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

function frame(position: string, eventId: string, fields: readonly string[], type: string): string {
  return `id: ${position}\nevent: ${type}\ndata: ${eventJson(eventId, fields)}\n\n`;
}

function typeOf(fields: readonly string[]): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'type') return fields[i + 1]!;
  return 'message';
}

export class EventStreamClient implements EventSubscriber {
  /**
   * Per shard, the id of the last entry passed (sent or filtered out); entries at or below it are
   * not sent again. Undefined (one shard, no Last-Event-ID): every entry handed over is new.
   */
  private readonly passed: (string | undefined)[];
  /** Entries handed over during the catch-up, with their shards, sent after it. */
  private held: [number, EventEntry][] | null = [];
  private heldBytes = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  /** Called once the client is gone (it ended, was dropped, or the server closes). */
  onClose: () => void = () => {};

  constructor(
    private readonly res: ServerResponse,
    private readonly filter: EventFilter,
    private readonly limits: EventStreamLimits,
    private readonly shards = 1,
  ) {
    this.passed = new Array<string | undefined>(shards).fill(undefined);
    res.on('close', () => this.finish());
  }

  /** Where the client stands, as its `id:` lines and a drop tell it; null before anything passed with one shard. */
  private position(): string | null {
    if (this.shards === 1) return this.passed[0] ?? null;
    return encodePosition(this.passed.map((id) => id ?? '0-0'));
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

  /**
   * Sends what the logs hold after `after` (each shard's last entry id), then what was held
   * meanwhile, then goes live. Without `after` it starts at `start`, where each shard's hub stood
   * when the client subscribed (with several shards a position must name every shard).
   */
  async catchUp(redis: RedisClient, logs: readonly EventLog[], after: readonly string[] | undefined, start: readonly string[] = []): Promise<void> {
    if (after !== undefined) {
      const lastEventId = this.shards === 1 ? after[0]! : encodePosition(after);
      after.forEach((id, shard) => {
        this.passed[shard] = id;
      });
      for (const [shard, log] of logs.entries()) {
        const { gap, oldestId } = await trimmedAfter(redis, log, after[shard]!);
        const oldest = oldestId === null ? null : eventIdOf(oldestId, shard, this.shards);
        if (gap) this.write(`event: gap\ndata: ${JSON.stringify({ lastEventId, oldestId: oldest })}\n\n`);
      }
      for (const [shard, log] of logs.entries()) {
        for (;;) {
          if (this.closed) return;
          const page = await pageAfter(redis, log, this.passed[shard]!, this.limits.pageSize);
          this.send(page, shard);
          if (page.length < this.limits.pageSize) break;
          await this.drained();
        }
      }
    } else if (this.shards > 1) {
      start.forEach((id, shard) => {
        this.passed[shard] = id;
      });
    }
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    for (const [shard, entry] of held) this.send([entry], shard);
  }

  /**
   * A batch of the shared reader. The bound is checked once per batch, before it: writes made in
   * one turn of the event loop all wait in the response's buffer until the next, however fast the
   * client reads, so what counts is what earlier batches left unsent. The buffer thus holds at most
   * the bound and one batch (the reader's COUNT).
   */
  push(entries: readonly EventEntry[], shard = 0): void {
    if (this.closed) return;
    if (this.overBound()) return;
    if (this.held) {
      for (const entry of entries) {
        this.held.push([shard, entry]);
        this.heldBytes += entry[1].reduce((sum, value) => sum + value.length, entry[0].length);
      }
      return;
    }
    this.send(entries, shard);
  }

  /** Drops the client when it has left more than the bound unsent. */
  private overBound(): boolean {
    if (this.res.writableLength + this.heldBytes <= this.limits.maxBufferBytes) return false;
    this.drop('the client reads slower than events arrive');
    return true;
  }

  private send(entries: readonly EventEntry[], shard: number): void {
    for (const [id, fields] of entries) {
      if (this.closed) return;
      const passed = this.passed[shard];
      if (passed !== undefined && compareIds(id, passed) <= 0) continue;
      this.passed[shard] = id;
      if (matches(this.filter, fields)) this.write(frame(this.position()!, eventIdOf(id, shard, this.shards), fields, typeOf(fields)));
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
    this.res.write(`event: dropped\ndata: ${JSON.stringify({ reason, lastEventId: this.position() })}\n\n`);
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
