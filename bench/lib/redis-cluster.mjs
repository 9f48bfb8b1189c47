/**
 * A real Redis Cluster on this machine, for the tests (test/helpers/redis-cluster.ts), the soak and
 * the benchmark: three primaries and three replicas, each a `redis-server --cluster-enabled yes`
 * process on free ports of 127.0.0.1, joined by `redis-cli --cluster create`. No Docker: the Debian
 * package that gives redis-server gives redis-cli.
 *
 * `cluster-node-timeout` is short (1 s by default) so a killed primary is declared failed and its
 * replica promoted within a few seconds. Persistence is off: a failover promotes the replica from
 * its own memory, and the killed primary, when started again, rejoins as a replica and copies the
 * new primary's data whatever its own files held. What a failover can lose is what the primary
 * acknowledged but had not yet sent to its replica (replication is asynchronous), and no append-only
 * file changes that.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, sleep } from './util.mjs';

const run = promisify(execFile);
const HOST = '127.0.0.1';
const SLOTS = 16384;

/** One redis-server of the cluster; its id and role come from the cluster itself. */
export class ClusterNode {
  #child;

  constructor(port, busPort, dir, args) {
    this.port = port;
    this.busPort = busPort;
    this.dir = dir;
    this.args = args;
  }

  get address() {
    return `${HOST}:${this.port}`;
  }

  get pid() {
    return this.#child?.pid;
  }

  get running() {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async start() {
    const child = spawn(
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
    this.#child = child;
    const failed = new Promise((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start redis-server (${err.message}): install Debian's redis-server (it brings redis-cli)`)));
      child.once('exit', (code) => reject(new Error(`redis-server on ${this.port} exited with ${code} at start`)));
    });
    failed.catch(() => {});
    await Promise.race([this.#waitAnswering(), failed]);
  }

  async #waitAnswering(timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.command((r) => r.ping()).catch(() => null);
      if (answer === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(signal) {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  /** Sends `signal` without waiting for anything (SIGSTOP and SIGCONT freeze and thaw the node). */
  signal(signal) {
    this.#child?.kill(signal);
  }

  /** A plain connection to this node alone (admin commands; a key command may answer MOVED). */
  connect() {
    const redis = new Redis({ host: HOST, port: this.port, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => {});
    return redis;
  }

  async command(call) {
    const redis = this.connect();
    try {
      return await call(redis);
    } finally {
      redis.disconnect();
    }
  }
}

/** The lines of `CLUSTER NODES`. */
function parseNodes(text) {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, primary, , , , , ...slots] = line.split(' ');
      const address = addr.split('@')[0];
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
            return [from, to ?? from];
          }),
      };
    });
}

function field(info, name) {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export class RedisCluster {
  constructor(nodes, dir) {
    this.nodes = nodes;
    this.dir = dir;
  }

  /** Starts six nodes, creates the cluster and waits until it serves every slot with replicas in sync. */
  static async start({ nodeTimeoutMs = 1000, extraArgs = [] } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'herald-redis-cluster-'));
    const args = ['--cluster-node-timeout', String(nodeTimeoutMs), ...extraArgs];
    // Two free ports per node: clients and the cluster bus (by default port + 10000, which may be
    // taken or past 65535).
    const ports = new Set();
    while (ports.size < 12) ports.add(await freePort());
    const list = [...ports];
    const nodes = [];
    for (let i = 0; i < 6; i++) {
      const nodeDir = join(dir, `node-${i}`);
      mkdirSync(nodeDir);
      nodes.push(new ClusterNode(list[i], list[i + 6], nodeDir, args));
    }
    const cluster = new RedisCluster(nodes, dir);
    try {
      await Promise.all(nodes.map((node) => node.start()));
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes']).catch((err) => {
        throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      });
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The seed list for REDIS_CLUSTER_NODES: every node, host:port, comma-separated. */
  get seeds() {
    return this.nodes.map((n) => n.address).join(',');
  }

