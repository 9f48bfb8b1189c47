/**
 * Global setup of the cluster run (vitest.cluster.config.ts): one Redis Cluster of three primaries
 * and three replicas for the whole run, handed to the tests as seed nodes; the harness then builds
 * every deployment on it with CLUSTER_SHARDS shards. No node may answer any command with CROSSSLOT:
 * the harness checks every node's counters when each test closes, which fails that test; the check
 * here at the end only reports (vitest does not fail a run for an error in a global teardown).
 */
import type { TestProject } from 'vitest/node';
import { RedisCluster } from './redis-cluster.js';

/** Shards of every deployment on the cluster: more than the primaries, so each node holds several. */
export const CLUSTER_SHARDS = 4;

let cluster: RedisCluster | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  cluster = await RedisCluster.start();
  // Creating the cluster leaves error counts of its own (redis-cli's probes); the check at the end
  // is about the tests' commands only.
  await cluster.resetStats();
  project.provide('redisClusterNodes', cluster.seeds);
  project.provide('clusterShards', CLUSTER_SHARDS);
  // Tests that open a connection of their own to `redisUrl` are left out of the cluster run; this
  // one points at a node, where a key command may answer MOVED.
  project.provide('redisUrl', `redis://${cluster.nodes[0]?.address}`);
  return async () => {
    const running = cluster;
    cluster = undefined;
    if (!running) return;
    try {
      const crossSlot = await running.crossSlotErrors();
      if (crossSlot.length > 0) throw new Error(`CROSSSLOT answers on the Redis Cluster: ${crossSlot.join('; ')}`);
    } finally {
      await running.stop();
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Seed nodes of the Redis Cluster (cluster run only). */
    redisClusterNodes?: string;
    /** HERALD_SHARDS of the deployments on the cluster (cluster run only). */
    clusterShards?: number;
  }
}
