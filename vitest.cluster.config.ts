import { defineConfig } from 'vitest/config';

/**
 * The integration suite once more, on a real Redis Cluster (three primaries, three replicas) with
 * HERALD_SHARDS=4: test/helpers/cluster-global-setup.ts starts the cluster and the harness builds
 * every deployment on it. A representative subset: enqueue (single and batch), every channel, the
 * fallback chain, dead letters, stats, cancel and topics. Left out, one reason each:
 *   batching, sdk, stats-cost, load-script, lua-scripts: count one connection's commands or read single-server details
 *   redis-failures, local-redis, start-command, crash-recovery: start, stop or kill a redis-server of their own
 *   the rest: HTTP, console, logging and validation paths that do not depend on where keys live
 */
export default defineConfig({
  test: {
    include: [
      'test/integration/http-api.test.ts',
      'test/integration/gotify-delivery.test.ts',
      'test/integration/webpush-delivery.test.ts',
      'test/integration/email-delivery.test.ts',
      'test/integration/ntfy-delivery.test.ts',
      'test/integration/webhook-delivery.test.ts',
      'test/integration/inbox.test.ts',
      'test/integration/fallback-chain.test.ts',
      'test/integration/dead-letters.test.ts',
      'test/integration/stats.test.ts',
      'test/integration/cancel.test.ts',
      'test/integration/topics.test.ts',
      'test/integration/recipients.test.ts',
    ],
    globalSetup: ['test/helpers/cluster-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
  },
});
