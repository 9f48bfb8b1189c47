/**
 * The producer SDK. Applications enqueue notifications, manage recipients and presence, and read
 * statuses with it; the HTTP API is a thin layer over the same class.
 */
import {
  appSchemeProblem,
  DEAD_LETTER_RETENTION_SECONDS,
  DEFAULT_PREFIX,
  DEFAULT_REDIS_URL,
  ENQUEUE_LINGER_MS,
  EVENTS_RETENTION,
  normalizeAppSchemes,
  PREFIX_PATTERN,
  PREFIX_RULE,
  REPLICA_ACKS,
  SHARDS,
  STATUS_RETENTION_SECONDS,
  WEBPUSH_MAX_SUBSCRIPTIONS,
  type Bounds,
} from '../config.js';
import { HeraldError, validationError, type ErrorDetail } from '../errors.js';
import type { Keys } from '../store/keys.js';
import type { NotificationStore } from '../store/notifications.js';
import type { RecipientRegistry } from '../store/recipients.js';
import type { Page } from '../store/topics.js';
import { listDeadLetters, type DeadLetterPage } from '../store/dead-letters.js';
import { InboxService } from '../services/inbox.js';
import { InboxFeed } from '../store/inbox-feed.js';
import { InboxTokens } from '../store/inbox-tokens.js';
import { claimShardCount } from '../store/shard-count.js';
import { assertConnected, createClient, duplicateClient, waitUntilReady } from '../redis/connection.js';
import { isCluster, type ClusterNode, type RedisClient } from '../redis/client.js';
import type { EventLog } from '../store/events.js';
import { eventIterator, shardedEventIterator, type EventIteratorOptions } from './event-iterator.js';
import { MAX_BATCH, partlyAccepted } from '../queue/intake.js';
import { Cell } from './cell.js';
import { cellPrefix, clusterPrefixProblem, eventsPerShard, shardOf, shardsProblem } from '../shards.js';
import {
  DEFAULT_CHANNELS,
  type ChannelName,
  type DeadLetter,
  type EnqueueResult,
  type HeraldEvent,
  type Notification,
  type Preferences,
  type PresenceDevice,
  type NotificationInput,
  type PushSubscriptionJSON,
  type Recipient,
  type Status,
  type TopicRecipient,
} from '../types.js';
import {
  validateCancelGroup,
  validateEventQuery,
  validateNotification,
  validatePreferences,
  validatePresence,
  validatePresenceOffline,
  validatePushSubscription,
  validateRecipient,
  validateTopic,
  validateUserId,
  type NotificationRules,
} from '../validate.js';
import { EndpointChecker } from '../channels/endpoint-check.js';
import { WebhookStore, type WebhookEndpoint, type WebhookListing } from '../store/webhooks.js';
import { validateWebhookInput } from './webhook-input.js';
import { parseWindow, readSnapshot, readStats, type Stats, type StatsSnapshot, type StatsSources } from '../stats/read.js';

