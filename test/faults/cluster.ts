/**
 * A small Herald deployment made of real processes for the fault suite: a redis-server with an
 * append-only file (or a Redis Cluster, see startOnRedisCluster), `herald api` and `herald worker`
 * processes, and a Gotify double. Scenarios kill and restart its parts and then account for every
 * notification.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Herald } from '../../src/sdk/herald.js';
import { loadConfig } from '../../src/config.js';
import { heraldFromConfig } from '../../src/run/api.js';
import { HeraldError } from '../../src/errors.js';
import { isTerminal, type NotificationInput, type Status } from '../../src/types.js';
import { HttpDouble } from '../helpers/http-double.js';
import { freePort, RedisProcess } from '../helpers/redis-server.js';
import { RedisCluster } from '../helpers/redis-cluster.js';

export const API_KEY = 'faults-admin-key-0123456789';
export const PUBLISH_KEY = 'faults-publish-key-0123456789';
/** The recipient scenarios send to, with a Gotify token of its own (see registerRecipient). */
export const RECIPIENT = 'u';
export const RECIPIENT_TOKEN = 'AfaultsUserToken';

export interface Tally {
  total: number;
  delivered: number;
  failed: number;
  expired: number;
  /** Accepted but never reached a terminal status (or vanished). */
  lost: number;
  /** Extra deliveries the provider saw beyond one per notification. */
  duplicated: number;
}

/** Where a deployment keeps its data: one redis-server of its own, or a Redis Cluster. */
type Store = { port: number; redisArgs: string[] } | { cluster: RedisCluster; shards: number };

export class FaultCluster {
  private readonly server?: RedisProcess;
  /** The Redis Cluster of a deployment started with startOnRedisCluster. */
  readonly redisCluster?: RedisCluster;
  readonly processes: ChildProcess[] = [];
  readonly herald: Herald;
  readonly env: Record<string, string>;
  readonly output: string[] = [];
  private readonly dir: string;
  private recipientRegistered = false;

