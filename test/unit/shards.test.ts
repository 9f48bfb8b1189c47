/**
 * Shard placement (src/shards.ts), the shard settings (HERALD_SHARDS, REDIS_CLUSTER_NODES, `--shards`,
 * the SDK's options) and event positions across shards (src/event-ids.ts).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  allShards,
  cellPrefix,
  cellPrefixes,
  eventsPerShard,
  fnv1a,
  parseShardList,
  shardKey,
  shardOf,
  shardsProblem,
  SHARD_KEY_LENGTH,
} from '../../src/shards.js';
import { recipientNotificationId } from '../../src/store/topics.js';
import { type ConfigError, loadConfig, parseClusterNode } from '../../src/config.js';
import { decodePosition, encodePosition, eventIdOf } from '../../src/event-ids.js';
import { Herald } from '../../src/sdk/herald.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-';

function randomId(length: number): string {
  return [...randomBytes(length)].map((byte) => ID_CHARS[byte % ID_CHARS.length]).join('');
}

describe('shard placement', () => {
  it('a topic recipient’s notification is always in its parent’s shard', () => {
    const parents = [
      'short',
      'with:colon',
      ':leading-colon',
      'a'.repeat(SHARD_KEY_LENGTH - 1),
      'b'.repeat(SHARD_KEY_LENGTH),
      'c'.repeat(SHARD_KEY_LENGTH + 1),
      'd'.repeat(128),
      `${'e'.repeat(100)}:late-colon`,
      `${'f'.repeat(94)}:x`,
      ...Array.from({ length: 300 }, (_, i) => randomId(1 + (i % 128))),
    ];
    for (const parent of parents) {
      for (const member of ['u-1', 'u:2', 'x'.repeat(128)]) {
        const child = recipientNotificationId(parent, member);
        expect(shardKey(child)).toBe(shardKey(parent));
        for (const shards of [2, 3, 4, 7, 64]) expect(shardOf(child, shards)).toBe(shardOf(parent, shards));
      }
    }
  });

  it('ids sharing the part before their first colon share a shard; the rest does not count', () => {
    expect(shardKey('room-42:msg-1')).toBe('room-42');
    expect(shardOf('room-42:msg-1', 16)).toBe(shardOf('room-42:msg-2', 16));
    expect(shardKey(`${'k'.repeat(SHARD_KEY_LENGTH)}${'tail'.repeat(5)}`)).toBe('k'.repeat(SHARD_KEY_LENGTH));
  });

  it('spreads random ids evenly over the shards', () => {
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 20_000; i++) counts[shardOf(randomId(20), 4)]!++;
    for (const count of counts) expect(count / 20_000).toBeGreaterThan(0.22);
    // The usual ids, a UUID each, too.
    const uuids = new Array<number>(8).fill(0);
    for (let i = 0; i < 16_000; i++) uuids[shardOf(crypto.randomUUID(), 8)]!++;
    for (const count of uuids) expect(count / 16_000).toBeGreaterThan(0.1);
  });

  it('one shard is shard 0 under the prefix itself; several are hash-tagged cells', () => {
    expect(shardOf('anything', 1)).toBe(0);
    expect(cellPrefix('herald', 0, 1)).toBe('herald');
    expect(cellPrefixes('herald', 3)).toEqual(['{herald:0}', '{herald:1}', '{herald:2}']);
    expect(allShards(3)).toEqual([0, 1, 2]);
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
  });
});

describe('shard settings', () => {
  it('refuses a prefix with braces with several shards, and a count out of range', () => {
    expect(shardsProblem('{herald}', 1)).toBeNull();
    expect(shardsProblem('herald', 64)).toBeNull();
    expect(shardsProblem('{herald}', 2)).toMatch(/must not hold \{ or \}/);
    expect(shardsProblem('herald', 0)).toMatch(/from 1 to 64/);
    expect(shardsProblem('herald', 65)).toMatch(/from 1 to 64/);
  });

  it('HERALD_SHARDS and REDIS_CLUSTER_NODES are read, and every bad one named', () => {
    const { config, warnings } = loadConfig({ HERALD_SHARDS: '4', REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001,[::1]:7002', REDIS_URL: 'redis://x:6379' });
    expect(config.shards).toBe(4);
    expect(config.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(config.redisUrlExplicit).toBe(true);
    expect(warnings).toContain('REDIS_URL is not used: REDIS_CLUSTER_NODES is set, so Herald connects to that cluster');
    expect(loadConfig({}).config).toMatchObject({ shards: 1, redisClusterNodes: null });
    let problems: string[] = [];
    try {
      loadConfig({ HERALD_SHARDS: '2', HERALD_PREFIX: '{h}', REDIS_CLUSTER_NODES: 'a:1,nope,b:99999' });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^HERALD_SHARDS cannot be 2 with the prefix "\{h\}"/),
      'REDIS_CLUSTER_NODES entry #2 ("nope") must be host:port, such as 10.0.0.1:7000',
      'REDIS_CLUSTER_NODES entry #3 ("b:99999") must be host:port, such as 10.0.0.1:7000',
    ]);
    expect(() => loadConfig({ HERALD_SHARDS: '65' })).toThrow(/HERALD_SHARDS must be a whole number from 1 to 64/);
    expect(parseClusterNode('host')).toBeNull();
    // One shard on a cluster needs a hash tag in the prefix, or its keys would spread over every slot.
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1' })).toThrow('HERALD_PREFIX must be a hash tag such as {herald} on a Redis Cluster with one shard');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', HERALD_PREFIX: '{herald}' }).config.prefix).toBe('{herald}');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', HERALD_SHARDS: '3' }).config.shards).toBe(3);
  });

  it('--shards names shards of the deployment', () => {
    expect(parseShardList('2, 0,2', 4)).toEqual([0, 2]);
    expect(() => parseShardList('4', 4)).toThrow('--shards: "4" is not a shard of this deployment (HERALD_SHARDS=4: shards 0 to 3)');
    expect(() => parseShardList('one', 4)).toThrow(/"one" is not a shard/);
    expect(() => parseShardList(' , ', 4)).toThrow(/needs shard numbers from 0 to 3/);
  });

  it('the SDK refuses the same before it connects', () => {
    expect(() => new Herald({ shards: 0 })).toThrow(RangeError);
    expect(() => new Herald({ shards: 4, prefix: '{app}' })).toThrow('shards cannot be 4 with the prefix "{app}"');
    expect(() => new Herald({ clusterNodes: [], prefix: '{h}' })).toThrow(/clusterNodes must list seed nodes/);
    expect(() => new Herald({ clusterNodes: [{ host: '127.0.0.1', port: 1 }], prefix: 'app' })).toThrow('prefix must be a hash tag such as {app}');
  });

  it("eventsRetention counts the deployment's events: each shard's log keeps its share", async () => {
    expect(eventsPerShard(100_000, 1)).toBe(100_000);
    expect(eventsPerShard(100_000, 3)).toBe(33_334);
    // The SDK's cells; the connection is never used (lazy), and closed.
    const herald = new Herald({ shards: 4, eventsRetention: 10_000, redis: 'redis://127.0.0.1:1', connectTimeoutMs: 1 });
    try {
      expect(herald.cells.map((cell) => cell.store.eventLog.maxLen)).toEqual([2500, 2500, 2500, 2500]);
    } finally {
      await herald.close();
    }
  });
});

describe('event ids and positions', () => {
  it('one shard keeps the stream ids as they are', () => {
    expect(eventIdOf('1764511200000-3', 0, 1)).toBe('1764511200000-3');
    expect(encodePosition(['1764511200000-3'])).toBe('1764511200000-3');
    expect(decodePosition('1764511200000-3', 1)).toEqual(['1764511200000-3']);
  });

  it('several shards qualify ids and encode a position compactly, round trip', () => {
    expect(eventIdOf('1764511200000-3', 2, 4)).toBe('1764511200000-3@2');
    const ids = ['1764511200000-0', '0-0', '1764511200123-17', '18446744073709551615-18446744073709551615'];
    const position = encodePosition(ids);
    expect(position.split('.')).toHaveLength(4);
    expect(position.split('.')[1]).toBe('');
    expect(position.length).toBeLessThan(ids.join('.').length);
    expect(decodePosition(position, 4)).toEqual(ids);
    expect(decodePosition('...', 4)).toEqual(['0-0', '0-0', '0-0', '0-0']);
  });

  it('anything else is not a position', () => {
    expect(decodePosition('1764511200000-3', 4)).toBeNull();
    expect(decodePosition('a.b.c', 4)).toBeNull();
    expect(decodePosition('A.b.c.d', 4)).toBeNull();
    expect(decodePosition('1764511200000-3@2', 1)).toBeNull();
  });
});

describe('herald worker --shards', () => {
  it('a shard the deployment does not have stops the worker at start, saying which shards it has', () => {
    // Checked before Redis is reached: nothing answers at this address.
    const run = spawnSync(process.execPath, ['dist/src/cli.js', 'worker', '--shards', '1,4'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HERALD_SHARDS: '4', REDIS_URL: 'redis://127.0.0.1:1' },
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--shards: "4" is not a shard of this deployment (HERALD_SHARDS=4: shards 0 to 3)');
  });
});