export interface HeraldOptions {
  /**
   * A Redis URL (`redis://…`, `rediss://…`) or an ioredis instance (`Redis` or `Cluster`); default
   * `redis://127.0.0.1:6379`. Ignored when `clusterNodes` is given.
   */
  redis?: string | RedisClient;
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES), such as `[{ host: '10.0.0.1', port: 7000 }]`. */
  clusterNodes?: readonly ClusterNode[];
  /** Key prefix shared with the workers (HERALD_PREFIX): 1-64 letters, digits, `_ . - { }`; default `herald`. */
  prefix?: string;
  /**
   * Shards of the deployment (HERALD_SHARDS), 1 to 64; default 1. Every producer and worker of a
   * deployment must use the same count: a notification's shard comes from its id.
   */
  shards?: number;
  /**
   * On a Redis Cluster: replicas that must hold an accepted notification before `notify` and
   * `notifyMany` answer (Redis WAIT, up to 1 s; fewer reject with HERALD_ERR_REDIS_UNAVAILABLE),
   * 0 to 5; default 1 (HERALD_REPLICA_ACKS). Not used on one Redis.
   */
  replicaAcks?: number;
  /** Fallback order when neither the notification nor the recipient names one; default gotify, webpush, email. */
  defaultChannels?: readonly ChannelName[];
  /** How long a status record (and its idempotency key) is kept; default 7 days. */
  statusRetentionSeconds?: number;
  /** Web Push subscriptions kept per user; default 20. */
  webpushMaxSubscriptions?: number;
  /** How long dead letters are kept; default 30 days. */
  deadLetterRetentionSeconds?: number;
  /** Events kept in the event log, about (HERALD_EVENTS_RETENTION); default 100000. */
  eventsRetention?: number;
  /** How long to wait for Redis on first use, in ms; default 5000. */
  connectTimeoutMs?: number;
  /**
   * Accept Web Push endpoints and webhook URLs that are plain http:, on any port or on loopback/private addresses
   * (HERALD_ALLOW_PRIVATE_ENDPOINTS=1); default false: only https: on port 443 of public addresses.
   */
  allowPrivateEndpoints?: boolean;
  /**
   * URL schemes besides `https:` a notification's `url` may use, such as `['mesh']` for
   * `mesh://room/1` links (HERALD_APP_SCHEMES); default none. Web, browser and system schemes
   * (`http`, `javascript`, `intent`, `file`, …) are refused with a RangeError.
   */
  appSchemes?: readonly string[];
  /**
   * Under sustained concurrent `notify` calls, how long a call may wait after the previous shared
   * transaction so that more calls share the next one, in ms; default 5, 0 to never wait. A caller
   * awaiting one call at a time never waits (HERALD_ENQUEUE_LINGER_MS for the API).
   */
  enqueueLingerMs?: number;
}

export { MAX_BATCH };

export interface BatchItemError {
  error: { code: string; message: string; details: ErrorDetail[] };
}
export type BatchResult = EnqueueResult | BatchItemError;

/** An option's value, or its default when absent; a RangeError naming the option otherwise. */
function boundedOption(name: string, value: number | undefined, bounds: Bounds, expected: { whole: boolean; unit?: string }): number {
  const chosen = value ?? bounds.default;
  if (typeof chosen !== 'number' || !Number.isFinite(chosen) || (expected.whole && !Number.isInteger(chosen)) || chosen < bounds.min || chosen > bounds.max) {
    const what = `${expected.whole ? 'a whole number' : 'a number'}${expected.unit ? ` of ${expected.unit}` : ''}`;
    throw new RangeError(`${name} must be ${what} from ${bounds.min} to ${bounds.max}, got ${String(value)}`);
  }
  return chosen;
}

/**
 * Routing over the shards (src/shards.ts): a notification goes to its id's cell, and so does
 * everything about it (status, cancel, dead letter, topic recipients). A recipient's addresses,
 * preferences, subscriptions, presence and topic memberships are read inside every cell's delivery
 * scripts, so they are written to every cell (idempotent writes: a failure in one cell fails the
 * call, and calling again makes the cells agree) and read from cell 0. Per-recipient state that
 * follows notifications (groups, digest windows, inbox items) lives in each notification's cell,
 * so cancelGroup and "read all" run in every cell. Deployment-wide registries (event webhooks,
 * inbox tokens) live in cell 0. With one shard there is one cell under the prefix itself.
 */
export class Herald {
  /** Cell 0's keys: with one shard, the deployment's. */
  readonly keys: Keys;
  /** Cell 0's store. */
  readonly store: NotificationStore;
  /** Cell 0's recipient registry (every cell holds the same recipients). */
  readonly recipientRegistry: RecipientRegistry;
  /** The deployment's cells, shard 0 first. */
  readonly cells: readonly Cell[];
  readonly shards: number;
  private readonly prefix: string;
  private readonly redis: RedisClient;
  private readonly ownsConnection: boolean;
  /**
   * Recipients' in-app inboxes: inbox tokens for a user's browser, pages, the live feed, marking
   * items read (which ends a notification whose escalation waited on the item).
   */
  readonly inbox: InboxService;
  private readonly connectTimeoutMs: number;
  private readonly rules: NotificationRules;
  private readonly endpoints: EndpointChecker;
  private readonly webhookStore: WebhookStore;
  private connected = false;
  /** The wait for the first connection, while one is under way. */
  private firstConnection: Promise<void> | undefined;
  /** Connections opened for blocking reads of the event log, closed with this client. */
  private readonly blocking = new Set<RedisClient>();