  private constructor(
    store: Store,
    readonly gotify: HttpDouble,
    gotifyUrl: string,
    env: Record<string, string>,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'herald-faults-'));
    let redisEnv: Record<string, string>;
    if ('cluster' in store) {
      this.redisCluster = store.cluster;
      redisEnv = { REDIS_CLUSTER_NODES: store.cluster.seeds, HERALD_SHARDS: String(store.shards) };
    } else {
      this.server = new RedisProcess(store.port, this.dir, [
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        ...store.redisArgs,
      ]);
      redisEnv = { REDIS_URL: this.server.url };
    }
    this.env = {
      PATH: process.env.PATH ?? '',
      ...redisEnv,
      HERALD_PREFIX: 'faults',
      HERALD_API_KEYS: `${API_KEY}:admin,${PUBLISH_KEY}:publish`,
      GOTIFY_URL: gotifyUrl,
      GOTIFY_TOKEN: 'AfaultsToken',
      HERALD_BACKOFF_MS: '50',
      HERALD_BACKOFF_MAX_MS: '500',
      HERALD_JOB_LOCK_MS: '2000',
      HERALD_PROVIDER_TIMEOUT_MS: '2000',
      HERALD_LOG_LEVEL: 'warn',
      ...env,
    };
    // On a cluster the scenario's own client is built the way `herald api` builds its own, from
    // the same environment.
    this.herald = this.server
      ? new Herald({
          redis: this.server.url,
          prefix: 'faults',
          connectTimeoutMs: 5000,
          allowPrivateEndpoints: this.env.HERALD_ALLOW_PRIVATE_ENDPOINTS === '1',
        })
      : heraldFromConfig(loadConfig(this.env).config);
  }

  static async start(options: { env?: Record<string, string>; redisArgs?: string[] } = {}): Promise<FaultCluster> {
    const gotify = new HttpDouble({ status: 200, body: '{"id":1}' });
    const gotifyUrl = await gotify.start();
    const cluster = new FaultCluster({ port: await freePort(), redisArgs: options.redisArgs ?? [] }, gotify, gotifyUrl, options.env ?? {});
    await cluster.redis.start();
    return cluster;
  }

  /**
   * The same deployment on a Redis Cluster of three primaries and three replicas of its own
   * (test/helpers/redis-cluster.ts), with `shards` shards.
   */
  static async startOnRedisCluster(options: { shards: number; env?: Record<string, string> }): Promise<FaultCluster> {
    const redisCluster = await RedisCluster.start();
    const gotify = new HttpDouble({ status: 200, body: '{"id":1}' });
    const gotifyUrl = await gotify.start();
    return new FaultCluster({ cluster: redisCluster, shards: options.shards }, gotify, gotifyUrl, options.env ?? {});
  }

  /** The deployment's redis-server (not on a Redis Cluster). */
  get redis(): RedisProcess {
    if (!this.server) throw new Error('this deployment runs on a Redis Cluster: use redisCluster');
    return this.server;
  }

  /**
   * Starts `herald <args>` as a child process of this cluster. With `readStdout: false` nothing
   * reads its stdout: a log reader that is stuck, until the scenario reads it itself.
   */
  spawn(args: string[], env: Record<string, string> = {}, { readStdout = true } = {}): ChildProcess {
    const child = spawn(process.execPath, ['dist/src/cli.js', ...args], { env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    if (readStdout) child.stdout?.on('data', (c: Buffer) => this.output.push(c.toString()));
    child.stderr?.on('data', (c: Buffer) => this.output.push(c.toString()));
    this.processes.push(child);
    return child;
  }

  worker(concurrency = 20, env: Record<string, string> = {}): ChildProcess {
    return this.spawn(['worker', '--channels', 'gotify,webpush,email', '--concurrency', String(concurrency)], env);
  }

  async api(port: number, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
    const child = this.spawn(['api'], { HERALD_PORT: String(port), ...env });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (
        await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return { child, url };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('herald api did not come up');
  }

  /**
   * Sends a signal and waits for the process to exit within `timeoutMs`; returns its exit code and
   * how long it took. A process still running at the deadline fails the scenario (and is killed at
   * `close()`).
   */
  async stopWithin(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<{ code: number | null; stopMs: number }> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${signal} did not stop the process within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const code = await Promise.race([this.stop(child, signal), late]);
      return { code, stopMs: Date.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a signal and waits for the process to exit; returns its exit code (null if killed). */
  async stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  }

  /**
   * Registers RECIPIENT, once: a notification for a user id the registry does not know is skipped,
   * never sent. Not done at start, so a scenario that must leave Redis empty can.
   */
  async registerRecipient(): Promise<void> {
    if (this.recipientRegistered) return;
    await this.retryWhileUnavailable(() => this.herald.recipients.set(RECIPIENT, { gotify: { token: RECIPIENT_TOKEN } }));
    this.recipientRegistered = true;
  }

  async enqueue(count: number, prefix: string, extra: Record<string, unknown> = {}): Promise<string[]> {
    await this.registerRecipient();
    const ids: string[] = [];
    for (let start = 0; start < count; start += 1000) {
      const batch: NotificationInput[] = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({
        id: `${prefix}-${start + i}`,
        to: RECIPIENT,
        message: `${prefix} ${start + i}`,
        channels: ['gotify'],
        ...extra,
      }));
      const results = await this.retryWhileUnavailable(() => this.herald.notifyMany(batch));
      for (const result of results) {
        // A scenario must start from what it meant to send: a refused item is a broken test.
        if (!('id' in result)) throw new Error(`enqueue refused: ${JSON.stringify(result.error)}`);
        ids.push(result.id);
      }
    }
    return ids;
  }

  /**
   * Retries while Redis is unreachable, as a producer should: the ids make the retry safe, since
   * a batch that did get in answers `duplicate` instead of being sent twice.
   */
  async retryWhileUnavailable<T>(operation: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await operation();
      } catch (err) {
        if (!(err instanceof HeraldError) || err.code !== 'HERALD_ERR_REDIS_UNAVAILABLE' || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async statuses(ids: string[]): Promise<(Status | null)[]> {
    const out: (Status | null)[] = [];
    for (const id of ids) out.push(await this.retryWhileUnavailable(() => this.herald.status(id)));
    return out;
  }

  /** Waits until every id has a terminal status, or the deadline passes; then tallies. */
  async settle(ids: string[], timeoutMs: number): Promise<Tally> {
    const deadline = Date.now() + timeoutMs;
    let statuses = await this.statuses(ids);
    while (Date.now() < deadline && !statuses.every((s) => s && isTerminal(s.status))) {
      await new Promise((r) => setTimeout(r, 250));
      statuses = await this.statuses(ids);
    }
    return this.tally(ids, statuses);
  }

  tally(ids: string[], statuses: (Status | null)[]): Tally {
    const wanted = new Set(ids);
    const seen = new Map<string, number>();
    for (const request of this.gotify.requests) {
      const id = (JSON.parse(request.body.toString()) as { extras: { 'herald::notification': { id: string } } }).extras['herald::notification'].id;
      if (wanted.has(id)) seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    const count = (status: string) => statuses.filter((s) => s?.status === status).length;
    return {
      total: ids.length,
      delivered: count('delivered'),
      failed: count('failed'),
      expired: count('expired'),
      lost: statuses.filter((s) => !s || !isTerminal(s.status)).length,
      duplicated: [...seen.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    };
  }

  async close(): Promise<void> {
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) await this.stop(child, 'SIGKILL');
    await this.herald.close();
    await this.gotify.close();
    await this.server?.stop('SIGKILL');
    await this.redisCluster?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
