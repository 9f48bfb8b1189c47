/**
 * A real Redis Cluster for tests: three primaries and three replicas, each a `redis-server
 * --cluster-enabled yes` process on free ports of 127.0.0.1, joined by `redis-cli --cluster create`.
 * No Docker: the same Debian package that gives redis-server gives redis-cli.
 *
 * `cluster-node-timeout` is short (1 s by default) so a killed primary is declared failed and its
 * replica promoted within a few seconds. Persistence is off: a failover promotes the replica from
 * its own memory, and the killed primary, when started again, rejoins as a replica and copies the
 * new primary's data whatever its own files held. What a failover can lose is what the primary
 * acknowledged but had not yet sent to its replica (replication is asynchronous), and no append-only
 * file changes that.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitForRedis } from './redis-server.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';
const SLOTS = 16384;

export interface ClusterOptions {
  /** cluster-node-timeout: how long a node may be unreachable before it is failed over. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  extraArgs?: string[];
}

/** One redis-server of the cluster; its id and role come from the cluster itself. */
export class ClusterNode {
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    readonly busPort: number,
    readonly dir: string,
    private readonly args: string[],
  ) {}

  get address(): string {
    return `${HOST}:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--cluster-port',
        String(this.busPort),
        '--bind',
        HOST,
        '--dir',
        this.dir,
        '--cluster-enabled',
        'yes',
        // Kept in the node's own directory, so a node started again rejoins with its identity.
        '--cluster-config-file',
        `nodes-${this.port}.conf`,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
        ...this.args,
      ],
      { stdio: 'ignore' },
    );
    this.child.on('error', (err) => {
      throw new Error(`cannot start redis-server (${err.message}): install Debian's redis-server (it brings redis-cli)`);
    });
    await waitForRedis(`redis://${this.address}`);
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  /** A plain connection to this node alone (admin commands; a key command may answer MOVED). */
  connect(): Redis {
    const redis = new Redis({ host: HOST, port: this.port, maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', () => {});
    return redis;
  }

  async command<T>(call: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = this.connect();
    try {
      return await call(redis);
    } finally {
      redis.disconnect();
    }
  }
}

/** One line of `CLUSTER NODES`. */
export interface NodeView {
  id: string;
  address: string;
  port: number;
  role: 'master' | 'slave';
  primaryId: string | null;
  failed: boolean;
  slots: [number, number][];
}

function parseNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', addr = '', flags = '', primary = '', , , , , ...slots] = line.split(' ');
      const address = addr.split('@')[0] ?? '';
      return {
        id,
        address,
        port: Number(address.split(':')[1]),
        role: flags.includes('master') ? 'master' : 'slave',
        primaryId: primary === '-' ? null : primary,
        failed: flags.includes('fail'),
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to] = s.split('-').map(Number);
            return [from ?? 0, to ?? from ?? 0] as [number, number];
          }),
      };
    });
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export class RedisCluster {
  private constructor(
    readonly nodes: ClusterNode[],
    private readonly dir: string,
  ) {}

  /** Starts six nodes, creates the cluster and waits until it serves every slot with replicas in sync. */
  static async start(options: ClusterOptions = {}): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'herald-redis-cluster-'));
    const args = ['--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000), ...(options.extraArgs ?? [])];
    const nodes: ClusterNode[] = [];
    // Two free ports per node: clients and the cluster bus (by default port + 10000, which may be
    // taken or past 65535).
    const ports = new Set<number>();
    while (ports.size < 12) ports.add(await freePort());
    const list = [...ports];
    for (let i = 0; i < 6; i++) {
      const nodeDir = join(dir, `node-${i}`);
      mkdirSync(nodeDir);
      nodes.push(new ClusterNode(list[i] as number, list[i + 6] as number, nodeDir, args));
    }
    const cluster = new RedisCluster(nodes, dir);
    try {
      await Promise.all(nodes.map((node) => node.start()));
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes']).catch(
        (err: Error & { stdout?: string; stderr?: string }) => {
          throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
        },
      );
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The seed list for REDIS_CLUSTER_NODES: every node, host:port, comma-separated. */
  get seeds(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  node(port: number): ClusterNode {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of this cluster listens on ${port}`);
    return node;
  }

  /** The cluster as a running node sees it. */
  async view(): Promise<NodeView[]> {
    const node = this.nodes.find((n) => n.running);
    if (!node) throw new Error('no node of the cluster is running');
    return parseNodes((await node.command((r) => r.call('CLUSTER', 'NODES'))) as string);
  }

  async slotOf(key: string): Promise<number> {
    const node = this.nodes.find((n) => n.running);
    if (!node) throw new Error('no node of the cluster is running');
    return (await node.command((r) => r.call('CLUSTER', 'KEYSLOT', key))) as number;
  }

  /** The primary serving `slot`, as the cluster sees it now. */
  async primaryOfSlot(slot: number): Promise<ClusterNode> {
    const owner = (await this.view()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no live primary serves slot ${slot}`);
    return this.node(owner.port);
  }

  async primaryOfKey(key: string): Promise<ClusterNode> {
    return this.primaryOfSlot(await this.slotOf(key));
  }

  /** The replica of `primary`, as the cluster sees it now. */
  async replicaOf(primary: ClusterNode): Promise<ClusterNode> {
    const view = await this.view();
    const id = view.find((n) => n.port === primary.port)?.id;
    const replica = view.find((n) => n.role === 'slave' && n.primaryId === id && !n.failed);
    if (!replica) throw new Error(`the primary on ${primary.port} has no live replica`);
    return this.node(replica.port);
  }

  /**
   * SIGKILLs `primary` and waits until its replica serves its slots and the cluster is ok again.
   * Returns the promoted replica and how long the slots had no primary, as the test saw it.
   */
  async killPrimary(primary: ClusterNode, timeoutMs = 20_000): Promise<{ promoted: ClusterNode; failoverMs: number }> {
    const replica = await this.replicaOf(primary);
    const started = Date.now();
    await primary.stop('SIGKILL');
    const deadline = started + timeoutMs;
    for (;;) {
      const info = await replica.command((r) => r.info('replication')).catch(() => '');
      const state = await replica.command((r) => r.call('CLUSTER', 'INFO') as Promise<string>).catch(() => '');
      if (field(info, 'role') === 'master' && field(state, 'cluster_state') === 'ok') return { promoted: replica, failoverMs: Date.now() - started };
      if (Date.now() > deadline) throw new Error(`the replica on ${replica.port} was not promoted within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Waits until every running node says cluster_state:ok and knows every slot, and every replica's
   * link to its primary is up with no sync in progress.
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = await this.unhealthy().catch((err: Error) => err.message);
      if (!last) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not become healthy within ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Why the cluster is not healthy yet, or '' when it is. */
  private async unhealthy(): Promise<string> {
    for (const node of this.nodes.filter((n) => n.running)) {
      const state = (await node.command((r) => r.call('CLUSTER', 'INFO'))) as string;
      if (field(state, 'cluster_state') !== 'ok') return `${node.address}: cluster_state ${field(state, 'cluster_state')}`;
      if (Number(field(state, 'cluster_slots_ok')) !== SLOTS) return `${node.address}: ${field(state, 'cluster_slots_ok')} slots ok`;
      const info = await node.command((r) => r.info('replication'));
      if (field(info, 'role') === 'slave') {
        if (field(info, 'master_link_status') !== 'up') return `${node.address}: link to its primary is ${field(info, 'master_link_status')}`;
        if (field(info, 'master_sync_in_progress') !== '0') return `${node.address}: sync in progress`;
      } else if (Number(field(info, 'connected_slaves')) < 1) {
        // A primary without replica is fine once its replica was killed for good; while creating,
        // each primary must have one.
        const running = this.nodes.filter((n) => n.running).length;
        if (running === this.nodes.length) return `${node.address}: primary without a replica`;
      }
    }
    return '';
  }

  /** `INFO errorstats` of every running node: error name → count, per node address. */
  async errorStats(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const node of this.nodes.filter((n) => n.running)) {
      const info = await node.command((r) => r.info('errorstats'));
      const errors: Record<string, number> = {};
      for (const match of info.matchAll(/^errorstat_([^:]+):count=(\d+)/gm)) errors[match[1] as string] = Number(match[2]);
      out[node.address] = errors;
    }
    return out;
  }

  /** Clears every running node's counters (INFO commandstats, errorstats). */
  async resetStats(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => n.running).map((n) => n.command((r) => r.config('RESETSTAT'))));
  }

  /**
   * Every node that answered a command with CROSSSLOT (keys of one command, script or transaction
   * in different slots), as "address: count"; empty when none did.
   */
  async crossSlotErrors(): Promise<string[]> {
    return Object.entries(await this.errorStats())
      .filter(([, errors]) => (errors.CROSSSLOT ?? 0) > 0)
      .map(([address, errors]) => `${address}: ${errors.CROSSSLOT}`);
  }

  /** `used_memory` of every running node, in bytes, per node address. */
  async usedMemory(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const node of this.nodes.filter((n) => n.running)) out[node.address] = Number(field(await node.command((r) => r.info('memory')), 'used_memory'));
    return out;
  }

  /** Deletes every key of every primary (between tests that share the cluster). */
  async flush(): Promise<void> {
    const view = await this.view();
    await Promise.all(view.filter((n) => n.role === 'master' && !n.failed).map((n) => this.node(n.port).command((r) => r.flushall())));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop('SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
