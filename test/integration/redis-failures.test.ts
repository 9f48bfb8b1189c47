/**
 * How Herald reads Redis failures, against the errors a real ioredis raises with a real
 * redis-server (or none): which ones mean "Redis did not answer", and what an exec'd MULTI says.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { HeraldError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { createRedis } from '../../src/redis/connection.js';
import { execResult, execResults, isRedisUnavailable } from '../../src/redis/failures.js';
import { LogCapture } from '../helpers/harness.js';
import { freePort } from '../helpers/redis-server.js';

const opened: Redis[] = [];
afterEach(() => {
  for (const redis of opened.splice(0)) redis.disconnect();
});

function open(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, options);
  redis.on('error', () => {});
  opened.push(redis);
  return redis;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('the command did not fail');
}

const key = () => `t-failures-${randomBytes(5).toString('hex')}`;

describe('isRedisUnavailable', () => {
  it('recognises what ioredis raises when nothing listens', async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    // The API's fail-fast connection refuses a command while it reconnects.
    const failFast = createRedis(nowhere, 'command');
    opened.push(failFast);
    // A connection whose commands wait offline gives up on them after its retries.
    const patient = open(nowhere, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    // A connection that does not reconnect, once it has given up.
    const once = open(nowhere, { lazyConnect: true, retryStrategy: () => null });
    // BullMQ waiting for its connection passes on the socket's own error.
    const queue = new Queue('failures', { connection: open(nowhere, { maxRetriesPerRequest: null, retryStrategy: () => null }) });
    queue.on('error', () => {});
    const errors = [
      await rejection(failFast.get('k')),
      await rejection(patient.get('k')),
      await rejection(once.connect()),
      await rejection(queue.waitUntilReady()),
    ];
    await queue.close().catch(() => {});
    expect(errors.map((err) => [(err as Error).name, (err as NodeJS.ErrnoException).code, isRedisUnavailable(err)])).toEqual([
      ['Error', undefined, true],
      ['MaxRetriesPerRequestError', undefined, true],
      ['Error', undefined, true],
      ['Error', 'ECONNREFUSED', true],
    ]);
  });

  it('recognises a command that timed out and one on a connection that ended', async () => {
    const url = inject('redisUrl');
    const slow = open(url, { commandTimeout: 50 });
    const timedOut = await rejection(slow.blpop(key(), 1));
    const ended = open(url);
    await ended.ping();
    ended.disconnect();
    const closed = await rejection(ended.get('k'));
    expect([isRedisUnavailable(timedOut), isRedisUnavailable(closed)]).toEqual([true, true]);
  });

  it('does not take an answer from Redis, or any other failure, for Redis being away', async () => {
    const redis = open(inject('redisUrl'));
    const k = key();
    await redis.set(k, 'a string');
    const wrongType = await rejection(redis.hget(k, 'f'));
    await redis.del(k);
    expect((wrongType as Error).name).toBe('ReplyError');
    expect([isRedisUnavailable(wrongType), isRedisUnavailable(new Error('boom')), isRedisUnavailable('ECONNREFUSED')]).toEqual([false, false, false]);
  });
});

describe('isRedisUnavailable on a Redis Cluster in a failover', () => {
  it("takes ioredis's cluster errors and the transient replies of a node in a failover for Redis being away", async () => {
    const { ReplyError } = (await import('ioredis')) as unknown as { ReplyError: new (message: string) => Error };
    const replies = [
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      "READONLY You can't write against a read only replica.",
      'MASTERDOWN Link with MASTER is down',
      'LOADING Redis is loading the dataset in memory',
    ];
    expect(replies.map((message) => isRedisUnavailable(new ReplyError(message)))).toEqual([true, true, true, true, true]);
    const texts = [
      "Cluster isn't ready and enableOfflineQueue options is false",
      'None of startup nodes is available',
      'Node is disconnected',
      'Cluster is disconnected.',
      'Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down',
    ];
    expect(texts.map((message) => isRedisUnavailable(new Error(message)))).toEqual([true, true, true, true, true]);
    // A transaction Redis discarded (none of it ran) because a node had lost its scripts or its slots.
    const discarded = (previous: string[]) =>
      Object.assign(new ReplyError('EXECABORT Transaction discarded because of previous errors.'), { previousErrors: previous.map((m) => new ReplyError(m)) });
    expect(isRedisUnavailable(discarded(['NOSCRIPT No matching script. Please use EVAL.']))).toBe(true);
    expect(isRedisUnavailable(discarded(['NOSCRIPT No matching script.', 'MOVED 3999 127.0.0.1:6381', 'CLUSTERDOWN The cluster is down']))).toBe(true);
    expect(
      isRedisUnavailable(discarded(['TRYAGAIN Multiple keys request during rehashing of slot', "READONLY You can't write against a read only replica."])),
    ).toBe(true);
    expect(isRedisUnavailable(discarded(['CROSSSLOT Keys in request do not hash to the same slot']))).toBe(false);
    expect(isRedisUnavailable(discarded([]))).toBe(false);
    expect(isRedisUnavailable(discarded(['NOSCRIPT No matching script.', "ERR wrong number of arguments for 'hset' command"]))).toBe(false);
    // A reply that is the command's own fault stays one, whatever its code looks like.
    expect(isRedisUnavailable(new ReplyError('NOSCRIPT No matching script'))).toBe(false);
    expect(isRedisUnavailable(new ReplyError('CROSSSLOT Keys in request do not hash to the same slot'))).toBe(false);
  });
});

describe('a Redis error in a log line', () => {
  it('names the command without its arguments, and says why Redis refused a transaction', async () => {
    const redis = open(inject('redisUrl'));
    const k = key();
    // A queued command with the wrong argument count makes Redis refuse the whole MULTI.
    const refused = await rejection(redis.multi().set(k, 'v').hset(k, 'subscription-key-that-must-not-be-logged').exec());
    const logs = new LogCapture();
    createLogger({ destination: logs.stream }).error({ err: refused }, 'request failed');
    await new Promise((resolve) => setImmediate(resolve));
    const [line] = logs.lines as { err: { message: string; command: unknown; previousErrors: string[] } }[];
    expect(logs.raw.join('\n')).not.toContain('subscription-key-that-must-not-be-logged');
    expect(line!.err.message).toMatch(/^EXECABORT/);
    expect(line!.err.command).toEqual({ name: 'exec', argCount: 0 });
    expect(line!.err.previousErrors).toEqual([expect.stringMatching(/^hset: ERR wrong number of arguments/)]);
    expect(await redis.exists(k)).toBe(0);
  });
});

describe('execResult', () => {
  it("returns a command's result and rethrows a command's own error", async () => {
    const redis = open(inject('redisUrl'));
    const k = key();
    const replies = await redis.multi().set(k, 'v').hget(k, 'f').get(k).del(k).exec();
    expect(execResult<string>(replies, 2, 'The test transaction')).toBe('v');
    const failed = (() => {
      try {
        return execResult(replies, 1, 'The test transaction');
      } catch (err) {
        return err;
      }
    })();
    expect((failed as Error).name).toBe('ReplyError');
    expect(() => execResults(replies, 'The test transaction')).toThrow(failed as Error);
  });

  it('turns an aborted transaction into HERALD_ERR_REDIS_UNAVAILABLE, never an empty result', async () => {
    const url = inject('redisUrl');
    const redis = open(url);
    const other = open(url);
    const k = key();
    await redis.watch(k);
    await other.set(k, 'changed');
    const replies = await redis.multi().get(k).exec();
    await other.del(k);
    expect(replies).toBeNull();
    for (const read of [() => execResult(replies, 0, 'The test transaction'), () => execResults(replies, 'The test transaction')]) {
      const error = (() => {
        try {
          read();
        } catch (err) {
          return err;
        }
      })();
      expect(error).toBeInstanceOf(HeraldError);
      expect([(error as HeraldError).code, (error as HeraldError).message]).toEqual(['HERALD_ERR_REDIS_UNAVAILABLE', 'The test transaction was aborted']);
    }
  });
});
