/**
 * The live side of the inboxes: one Redis pub/sub connection per process, shared by every live
 * stream it serves. A user's channel is subscribed while at least one listener wants it and
 * unsubscribed with the last, so the connection carries only the inboxes someone is watching.
 * Messages are the InboxEvents the inbox scripts publish (lua/inbox-add.lua, lua/inbox-read.lua).
 * With several shards a user's inbox has one channel per shard (an item is published by its
 * notification's shard), and a listener hears them all.
 */
import { duplicateOf, type RedisClient } from '../redis/client.js';
import { waitUntilReady } from '../redis/connection.js';
import type { InboxEvent } from './inbox.js';
import type { Keys } from './keys.js';

/** How long the first live stream waits for the pub/sub connection. */
const CONNECT_TIMEOUT_MS = 5000;

export type InboxListener = (event: InboxEvent) => void;

export class InboxFeed {
  /** The pub/sub connection, once ready; shared by concurrent first subscribers. */
  private subscriber: Promise<RedisClient> | null = null;
  private readonly listeners = new Map<string, Set<InboxListener>>();

  constructor(
    private readonly redis: RedisClient,
    /** Every shard's keys: a user's inbox events come on one channel per shard. */
    private readonly keys: readonly Keys[],
  ) {}

  /** Calls `listener` with every new item and read mark of `userId`'s inbox until the returned function is called. */
  async subscribe(userId: string, listener: InboxListener): Promise<() => Promise<void>> {
    const unsubscribes: (() => Promise<void>)[] = [];
    try {
      for (const keys of this.keys) unsubscribes.push(await this.subscribeChannel(keys.inboxChannel(userId), listener));
    } catch (err) {
      for (const unsubscribe of unsubscribes) await unsubscribe().catch(() => {});
      throw err;
    }
    return async () => {
      for (const unsubscribe of unsubscribes) await unsubscribe();
    };
  }

  private async subscribeChannel(channel: string, listener: InboxListener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    // Resolves once Redis confirmed the subscription: from then on no event is missed.
    try {
      if (set.size === 1) await (await this.connection()).subscribe(channel);
    } catch (err) {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(channel);
      throw err;
    }
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      await (await this.subscriber)?.unsubscribe(channel);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const pending = this.subscriber;
    this.subscriber = null;
    const subscriber = await pending?.catch(() => null);
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  private connection(): Promise<RedisClient> {
    // A connection that failed to come up is forgotten, so the next stream tries again.
    this.subscriber ??= this.connect().catch((err: unknown) => {
      this.subscriber = null;
      throw err;
    });
    return this.subscriber;
  }

  private async connect(): Promise<RedisClient> {
    const subscriber = duplicateOf(this.redis);
    subscriber.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      const event = JSON.parse(message) as InboxEvent;
      for (const listener of set) listener(event);
    });
    // Errors surface to the streams as a closed connection; a listener-less error would crash the process.
    subscriber.on('error', () => {});
    await waitUntilReady(subscriber, CONNECT_TIMEOUT_MS);
    return subscriber;
  }
}
