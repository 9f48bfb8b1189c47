/**
 * What Herald talks to: one Redis server, or a Redis Cluster. Both speak the same commands through
 * ioredis; the code that takes a connection takes either. On a cluster, every command, script,
 * pipeline and transaction must stay within one hash slot: Herald keeps each of them within one
 * shard's keys (`{prefix:k}`, see src/shards.ts).
 */
import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** A Redis Cluster seed node (REDIS_CLUSTER_NODES). */
export interface ClusterNode {
  host: string;
  port: number;
}

/** Where a process's Redis is: a URL, or a cluster's seed nodes. */
export type RedisTarget = { url: string } | { clusterNodes: readonly ClusterNode[] };

/** Whether `client` is a cluster client (ioredis marks it). */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** The target as the operator named it, for messages: never the URL, which may hold a password. */
export function describeTarget(target: RedisTarget): string {
  return 'clusterNodes' in target
    ? `the Redis Cluster at REDIS_CLUSTER_NODES (${target.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')})`
    : 'Redis at REDIS_URL';
}

/** Another connection with `client`'s own options (the union's `duplicate` signatures differ). */
export function duplicateOf(client: RedisClient): RedisClient {
  return isCluster(client) ? client.duplicate() : client.duplicate();
}
