/**
 * The webhook dispatcher: reads the event log (keys.events()) as a member of one consumer group
 * per deployment, and turns each event into one webhook queue job per endpoint that asked for it.
 * Every worker process runs one; the group hands each entry to one of them.
 *
 * Durability: an entry is acknowledged (XACK) only after its jobs are in the queue. A worker killed
 * between the two leaves the entry in its pending list; another dispatcher claims it once it has
 * been idle for `claimIdleMs` (XAUTOCLAIM) and enqueues it again. The job ids make that second add
 * a no-op while the first job is still queued, so an endpoint receives each event at least once,
 * and twice only when the first delivery had already completed.
 *
 * The dispatcher never waits on HTTP: it only reads Redis and writes Redis. An endpoint receives
 * the events written from its registration on (by the stream ids' clock), never older ones.
 */
import type { RedisClient } from '../redis/client.js';
import type { Logger } from '../logger.js';
import type { Keys } from '../store/keys.js';
import { entryTimeMs } from '../store/event-entry.js';
import { parseEventEntry } from '../store/events.js';
import type { HeraldEvent } from '../types.js';
import type { WebhookEndpoint, WebhookStore } from '../store/webhooks.js';
import type { WebhookJobData, WebhookQueue } from '../queue/webhook-queue.js';
import { defineScripts, scripts, WEBHOOKS_IDLE_LAYOUT } from '../store/scripts.js';
import { ScriptCall } from '../store/script-layout.js';

/** The consumer group of the webhook dispatchers on the event stream. */
export const DISPATCH_GROUP = 'webhooks';

export interface DispatcherSettings {
  /** This dispatcher's consumer name in the group: unique per process. */
  consumer: string;
  /** Entries read at once. */
  batchSize: number;
  /** How long one read waits for new entries, in ms (also how long close() may wait for it). */
  blockMs: number;
  /** Pending entries idle this long belong to a dead dispatcher and are claimed, in ms. */
  claimIdleMs: number;
  /**
   * The Event id of a stream entry id: the entry id itself with one shard; with several, qualified
   * by the shard (store/event-ids.ts), so that ids stay unique across the shards' logs.
   */
  eventId?: (entryId: string) => string;
  /**
   * After a read that found fewer than `batchSize` entries, how long to let new ones gather before
   * the next read, in ms (0: read again at once). Every delivery writes an event, so reading as
   * soon as one is there would cost a read, an endpoint lookup and an acknowledgement for every
   * few deliveries; gathering makes those a few per second, for a webhook that much later.
   */
  gatherMs?: number;
  /**
   * While no endpoint is registered, how often to look again, in ms: the log is then skipped
   * rather than read (lua/webhooks-idle.lua), so a deployment without event webhooks pays nothing
   * per event; an endpoint starts receiving events at most this long after its registration,
   * from the first written after it.
   */
  idleCheckMs?: number;
}

type StreamEntry = [id: string, fields: string[]];

/** A consumer with nothing pending and idle this long is gone (a stopped process) and is removed from the group. */
const GONE_CONSUMER_IDLE_MS = 3_600_000;
/** Pause after a failed turn (Redis away) before the next. */
const RETRY_PAUSE_MS = 1000;

export function endpointWants(endpoint: Pick<WebhookEndpoint, 'events' | 'createdAt'>, event: HeraldEvent): boolean {
  if (entryTimeMs(event.id) < Date.parse(endpoint.createdAt)) return false;
  return endpoint.events[0] === '*' || (endpoint.events as readonly string[]).includes(event.type);
}

export class WebhookDispatcher {
  private stopped = false;
  private loop?: Promise<void>;
  /** Ends the pause between reads at once (close()). */
  private wake?: () => void;
  private nextClaimAt = 0;

  constructor(
    /** Commands that never block: claims, acks, endpoint reads. */
    private readonly redis: RedisClient,
    /** A connection of the dispatcher's own for the blocking read. */
    private readonly blockingRedis: RedisClient,
    private readonly keys: Keys,
    private readonly store: WebhookStore,
    private readonly queue: WebhookQueue,
    private readonly logger: Logger,
    private readonly settings: DispatcherSettings,
  ) {
    defineScripts(redis);
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.ensureGroup();
        while (!this.stopped) await this.turn();
      } catch (err) {
        if (this.stopped) break;
        this.logger.warn({ err }, 'webhook dispatcher: reading the event log failed; trying again');
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  }

