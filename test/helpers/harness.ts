/**
 * Test harness: a Herald deployment under a fresh key prefix on the test Redis, with a Gotify
 * double, an SDK client, in-process workers and a silent logger. `close()` stops everything and
 * deletes the prefix's keys.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { Herald } from '../../src/sdk/herald.js';
import type { WorkerRuntime } from '../../src/delivery/worker.js';
import { startWorkerRuntime } from '../../src/run/workers.js';
import { heraldFromConfig } from '../../src/run/api.js';
import { buildApp, type AppDeps } from '../../src/http/app.js';
import type { FastifyInstance } from 'fastify';
import { CHANNEL_NAMES, type ChannelName, type Status } from '../../src/types.js';
import type { ChannelAdapters } from '../../src/channels/types.js';
import { HeraldError } from '../../src/errors.js';
import { HttpDouble } from './http-double.js';

export const PUBLISH_KEY = 'publish-key-0123456789';
export const ADMIN_KEY = 'admin-key-0123456789ab';

/** Captures log lines as parsed JSON objects. */
/** How long a test deployment may take to make its first connection to Redis. */
const FIRST_CONNECTION_MS = 15_000;

/**
 * The API's Herald client, once it has made its first connection. That client gives up on a
 * first connection after 800 ms (the API must answer 503 within a second when Redis is away), and
 * a Redis Cluster client, which first reads the slot map and then connects to every primary, can
 * take longer on a loaded machine: a test's first request would then be answered 503. A test
 * starts on a connected deployment; a Redis that never answers still fails the test, with its error.
 */
async function connectedHerald(config: Config): Promise<Herald> {
  const herald = heraldFromConfig(config);
  const deadline = Date.now() + FIRST_CONNECTION_MS;
  for (;;) {
    try {
      await herald.ping();
      return herald;
    } catch (err) {
      const unavailable = err instanceof HeraldError && err.code === 'HERALD_ERR_REDIS_UNAVAILABLE';
      if (!unavailable || Date.now() > deadline) {
        await herald.close();
        throw err;
      }
    }
  }
}

export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        this.raw.push(line);
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
}

/** Polls `probe` until `done` holds for its value, or fails after `timeoutMs` with the last value seen. */
export async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`condition never held; last value: ${JSON.stringify(last)}`);
}

/** The HeraldError `call` rejects with; throws, naming what it got, when it resolves or rejects with anything else. */
export async function rejection(call: Promise<unknown>): Promise<HeraldError> {
  const outcome = await call.then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  if (!('err' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.err instanceof HeraldError)) throw new Error(`expected a HeraldError, got ${String(outcome.err)}`);
  return outcome.err;
}

/**
 * Records the name of every command `redis` sends until `stop()` is called, to count round trips
 * and transaction blocks.
 */
export function recordCommands(redis: Redis): { names: string[]; stop(): void } {
  const names: string[] = [];
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    names.push(command.name);
    return (original as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return { names, stop: () => void (redis.sendCommand = original) };
}

export function testPrefix(): string {
  return `t-${randomBytes(5).toString('hex')}`;
}

/** A plain connection to the test Redis, for what a test reads or writes behind Herald's back. The one place tests open one to `redisUrl`. */
export function testRedis(redisUrl: string): Redis {
  return new Redis(redisUrl);
}

/** Deletes a deployment's keys: those under the prefix, and with several shards those under every shard's `{prefix:k}`. */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = testRedis(redisUrl);
  try {
    for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) await deleteMatching(redis, pattern);
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes every key of a deployment under `prefix` on a Redis Cluster: its shards' keys
 * (`{prefix:k}:…`) and any plain `prefix:…` key, on every primary. One key per command: a DEL of
 * several keys in different slots would itself be a CROSSSLOT error.
 */
export async function deleteClusterKeys(seeds: string, prefix: string): Promise<void> {
  const cluster = new Cluster(seeds.split(',').map((seed) => ({ host: seed.split(':')[0], port: Number(seed.split(':')[1]) })));
  try {
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve);
      cluster.once('error', reject);
    });
    for (const node of cluster.nodes('master')) {
      for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) await deleteMatching(node, pattern);
    }
  } finally {
    cluster.disconnect();
  }
}

/** Every node of `seeds` that answered a command with CROSSSLOT, as "host:port: count". */
async function crossSlotAnswers(seeds: string): Promise<string[]> {
  const answered: string[] = [];
  for (const seed of seeds.split(',')) {
    const node = new Redis(`redis://${seed}`);
    try {
      const count = /^errorstat_CROSSSLOT:count=(\d+)/m.exec(await node.info('errorstats'))?.[1];
      if (count) answered.push(`${seed}: ${count}`);
    } finally {
      node.disconnect();
    }
  }
  return answered;
}

/** Deletes the keys matching `pattern`, one key per command (pipelined): keys of several slots never share one. */
async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.del(key);
    await pipeline.exec();
  } while (cursor !== '0');
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Skip the Gotify double (GOTIFY_URL then comes from `env`, or Gotify is off). */
  noGotify?: boolean;
  /** A Redis of the test's own instead of the shared one (e.g. to read server-wide counters). */
  redisUrl?: string;
  /** HERALD_SHARDS of the deployment; 1 by default. */
  shards?: number;
}

export class Harness {
  readonly logs = new LogCapture();
  readonly logger: Logger;
  readonly workers: WorkerRuntime[] = [];
  private readonly closers: (() => Promise<void>)[] = [];

  private constructor(
    readonly redisUrl: string,
    readonly prefix: string,
    readonly config: Config,
    readonly herald: Herald,
    readonly gotify: HttpDouble,
    readonly env: Record<string, string>,
  ) {
    this.logger = createLogger({ level: 'debug', destination: this.logs.stream });
  }

