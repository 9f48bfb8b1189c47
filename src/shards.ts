/**
 * Shards ("cells"): with HERALD_SHARDS=N a deployment is N independent cells, each exactly a
 * single-shard Herald under its own key prefix, `{prefix:k}` for k = 0 … N-1. The braces are a
 * Redis Cluster hash tag: every key of a cell (its records, BullMQ's queues, counters, event log)
 * hashes to one slot, which Herald's multi-key scripts and transactions require, and different
 * cells spread over the cluster's nodes. With N = 1 the prefix is used as it is (no tag), so a
 * deployment written by a release without shards keeps its keys.
 *
 * A notification's cell comes from its id: a hash of the id's first SHARD_KEY_LENGTH characters up
 * to the first colon. A topic notification's recipients' ids are `parentId.slice(0, 95) + ':' +
 * digest` (store/topics.ts), so they always share their parent's shard key, and the fan-out page
 * script stays one script in one slot. Like a Redis hash tag, ids that share the part before their
 * first colon share a shard.
 */
import { ENV } from './defaults.js';

/** The shard count when HERALD_SHARDS and the SDK's `shards` say nothing. */
export const DEFAULT_SHARDS = ENV.HERALD_SHARDS.default;
/** The most shards a deployment may have (HERALD_SHARDS's upper bound): each costs every worker a set of BullMQ workers. */
export const MAX_SHARDS = ENV.HERALD_SHARDS.max;

/**
 * The characters of an id its shard key is read from: a topic recipient's id keeps its parent's
 * first 95 characters (128 - 1 - 32 hex digits of its digest), so a parent's longer tail must not
 * count.
 */
export const SHARD_KEY_LENGTH = 95;

/** The part of `id` that places it: up to its first colon, within its first SHARD_KEY_LENGTH characters. */
export function shardKey(id: string): string {
  const head = id.slice(0, SHARD_KEY_LENGTH);
  const colon = head.indexOf(':');
  return colon === -1 ? head : head.slice(0, colon);
}

/** 32-bit FNV-1a over the UTF-16 code units of `text` (ids are ASCII): small, fast and well spread. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The shard (0 … shards-1) of the notification `id`. */
export function shardOf(id: string, shards: number): number {
  return shards <= 1 ? 0 : fnv1a(shardKey(id)) % shards;
}

/** The key prefix of cell `shard`: the prefix itself for one shard, `{prefix:shard}` for several. */
export function cellPrefix(prefix: string, shard: number, shards: number): string {
  return shards <= 1 ? prefix : `{${prefix}:${shard}}`;
}

/** Every cell's prefix, cell 0 first. */
export function cellPrefixes(prefix: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, shard) => cellPrefix(prefix, shard, shards));
}

/**
 * Why `shards` with `prefix` cannot work, or null. A prefix holding a brace would put a hash tag
 * inside the cell's tag, and Redis would hash the wrong part of the key.
 */
export function shardsProblem(prefix: string, shards: number): string | null {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) return `must be a whole number from 1 to ${MAX_SHARDS}`;
  if (shards > 1 && /[{}]/.test(prefix)) {
    return `cannot be ${shards} with the prefix "${prefix}": with several shards Herald tags each shard's keys {prefix:k} itself, so the prefix must not hold { or }`;
  }
  return null;
}

/**
 * Why `prefix` cannot work on a Redis Cluster with one shard, or null: the one cell's keys would
 * spread over every slot, and its scripts and transactions would fail (CROSSSLOT). With several
 * shards Herald tags each cell itself.
 */
export function clusterPrefixProblem(prefix: string, shards: number): string | null {
  if (shards > 1 || /\{[^}]+\}/.test(prefix)) return null;
  return `must be a hash tag such as {${prefix}} on a Redis Cluster with one shard (or set HERALD_SHARDS above 1, and Herald tags each shard's keys itself)`;
}

/**
 * The shards named by `--shards` (`0,2`), sorted, each checked against the deployment's count; an
 * Error naming the bad entry otherwise.
 */
export function parseShardList(raw: string, shards: number): number[] {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error(`--shards needs shard numbers from 0 to ${shards - 1}, such as 0,2`);
  const chosen = new Set<number>();
  for (const entry of entries) {
    const shard = /^\d{1,3}$/.test(entry) ? Number(entry) : Number.NaN;
    if (!Number.isInteger(shard) || shard >= shards) {
      throw new Error(`--shards: "${entry}" is not a shard of this deployment (HERALD_SHARDS=${shards}: shards 0 to ${shards - 1})`);
    }
    chosen.add(shard);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Every shard, 0 … shards-1. */
export function allShards(shards: number): number[] {
  return Array.from({ length: shards }, (_, shard) => shard);
}

/**
 * The length each shard's event log is capped at: HERALD_EVENTS_RETENTION counts the events a
 * deployment keeps, so its memory does not grow with the shard count (every shard has a log).
 */
export function eventsPerShard(retention: number, shards: number): number {
  return Math.ceil(retention / shards);
}