  constructor(options: HeraldOptions = {}) {
    // Checked before a connection is opened, so a refused option leaves nothing behind. The
    // bounds are those of the matching environment variables of `herald api`, `worker` and `start`.
    const lingerMs = boundedOption('enqueueLingerMs', options.enqueueLingerMs, ENQUEUE_LINGER_MS, { whole: false, unit: 'milliseconds' });
    const statusRetentionSeconds = boundedOption('statusRetentionSeconds', options.statusRetentionSeconds, STATUS_RETENTION_SECONDS, {
      whole: true,
      unit: 'seconds',
    });
    const deadLetterRetentionSeconds = boundedOption('deadLetterRetentionSeconds', options.deadLetterRetentionSeconds, DEAD_LETTER_RETENTION_SECONDS, {
      whole: true,
      unit: 'seconds',
    });
    const eventsRetention = boundedOption('eventsRetention', options.eventsRetention, EVENTS_RETENTION, { whole: true });
    const webpushMaxSubscriptions = boundedOption('webpushMaxSubscriptions', options.webpushMaxSubscriptions, WEBPUSH_MAX_SUBSCRIPTIONS, { whole: true });
    const shards = boundedOption('shards', options.shards, SHARDS, { whole: true });
    const replicaAcks = boundedOption('replicaAcks', options.replicaAcks, REPLICA_ACKS, { whole: true });
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    // A prefix HERALD_PREFIX refuses would queue notifications no worker can be started to deliver.
    if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) throw new RangeError(`prefix must be ${PREFIX_RULE}, got ${JSON.stringify(prefix)}`);
    const shardsTrouble = shardsProblem(prefix, shards);
    if (shardsTrouble) throw new RangeError(`shards ${shardsTrouble}`);
    const onCluster = options.clusterNodes !== undefined || (typeof options.redis === 'object' && isCluster(options.redis));
    const clusterPrefix = onCluster ? clusterPrefixProblem(prefix, shards) : null;
    if (clusterPrefix) throw new RangeError(`prefix ${clusterPrefix}`);
    const appSchemes = appSchemesOption(options.appSchemes);
    if (options.clusterNodes !== undefined) {
      if (!Array.isArray(options.clusterNodes) || options.clusterNodes.length === 0)
        throw new RangeError('clusterNodes must list seed nodes such as [{ host: "10.0.0.1", port: 7000 }]');
      this.redis = createClient({ clusterNodes: options.clusterNodes }, 'command', 'herald-sdk');
      this.ownsConnection = true;
    } else if (typeof options.redis === 'object') {
      this.redis = options.redis;
      this.ownsConnection = false;
    } else {
      this.redis = createClient({ url: options.redis ?? DEFAULT_REDIS_URL }, 'command', 'herald-sdk');
      this.ownsConnection = true;
    }
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.rules = { appSchemes };
    this.endpoints = new EndpointChecker({ allowPrivate: options.allowPrivateEndpoints ?? false });
    this.prefix = prefix;
    this.shards = shards;
    const settings = {
      defaultChannels: options.defaultChannels ?? DEFAULT_CHANNELS,
      statusRetentionSeconds,
      deadLetterRetentionSeconds,
      eventsRetention: eventsPerShard(eventsRetention, shards),
      webpushMaxSubscriptions,
      lingerMs,
      // One Redis has no failover to lose a write to; a cluster promotes a replica that may lack it.
      replicaAcks: isCluster(this.redis) ? replicaAcks : 0,
    };
    this.cells = Array.from({ length: shards }, (_, shard) => new Cell(shard, this.redis, cellPrefix(prefix, shard, shards), settings));
    const first = this.cells[0]!;
    this.keys = first.keys;
    this.store = first.store;
    this.recipientRegistry = first.recipients;
    this.inbox = new InboxService({
      cells: this.cells.map((cell) => ({ store: cell.inbox, cancellations: cell.cancellations })),
      shardOf: (id) => shardOf(id, shards),
      tokens: new InboxTokens(this.redis, this.keys),
      feed: new InboxFeed(
        this.redis,
        this.cells.map((cell) => cell.keys),
      ),
      connected: () => this.connection(),
    });
    this.webhookStore = new WebhookStore(this.redis, this.keys);
  }

  /** The cell of the notification `id`. */
  cellOf(id: string): Cell {
    return this.cells[shardOf(id, this.shards)]!;
  }

  /** Runs `write` in every cell (recipient-wide data); answers cell 0's result. */
  private async everyCell<T>(write: (cell: Cell) => Promise<T>): Promise<T> {
    const results = await Promise.all(this.cells.map(write));
    return results[0]!;
  }

  /** The connection, checked: waits for it on first use, then fails fast while it is down. */
  async connection(): Promise<RedisClient> {
    if (!this.connected) {
      // Calls made while the first connection is being made share one wait (one pair of listeners
      // on the connection, however many callers); a failed wait is not kept, so the next call tries again.
      // The deployment's shard count is checked once, on the first connection: a client with
      // another count would put notifications in shards no worker looks in for them.
      this.firstConnection ??= waitUntilReady(this.redis, this.connectTimeoutMs)
        .then(() => claimShardCount(this.redis, this.prefix, this.shards))
        .finally(() => {
          this.firstConnection = undefined;
        });
      await this.firstConnection;
      this.connected = true;
    } else if (this.ownsConnection) {
      assertConnected(this.redis);
    }
    return this.redis;
  }

  /**
   * Resolves when Redis answers: on a Redis Cluster, the node of every shard (a shard whose primary
   * is away, mid-failover, makes it reject), else the one server.
   */
  async ping(): Promise<void> {
    const redis = await this.connection();
    if (isCluster(redis)) await Promise.all(this.cells.map((cell) => redis.exists(cell.keys.statsTotals())));
    else await redis.ping();
  }

  /**
   * Enqueues one notification. Throws HeraldError (HERALD_ERR_VALIDATION) on invalid input: the
   * type says what TypeScript callers may pass, and the same checks run for JavaScript callers and
   * HTTP bodies at run time. Calls made in the same turn of the event loop share one Redis
   * transaction (see Intake).
   */
  async notify(input: NotificationInput): Promise<EnqueueResult> {
    const notification = validateNotification(input, Date.now(), this.rules);
    const targets = pushTargetEndpoints(notification);
    const problems = endpointDetails(
      targets,
      await this.endpoints.check(
        targets.map((t) => t.endpoint),
        'targets.webpush',
      ),
    );
    if (problems.length > 0) throw validationError(problems);
    await this.connection();
    return this.cellOf(notification.id).intake.enqueueOne(notification);
  }

  /**
   * Enqueues up to 1000 notifications in one Redis round trip. Each invalid item gets an `error`
   * in its place; the valid ones are enqueued. The push endpoints of the whole batch are checked
   * together: more different hosts than one request may name refuse the batch (HERALD_ERR_VALIDATION
   * naming `notifications`).
   */
  async notifyMany(inputs: readonly NotificationInput[]): Promise<BatchResult[]> {
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_BATCH) {
      throw validationError([{ field: 'notifications', message: `Expected an array of 1 to ${MAX_BATCH} notifications` }]);
    }
    const now = Date.now();
    const items = inputs.map((input): Notification | HeraldError => {
      try {
        return validateNotification(input, now, this.rules);
      } catch (err) {
        if (err instanceof HeraldError) return err;
        throw err;
      }
    });
    const targets = items.map((item) => (item instanceof HeraldError ? [] : pushTargetEndpoints(item)));
    const flat = targets.flat();
    const problems = await this.endpoints.check(
      flat.map((t) => t.endpoint),
      'notifications',
    );
    let offset = 0;
    const results = items.map((item, index): BatchItemError | Notification => {
      if (item instanceof HeraldError) return item.toJSON();
      const mine = targets[index]!;
      const start = offset;
      offset += mine.length;
      const details = endpointDetails(mine, problems.slice(start, offset));
      return details.length > 0 ? validationError(details).toJSON() : item;
    });
    const valid = results.filter((r): r is Notification => !('error' in r));
    await this.connection();
    const enqueued = await this.enqueueByCell(valid, now);
    let next = 0;
    return results.map((r) => ('error' in r ? r : enqueued[next++]!));
  }

  /**
   * Enqueues a batch cell by cell (a transaction stays within one cell), the cells side by side, and
   * answers in the batch's order. When a cell's transaction fails after others were accepted, the
   * error names the accepted ones, as a split batch's does (sending the batch again is safe).
   */
  private async enqueueByCell(notifications: Notification[], now: number): Promise<EnqueueResult[]> {
    if (this.cells.length === 1) return this.cells[0]!.intake.enqueue(notifications, now);
    const byCell = new Map<Cell, number[]>();
    notifications.forEach((notification, index) => {
      const cell = this.cellOf(notification.id);
      byCell.set(cell, [...(byCell.get(cell) ?? []), index]);
    });
    const answers: EnqueueResult[] = new Array(notifications.length);
    const settled = await Promise.allSettled(
      [...byCell].map(async ([cell, places]) => {
        const results = await cell.intake.enqueue(
          places.map((place) => notifications[place]!),
          now,
        );
        places.forEach((place, i) => {
          answers[place] = results[i]!;
        });
      }),
    );
    const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed) throw partlyAccepted(failed.reason, answers.filter(Boolean), notifications.length);
    return answers;
  }

  /** The status record of a notification, or null when unknown (or past retention). */
  async status(id: string): Promise<Status | null> {
    await this.connection();
    return this.cellOf(id).store.status(id);
  }

  /**
   * Cancels a pending notification (queued, scheduled, or between tries and channels) and answers
   * its status, `canceled`: no attempt starts once this has answered. A send already handed to a
   * provider may still arrive; it is not recorded. Throws HeraldError HERALD_ERR_NOT_FOUND for an
   * unknown id, HERALD_ERR_ALREADY_FINISHED (`details`: `[{field: 'status', message: <status>}]`)
   * for one that has already ended. A topic notification is canceled with every pending
   * notification of its recipients, and its fan-out stops (see docs/api.md, Cancel).
   */
  async cancel(id: string): Promise<Status> {
    await this.connection();
    return this.cellOf(id).cancellations.cancel(id);
  }

  /**
   * Cancels every pending notification of recipient `to` with `groupKey` (as `cancel` does each)
   * and answers how many it canceled; `to`'s notification of a topic notification with that
   * groupKey accepted before the call, not yet written by its fan-out, is written canceled. Throws HERALD_ERR_VALIDATION for an invalid user id or key.
   */
  async cancelGroup(to: string, groupKey: string): Promise<number> {
    validateCancelGroup({ to, groupKey });
    await this.connection();
    // The group's notifications live in their own ids' cells.
    const counts = await Promise.all(this.cells.map((cell) => cell.cancellations.cancelGroup(to, groupKey)));
    return counts.reduce((sum, n) => sum + n, 0);
  }

  readonly recipients = {
    set: async (userId: string, recipient: unknown): Promise<Recipient> => {
      validateUserId(userId);
      const input = validateRecipient(recipient);
      if (input.userId !== undefined && input.userId !== userId) {
        throw validationError([{ field: 'userId', message: 'Does not match the user id of the path' }]);
      }
      if (input.webhook) {
        // Herald will POST to it from inside the deployment: the same guard as a push endpoint.
        const [problem] = await this.endpoints.check([input.webhook.url], 'webhook.url');
        if (problem) throw validationError([{ field: 'webhook.url', message: problem }]);
      }
      await this.connection();
      return this.everyCell((cell) => cell.recipients.set(userId, input));
    },
    get: async (userId: string): Promise<Recipient | null> => {
      validateUserId(userId);
      await this.connection();
      return this.recipientRegistry.get(userId);
    },
    delete: async (userId: string): Promise<boolean> => {
      validateUserId(userId);
      await this.connection();
      return this.everyCell((cell) => cell.recipients.delete(userId));
    },
    addWebPush: async (userId: string, subscription: unknown): Promise<string> => {
      validateUserId(userId);
      const valid: PushSubscriptionJSON = validatePushSubscription(subscription);
      const [problem] = await this.endpoints.check([valid.endpoint], 'endpoint');
      if (problem) throw validationError([{ field: 'endpoint', message: problem }]);
      await this.connection();
      return this.everyCell((cell) => cell.recipients.addWebPush(userId, valid));
    },
    removeWebPush: async (userId: string, subscriptionId: string): Promise<boolean> => {
      validateUserId(userId);
      await this.connection();
      return this.everyCell((cell) => cell.recipients.removeWebPush(userId, subscriptionId));
    },
    /**
     * Replaces the recipient's preferences (`{}` clears them), enforced from the next delivery
     * step on, queued notifications included. Throws HERALD_ERR_VALIDATION naming the bad field.
     */
    setPreferences: async (userId: string, preferences: unknown): Promise<Preferences> => {
      validateUserId(userId);
      const valid = validatePreferences(preferences);
      await this.connection();
      return this.everyCell((cell) => cell.recipients.setPreferences(userId, valid));
    },
  };

  /**
   * Presence per device: a user is online while any of its devices' presence lives, and each
   * device's presence carries the context of its latest `online` call. Without `device`, `online`
   * is about the device named `default` and `offline` about every device.
   */
  readonly presence = {
    online: async (userId: string, options: { ttlSeconds: number; device?: string; context?: string }): Promise<void> => {
      validateUserId(userId);
      const { ttlSeconds, device, context } = validatePresence(options);
      await this.connection();
      await this.everyCell((cell) => cell.recipients.setOnline(userId, ttlSeconds, device, context));
    },
    offline: async (userId: string, options: { device?: string } = {}): Promise<void> => {
      validateUserId(userId);
      const { device } = validatePresenceOffline(options);
      await this.connection();
      await this.everyCell((cell) => cell.recipients.setOffline(userId, device));
    },
    isOnline: async (userId: string): Promise<boolean> => {
      validateUserId(userId);
      await this.connection();
      return this.recipientRegistry.isOnline(userId);
    },
    /** The devices whose presence lives, soonest to end first, each with its context. */
    devices: async (userId: string): Promise<PresenceDevice[]> => {
      validateUserId(userId);
      await this.connection();
      return this.recipientRegistry.devices(userId);
    },
  };

  /**
   * Topics: named sets of user ids (a chat room's members). `notify({ topic, exclude })` gives
   * every member at that instant but the excluded a notification of its own; `recipients` lists
   * them with their statuses. Listings page by name: pass the previous page's `next` as `cursor`.
   */
  readonly topics = {
    add: async (topic: string, userId: string): Promise<void> => {
      validateTopic(topic);
      validateUserId(userId);
      await this.connection();
      // A topic notification copies its topic's members in its own cell: every cell keeps them.
      await this.everyCell((cell) => cell.topics.addMember(topic, userId));
    },
    /** Whether `userId` was a member. */
    remove: async (topic: string, userId: string): Promise<boolean> => {
      validateTopic(topic);
      validateUserId(userId);
      await this.connection();
      return this.everyCell((cell) => cell.topics.removeMember(topic, userId));
    },
    members: async (topic: string, options: { limit?: number; cursor?: string } = {}): Promise<Page<string>> => {
      validateTopic(topic);
      const limit = pageLimit(options.limit);
      await this.connection();
      return this.cells[0]!.topics.members(topic, limit, options.cursor);
    },
    /** The recipients of a topic notification with their own notifications' ids and statuses; null when `id` is not a topic notification. */
    recipients: async (id: string, options: { limit?: number; cursor?: string } = {}): Promise<Page<TopicRecipient> | null> => {
      const limit = pageLimit(options.limit);
      await this.connection();
      return this.cellOf(id).topics.recipients(id, limit, options.cursor);
    },
  };

  /** Dead letters: notifications no channel could deliver (scope `admin` over HTTP). */
  readonly deadLetters = {
    list: async (options: { limit?: number; cursor?: string } = {}): Promise<DeadLetterPage> => {
      const limit = options.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw validationError([{ field: 'limit', message: 'Expected a whole number from 1 to 500' }]);
      }
      await this.connection();
      return listDeadLetters(
        this.cells.map((cell) => cell.deadLetters),
        limit,
        options.cursor,
      );
    },
    get: async (id: string): Promise<DeadLetter | null> => {
      await this.connection();
      return this.cellOf(id).deadLetters.get(id);
    },
    replay: async (id: string): Promise<{ id: string; status: 'queued' }> => {
      await this.connection();
      await this.cellOf(id).replay.replay(id);
      return { id, status: 'queued' };
    },
    delete: async (id: string): Promise<void> => {
      await this.connection();
      await this.cellOf(id).deadLetters.delete(id);
    },
    count: async (): Promise<number> => {
      await this.connection();
      const counts = await Promise.all(this.cells.map((cell) => cell.deadLetters.count()));
      return counts.reduce((sum, n) => sum + n, 0);
    },
  };

  /**
   * Delivery statistics of the whole deployment over the last `windowSeconds` (60 … 604800,
   * default 3600), the same figures as `GET /v1/stats`. Throws HERALD_ERR_VALIDATION naming
   * `window` for any other value.
   */
  async stats(windowSeconds?: number): Promise<Stats> {
    const window = parseWindow(windowSeconds);
    return readStats(await this.statsSources(), window);
  }

  /**
   * The running totals since the deployment began (they never go down) with the queue depths,
   * dead letters and live workers as they are now: what `GET /metrics` exposes.
   */
  async statsTotals(): Promise<StatsSnapshot> {
    return readSnapshot(await this.statsSources(), (keys) => [keys.statsTotals()]);
  }

  private async statsSources(): Promise<StatsSources> {
    await this.connection();
    return { cells: this.cells.map((cell) => cell.stats) };
  }

  /**
   * Event webhook endpoints: each receives the events it asked for, signed as Standard Webhooks with
   * its own secret, from the worker processes. The secret is in create()'s answer only.
   */
  readonly webhooks = {
    /**
     * Registers an endpoint. Throws HERALD_ERR_VALIDATION for a bad body and
     * HERALD_ERR_WEBHOOK_URL_REFUSED for a URL the endpoint guard refuses (not https: on a public
     * address, unless allowPrivateEndpoints).
     */
    create: async (input: { url: string; events: readonly string[] }): Promise<WebhookEndpoint> => {
      const valid = validateWebhookInput(input);
      const [problem] = await this.endpoints.check([valid.url], 'url');
      if (problem) throw new HeraldError('HERALD_ERR_WEBHOOK_URL_REFUSED', `The webhook URL is refused: ${problem}`, [{ field: 'url', message: problem }]);
      await this.connection();
      return this.webhookStore.create(valid.url, valid.events);
    },
    /** Every endpoint, oldest first, without secrets, with how its deliveries are going. */
    list: async (): Promise<WebhookListing[]> => {
      await this.connection();
      return this.webhookStore.list();
    },
    /** Deletes an endpoint and drops its pending deliveries; false when there was none. */
    delete: async (id: string): Promise<boolean> => {
      await this.connection();
      return this.webhookStore.delete(id);
    },
  };

  /** Closes the queues and, when Herald opened it, the Redis connection. */
  /**
   * The event log as an async iterator: every change of a notification, as `/v1/events` streams it
   * (see docs/api.md#events). `after` resumes strictly after that event id; without it, events from
   * now on. `types` and `to` filter. It reads on a Redis connection of its own, closed when the loop
   * ends (break, return) or this client closes.
   */
  events(
    options: { types?: readonly string[]; to?: string; after?: string; onGap?: EventIteratorOptions['onGap'] } = {},
  ): AsyncGenerator<HeraldEvent, void, undefined> {
    const query = validateEventQuery(options, undefined, this.shards);
    if (this.shards > 1) {
      return shardedEventIterator(
        () => this.blockingConnection(),
        this.eventLogs,
        { ...query, onGap: options.onGap },
        (connection) => this.releaseBlocking(connection),
      );
    }
    return eventIterator(
      () => this.blockingConnection(),
      this.store.eventLog,
      { ...query, onGap: options.onGap },
      (connection) => this.releaseBlocking(connection),
    );
  }

  /**
   * A connection of its own that may block (XREAD BLOCK) and waits for Redis rather than failing
   * fast; closed by releaseBlocking or with this client. The API's event reader uses one.
   */
  blockingConnection(): RedisClient {
    const connection = duplicateClient(this.redis, 'worker', { commandTimeout: undefined, connectionName: `herald-events:${this.prefix}` });
    this.blocking.add(connection);
    return connection;
  }

  releaseBlocking(connection: RedisClient): void {
    this.blocking.delete(connection);
    connection.disconnect();
  }

  /** Where cell 0's scripts write events, and how many are kept (with one shard, the deployment's log). */
  get eventLog(): EventLog {
    return this.store.eventLog;
  }

  /** Every cell's event log, shard 0 first. */
  get eventLogs(): EventLog[] {
    return this.cells.map((cell) => cell.store.eventLog);
  }

  async close(): Promise<void> {
    await this.inbox.close();
    for (const connection of [...this.blocking]) this.releaseBlocking(connection);
    await Promise.all(this.cells.map((cell) => cell.close()));
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

interface EndpointTarget {
  field: string;
  endpoint: string;
}

/**
 * The explicit Web Push endpoints of a notification, each with its field. They are checked before
 * anything is stored (endpoint-check.ts) and again by the worker at send time.
 */
function pushTargetEndpoints(notification: Notification): EndpointTarget[] {
  return (notification.targets?.webpush ?? []).map((subscription, index) => ({ field: `targets.webpush.${index}.endpoint`, endpoint: subscription.endpoint }));
}

function endpointDetails(targets: EndpointTarget[], problems: (string | null)[]): ErrorDetail[] {
  return targets.flatMap((target, i) => (problems[i] ? [{ field: target.field, message: problems[i] }] : []));
}

/** Entries of a topic listing page at most, and by default. */
export const MAX_PAGE_LIMIT = 1000;
const DEFAULT_PAGE_LIMIT = 100;

function pageLimit(limit: number | undefined): number {
  const chosen = limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(chosen) || chosen < 1 || chosen > MAX_PAGE_LIMIT) {
    throw validationError([{ field: 'limit', message: `Expected a whole number from 1 to ${MAX_PAGE_LIMIT}` }]);
  }
  return chosen;
}

/** The appSchemes option, normalised, or a RangeError naming the first entry HERALD_APP_SCHEMES would refuse. */
function appSchemesOption(value: readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) throw new RangeError('appSchemes must be an array of URL schemes such as ["mesh"]');
  const schemes = normalizeAppSchemes(value);
  const problem = schemes.map(appSchemeProblem).find((p) => p !== null);
  if (problem) throw new RangeError(`appSchemes entry ${problem}`);
  return schemes;
}
