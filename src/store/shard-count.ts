/**
 * The shard count of a deployment is fixed when it first starts: a notification's shard comes from
 * its id modulo the count, so a process with another count would look for records, queues and
 * digests in the wrong shards. The first process to start writes it (`prefix:shards`, SET NX: a
 * key of its own outside every shard's hash tag); every later one compares. A deployment of a
 * release without shards has none, and its first start writes 1.
 */
import type { StartupErrorCode } from '../codes.js';
import type { RedisClient } from '../redis/client.js';

export class ShardCountError extends Error {
  readonly code: StartupErrorCode = 'HERALD_ERR_SHARDS_MISMATCH';
  constructor(prefix: string, stored: string, wanted: number) {
    super(
      `HERALD_SHARDS is ${wanted}, but the deployment under the prefix "${prefix}" was started with ${stored} shards (Redis key ${shardCountKey(prefix)}).\n` +
        `  Start every process with HERALD_SHARDS=${stored}; a deployment cannot change its shard count (resharding is not supported: start a new deployment under another HERALD_PREFIX and move producers to it).`,
    );
    this.name = 'ShardCountError';
  }
}

/** The key that holds a deployment's shard count. */
export function shardCountKey(prefix: string): string {
  return `${prefix}:shards`;
}

/** Records `shards` as the deployment's count if none is, and throws ShardCountError when another is. */
export async function claimShardCount(redis: RedisClient, prefix: string, shards: number): Promise<void> {
  const key = shardCountKey(prefix);
  const written = await redis.set(key, String(shards), 'NX');
  if (written === 'OK') return;
  const stored = await redis.get(key);
  if (stored !== null && stored !== String(shards)) throw new ShardCountError(prefix, stored, shards);
}
