/**
 * One reader of the event log per API process, shared by every `/v1/events` client: a single
 * connection blocks in XREAD and hands each entry, in stream order, to every subscriber. A client
 * thus costs the API a subscription, not a Redis connection. The reader starts with the first
 * subscriber, from the newest id at that moment, and never skips: after a failure (Redis away,
 * the connection reset) it reads again from the last id it handed out, once the connection is
 * back (its connection waits and reconnects by itself).
 * With several shards the API runs one hub per shard's event log, each telling its subscribers
 * which shard an entry comes from.
 */
import type { RedisClient } from '../redis/client.js';
import type { Logger } from '../logger.js';
import type { EventLog } from '../store/events.js';
import { newestId, readAfter, type EventEntry } from '../store/event-reader.js';

export interface EventSubscriber {
  /** Entries of shard `shard`'s log in stream order, each id greater than the one before. */
  push(entries: readonly EventEntry[], shard: number): void;
  /** Bytes held for it that its client has not taken yet. */
  readonly bufferedBytes: number;
}

export interface EventHubOptions {
  /** How long one XREAD waits before it is issued again, in ms. */
  blockMs?: number;
  /** Entries fetched per XREAD at most. */
  count?: number;
  /** Pause after a failed read before the next, in ms. */
  retryMs?: number;
}

export class EventHub {
  private readonly subscribers = new Set<EventSubscriber>();
  private connection: RedisClient | undefined;
  private starting: Promise<void> | undefined;
  private lastId = '0-0';
  private closed = false;
  private readonly blockMs: number;
  private readonly count: number;
  private readonly retryMs: number;

  constructor(
    /** Opens the reader's connection: one that may block and waits for Redis rather than failing fast. */
    private readonly open: () => RedisClient,
    /** Reads the newest id before the reader starts (the fail-fast command connection). */
    private readonly command: () => Promise<RedisClient>,
    private readonly log: EventLog,
    private readonly logger: Logger,
    options: EventHubOptions = {},
    /** The shard whose log this hub reads (0 with one shard). */
    private readonly shard = 0,
  ) {
    this.blockMs = options.blockMs ?? 5000;
    this.count = options.count ?? 1000;
    this.retryMs = options.retryMs ?? 500;
  }

  /**
   * Adds a subscriber once the reader runs, and answers the id of the last entry handed out before
   * it was added: every entry after that id reaches it (and every entry written after this
   * resolves is after it).
   */
  async subscribe(subscriber: EventSubscriber): Promise<string> {
    await this.start();
    this.subscribers.add(subscriber);
    return this.lastId;
  }

  unsubscribe(subscriber: EventSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** How many clients are subscribed (for tests and metrics). */
  get size(): number {
    return this.subscribers.size;
  }

  /** The bytes each subscriber holds unsent. */
  buffered(): number[] {
    return [...this.subscribers].map((subscriber) => subscriber.bufferedBytes);
  }

  private start(): Promise<void> {
    this.starting ??= (async () => {
      const redis = await this.command();
      this.lastId = await newestId(redis, this.log);
      this.connection = this.open();
      void this.run(this.connection);
    })().catch((err: unknown) => {
      // The next subscriber tries again (the route answers 503 meanwhile).
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async run(connection: RedisClient): Promise<void> {
    while (!this.closed) {
      let entries: EventEntry[] | null;
      try {
        entries = await readAfter(connection, this.log, this.lastId, this.count, this.blockMs);
      } catch (err) {
        if (this.closed) return;
        this.logger.warn({ err }, 'reading the event log failed; reading again');
        await new Promise((resolve) => setTimeout(resolve, this.retryMs));
        continue;
      }
      if (!entries || entries.length === 0) continue;
      this.lastId = entries[entries.length - 1]![0];
      for (const subscriber of this.subscribers) subscriber.push(entries, this.shard);
    }
  }

  close(): void {
    this.closed = true;
    this.subscribers.clear();
    this.connection?.disconnect();
  }
}