  static async create(options: HarnessOptions = {}): Promise<Harness> {
    const redisUrl = options.redisUrl ?? inject('redisUrl');
    // The cluster run (vitest.cluster.config.ts): every deployment on the Redis Cluster with its
    // shards, unless the test brings a Redis of its own.
    const clusterNodes = options.redisUrl ? undefined : inject('redisClusterNodes');
    const prefix = testPrefix();
    const gotify = new HttpDouble();
    const gotifyUrl = options.noGotify ? undefined : await gotify.start();
    const env: Record<string, string> = {
      REDIS_URL: redisUrl,
      HERALD_PREFIX: prefix,
      HERALD_API_KEYS: `${PUBLISH_KEY}:publish,${ADMIN_KEY}:admin`,
      HERALD_BACKOFF_MS: '20',
      HERALD_BACKOFF_MAX_MS: '100',
      HERALD_PROVIDER_TIMEOUT_MS: '2000',
      HERALD_ALLOW_PRIVATE_ENDPOINTS: '1',
      HERALD_APP_SCHEMES: 'mesh',
      // A deployment whose users share one Gotify inbox: a registered recipient without a token
      // of its own is reached through GOTIFY_TOKEN (see register()).
      ...(gotifyUrl ? { GOTIFY_URL: gotifyUrl, GOTIFY_TOKEN: 'AdefaultToken', HERALD_GOTIFY_SHARED: '1' } : {}),
      ...(clusterNodes ? { REDIS_CLUSTER_NODES: clusterNodes } : {}),
      ...(options.shards || clusterNodes ? { HERALD_SHARDS: String(options.shards ?? inject('clusterShards') ?? 1) } : {}),
      ...options.env,
    };
    const { config } = loadConfig(env);
    const harness = new Harness(redisUrl, prefix, config, await connectedHerald(config), gotify, env);
    return harness;
  }

  /** Starts a worker of `channels`, serving `shards` (every shard when absent). */
  async startWorker(
    channels: readonly ChannelName[] = CHANNEL_NAMES,
    adapters?: ChannelAdapters,
    concurrency = 10,
    shards?: readonly number[],
  ): Promise<WorkerRuntime> {
    const perChannel = Object.fromEntries(CHANNEL_NAMES.map((channel) => [channel, concurrency])) as Record<ChannelName, number>;
    const runtime = await startWorkerRuntime({
      config: this.config,
      logger: this.logger,
      channels,
      concurrency: perChannel,
      ...(adapters ? { adapters } : {}),
      ...(shards ? { shards } : {}),
    });
    this.workers.push(runtime);
    return runtime;
  }

  /** The HTTP app over this harness's Herald client, closed with the harness. */
  async app(): Promise<FastifyInstance> {
    const app = await buildApp({ herald: this.herald, config: this.config, logger: this.logger });
    this.onClose(() => app.close());
    return app;
  }

  /** The HTTP app listening on a port of its own (for streams), with `/v1/events` settings of the test's. */
  async listen(eventStream?: AppDeps['eventStream']): Promise<{ app: FastifyInstance; url: string }> {
    const app = await buildApp({ herald: this.herald, config: this.config, logger: this.logger, ...(eventStream ? { eventStream } : {}) });
    this.onClose(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('the app has no port');
    return { app, url: `http://127.0.0.1:${address.port}` };
  }

  /** Another API process in miniature: its own Herald client and app on the same prefix, closed with the harness. */
  async otherApp(): Promise<FastifyInstance> {
    const herald = await connectedHerald(this.config);
    const app = await buildApp({ herald, config: this.config, logger: this.logger });
    this.onClose(async () => {
      await app.close();
      await herald.close();
    });
    return app;
  }

  /** Registers something to close with the harness (doubles, apps). */
  onClose(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /**
   * Registers recipients with no address of their own: Gotify reaches them through the shared
   * token. A notification for a user id that is not registered is skipped, never sent.
   */
  async register(...userIds: string[]): Promise<void> {
    for (const userId of userIds) await this.herald.recipients.set(userId, {});
  }

  /** Polls the status until `done` holds, or fails after `timeoutMs` with the last status seen. */
  async waitForStatus(id: string, done: Status['status'] | ((s: Status) => boolean), timeoutMs = 10_000): Promise<Status> {
    const check = typeof done === 'string' ? (s: Status) => s.status === done : done;
    const deadline = Date.now() + timeoutMs;
    let last: Status | null = null;
    while (Date.now() < deadline) {
      last = await this.herald.status(id);
      if (last && check(last)) return last;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`status of ${id} never matched; last: ${JSON.stringify(last)}`);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(1000)));
    for (const close of this.closers) await close();
    await this.herald.close();
    await this.gotify.close();
    const clusterNodes = this.env.REDIS_CLUSTER_NODES;
    if (clusterNodes) {
      await deleteClusterKeys(clusterNodes, this.prefix);
      // A script touching a key outside its slot fails with "non local key" (an ERR, not a
      // CROSSSLOT); Herald logs the failure, so the log is where it shows.
      const crossSlot = this.logs.raw.find((line) => /CROSSSLOT|non local key/i.test(line));
      if (crossSlot) throw new Error(`a command crossed hash slots on the Redis Cluster: ${crossSlot}`);
      // A CROSSSLOT answer Herald did not log (a caller saw it as an error) shows in the nodes'
      // counters, which the cluster run keeps from its start: any one fails the test that sees it.
      const answered = await crossSlotAnswers(clusterNodes);
      if (answered.length > 0) throw new Error(`CROSSSLOT answers on the Redis Cluster since the run started: ${answered.join('; ')}`);
    } else await deleteKeys(this.redisUrl, this.prefix);
  }
}
