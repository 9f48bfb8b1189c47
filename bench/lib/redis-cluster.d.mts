/** Types of redis-cluster.mjs, for the tests that start a Redis Cluster. */
import type { Redis } from 'ioredis';

export interface ClusterOptions {
  /** cluster-node-timeout: how long a node may be unreachable before it is failed over. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  extraArgs?: string[];
}

export declare class ClusterNode {
  readonly port: number;
  readonly busPort: number;
  readonly dir: string;
  readonly address: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  start(): Promise<void>;
  stop(signal: NodeJS.Signals): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  connect(): Redis;
  command<T>(call: (redis: Redis) => Promise<T>): Promise<T>;
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

export declare class RedisCluster {
  readonly nodes: ClusterNode[];
  static start(options?: ClusterOptions): Promise<RedisCluster>;
  readonly seeds: string;
  node(port: number): ClusterNode;
  view(): Promise<NodeView[]>;
  slotOf(key: string): Promise<number>;
  primaryOfSlot(slot: number): Promise<ClusterNode>;
  primaryOfKey(key: string): Promise<ClusterNode>;
  primaries(): Promise<ClusterNode[]>;
  replicaOf(primary: ClusterNode): Promise<ClusterNode>;
  killPrimary(primary: ClusterNode, timeoutMs?: number): Promise<{ promoted: ClusterNode; failoverMs: number }>;
  waitHealthy(timeoutMs?: number): Promise<void>;
  resetStats(): Promise<void>;
  errorStats(): Promise<Record<string, Record<string, number>>>;
  crossSlotErrors(): Promise<string[]>;
  primaryCommandCalls(): Promise<Record<string, number>>;
  usedMemory(): Promise<Record<string, number>>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}