  node(port) {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of this cluster listens on ${port}`);
    return node;
  }

  #anyRunning() {
    const node = this.nodes.find((n) => n.running);
    if (!node) throw new Error('no node of the cluster is running');
    return node;
  }

  /** The cluster as a running node sees it. */
  async view() {
    return parseNodes(await this.#anyRunning().command((r) => r.call('CLUSTER', 'NODES')));
  }

  async slotOf(key) {
    return this.#anyRunning().command((r) => r.call('CLUSTER', 'KEYSLOT', key));
  }

  /** The primary serving `slot`, as the cluster sees it now. */
  async primaryOfSlot(slot) {
    const owner = (await this.view()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no live primary serves slot ${slot}`);
    return this.node(owner.port);
  }

  async primaryOfKey(key) {
    return this.primaryOfSlot(await this.slotOf(key));
  }

  /** The live primaries, as the cluster sees them now. */
  async primaries() {
    return (await this.view()).filter((n) => n.role === 'master' && !n.failed).map((n) => this.node(n.port));
  }

  /** The replica of `primary`, as the cluster sees it now. */
  async replicaOf(primary) {
    const view = await this.view();
    const id = view.find((n) => n.port === primary.port)?.id;
    const replica = view.find((n) => n.role === 'slave' && n.primaryId === id && !n.failed);
    if (!replica) throw new Error(`the primary on ${primary.port} has no live replica`);
    return this.node(replica.port);
  }

  /**
   * SIGKILLs `primary` and waits until its replica is a primary and every node sees every slot
   * served again. Returns the promoted replica and how long the promotion took from the kill.
   */
  async killPrimary(primary, timeoutMs = 20_000) {
    const replica = await this.replicaOf(primary);
    const started = Date.now();
    await primary.stop('SIGKILL');
    const deadline = started + timeoutMs;
    for (;;) {
      const info = await replica.command((r) => r.info('replication')).catch(() => '');
      const state = await replica.command((r) => r.call('CLUSTER', 'INFO')).catch(() => '');
      if (field(info, 'role') === 'master' && field(state, 'cluster_state') === 'ok') {
        const failoverMs = Date.now() - started;
        // The other nodes learn of the promotion by gossip: wait until every one serves every slot.
        await this.waitHealthy(Math.max(1000, deadline - Date.now()));
        return { promoted: replica, failoverMs };
      }
      if (Date.now() > deadline) throw new Error(`the replica on ${replica.port} was not promoted within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /**
   * Waits until every running node says cluster_state:ok and knows every slot, and every replica's
   * link to its primary is up with no sync in progress.
   */
  async waitHealthy(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const problem = await this.#unhealthy().catch((err) => err.message);
      if (!problem) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not become healthy within ${timeoutMs} ms: ${problem}`);
      await sleep(100);
    }
  }

  /** Why the cluster is not healthy yet, or '' when it is. */
  async #unhealthy() {
    const running = this.nodes.filter((n) => n.running);
    for (const node of running) {
      const state = await node.command((r) => r.call('CLUSTER', 'INFO'));
      if (field(state, 'cluster_state') !== 'ok') return `${node.address}: cluster_state ${field(state, 'cluster_state')}`;
      if (Number(field(state, 'cluster_slots_ok')) !== SLOTS) return `${node.address}: ${field(state, 'cluster_slots_ok')} slots ok`;
      const info = await node.command((r) => r.info('replication'));
      if (field(info, 'role') === 'slave') {
        if (field(info, 'master_link_status') !== 'up') return `${node.address}: link to its primary is ${field(info, 'master_link_status')}`;
        if (field(info, 'master_sync_in_progress') !== '0') return `${node.address}: sync in progress`;
      } else if (running.length === this.nodes.length && Number(field(info, 'connected_slaves')) < 1) {
        // With every node up, each primary must have its replica (after a kill, one may not).
        return `${node.address}: primary without a replica`;
      }
    }
    return '';
  }

  /** Clears every running node's counters (INFO commandstats, errorstats). */
  async resetStats() {
    await Promise.all(this.nodes.filter((n) => n.running).map((n) => n.command((r) => r.config('RESETSTAT'))));
  }

  /** `INFO errorstats` of every running node: error name → count, per node address. */
  async errorStats() {
    const out = {};
    for (const node of this.nodes.filter((n) => n.running)) {
      const info = await node.command((r) => r.info('errorstats'));
      out[node.address] = Object.fromEntries([...info.matchAll(/^errorstat_([^:]+):count=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
    }
    return out;
  }

  /**
   * Every node that answered a command with CROSSSLOT (keys of one command, script or transaction
   * in different slots), as "address: count"; empty when none did.
   */
  async crossSlotErrors() {
    return Object.entries(await this.errorStats())
      .filter(([, errors]) => (errors.CROSSSLOT ?? 0) > 0)
      .map(([address, errors]) => `${address}: ${errors.CROSSSLOT}`);
  }

  /** Command calls since the last resetStats, summed over the running primaries: command → calls. */
  async primaryCommandCalls() {
    const calls = {};
    for (const node of await this.primaries()) {
      const info = await node.command((r) => r.info('commandstats'));
      for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = (calls[m[1]] ?? 0) + Number(m[2]);
    }
    return calls;
  }

  /** `used_memory` of every running node, in bytes, per node address. */
  async usedMemory() {
    const out = {};
    for (const node of this.nodes.filter((n) => n.running)) out[node.address] = Number(field(await node.command((r) => r.info('memory')), 'used_memory'));
    return out;
  }

  /** Deletes every key of every primary. */
  async flush() {
    await Promise.all((await this.primaries()).map((node) => node.command((r) => r.flushall())));
  }

  async stop() {
    await Promise.all(this.nodes.map((node) => node.stop('SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
