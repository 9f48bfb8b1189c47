/**
 * A real Redis Cluster for tests: three primaries and three replicas from `redis-server
 * --cluster-enabled yes` processes and `redis-cli --cluster create` on free ports, no Docker. The
 * soak and the benchmark start the same cluster, so it lives with them in bench/lib.
 */
export { ClusterNode, RedisCluster, type ClusterOptions, type NodeView } from '../../bench/lib/redis-cluster.mjs';