  /** The group, from the stream's start: events written before any worker ran are not lost. */
  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.events(), DISPATCH_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
  }

  /**
   * Claims what dead dispatchers left (now and then), then reads and dispatches new entries; while
   * no endpoint is registered, skips them unread instead.
   */
  private async turn(): Promise<void> {
    if (Date.now() >= this.nextClaimAt) {
      this.nextClaimAt = Date.now() + this.settings.claimIdleMs / 2;
      await this.claimAbandoned();
    }
    const { idleCheckMs = 0 } = this.settings;
    if (idleCheckMs > 0 && (await this.skipWhileNoEndpoint())) {
      if (!this.stopped) await this.pause(idleCheckMs);
      return;
    }
    const { consumer, batchSize, blockMs } = this.settings;
    const answer = (await this.blockingRedis.xreadgroup(
      'GROUP',
      DISPATCH_GROUP,
      consumer,
      'COUNT',
      batchSize,
      'BLOCK',
      blockMs,
      'STREAMS',
      this.keys.events(),
      '>',
    )) as [string, StreamEntry[]][] | null;
    const entries = answer?.[0]?.[1] ?? [];
    if (entries.length > 0) await this.dispatch(entries);
    const gatherMs = this.settings.gatherMs ?? 0;
    if (entries.length > 0 && entries.length < batchSize && gatherMs > 0 && !this.stopped) await this.pause(gatherMs);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Whether no endpoint is registered; if so, the group has moved past every entry written before
   * the check. The endpoints live in shard 0 and this log in its own shard, so the two cannot be
   * one script on a Redis Cluster: the log's newest id is read first, then the endpoints, and the
   * group moves up to that id only. An endpoint registered after the check receives only events
   * written after its registration, which come after that id, so none it wants is skipped.
   */
  private async skipWhileNoEndpoint(): Promise<boolean> {
    const newest = (await this.redis.xrevrange(this.keys.events(), '+', '-', 'COUNT', 1))[0]?.[0];
    if ((await this.store.count()) > 0) return false;
    if (newest === undefined) return true;
    const call = new ScriptCall(WEBHOOKS_IDLE_LAYOUT, { events: this.keys.events() }, { group: DISPATCH_GROUP, upTo: newest });
    await scripts(this.redis).heraldWebhooksIdle(call.keys.length, ...call.keys, ...call.args);
    return true;
  }

  /** Entries another dispatcher read and never acknowledged, idle for claimIdleMs: enqueued here instead. */
  private async claimAbandoned(): Promise<void> {
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.redis.xautoclaim(
        this.keys.events(),
        DISPATCH_GROUP,
        this.settings.consumer,
        this.settings.claimIdleMs,
        cursor,
        'COUNT',
        this.settings.batchSize,
      )) as [string, StreamEntry[]];
      // Entries trimmed from the stream come back without fields; Redis drops them from the pending list.
      const live = entries.filter((entry) => Array.isArray(entry[1]));
      if (live.length > 0) {
        this.logger.info({ entries: live.length }, 'webhook dispatcher: claimed events another worker left unacknowledged');
        await this.dispatch(live);
      }
      cursor = next;
    } while (cursor !== '0-0' && !this.stopped);
    await this.forgetGoneConsumers();
  }

  /** Removes consumers of stopped processes (nothing pending, idle for an hour), so the group does not grow with restarts. */
  private async forgetGoneConsumers(): Promise<void> {
    const consumers = (await this.redis.xinfo('CONSUMERS', this.keys.events(), DISPATCH_GROUP)) as unknown[][];
    for (const fields of consumers) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
      const name = String(info.get('name'));
      if (name !== this.settings.consumer && Number(info.get('pending')) === 0 && Number(info.get('idle')) > GONE_CONSUMER_IDLE_MS) {
        await this.redis.xgroup('DELCONSUMER', this.keys.events(), DISPATCH_GROUP, name);
      }
    }
  }

  /** Enqueues the deliveries of `entries`, then acknowledges them. */
  private async dispatch(entries: readonly StreamEntry[]): Promise<void> {
    const endpoints = await this.store.all();
    const ids = entries.map(([id]) => id);
    // No endpoint wants anything: the entries are acknowledged unread. Every delivery emits an
    // event, so with no endpoint registered (the common case) this keeps the dispatcher's cost per
    // delivery to its share of one read and one acknowledgement.
    if (endpoints.length === 0) {
      await this.redis.xack(this.keys.events(), DISPATCH_GROUP, ...ids);
      return;
    }
    const jobs: WebhookJobData[] = [];
    for (const [id, fields] of entries) {
      let event: HeraldEvent;
      try {
        event = parseEventEntry(this.settings.eventId ? this.settings.eventId(id) : id, fields);
      } catch (err) {
        // One unreadable entry must not stop the webhooks: it is skipped (and acknowledged).
        this.logger.warn({ err, eventId: id }, 'webhook dispatcher: an event log entry is not an event; skipped');
        continue;
      }
      for (const endpoint of endpoints) if (endpointWants(endpoint, event)) jobs.push({ endpointId: endpoint.id, event });
    }
    await this.queue.add(jobs);
    await this.redis.xack(this.keys.events(), DISPATCH_GROUP, ...ids);
  }

  /** Stops reading; an entry read but not yet enqueued stays pending and is claimed by another dispatcher. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // Ends a blocking read at once rather than after blockMs.
    this.blockingRedis.disconnect();
    await this.loop;
  }
}
