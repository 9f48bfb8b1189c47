/**
 * Makes the upgrade fixture (test/fixtures/upgrade-<release>.json): what a release of Herald leaves
 * in Redis with notifications accepted and no worker running yet, dumped key by key, so that a test
 * can load it into a fresh Redis and check that the current release delivers it
 * (test/integration/upgrade.test.ts, which loads it with test/helpers/redis-dump.ts).
 *
 * Run it with the older release built in a worktree of its own, against a scratch redis-server:
 *   git worktree add /tmp/prev <commit> && (cd /tmp/prev && npm install && npm run build)
 *   redis-server --port 6390 --save '' --appendonly no &
 *   node scripts/make-upgrade-fixture.mjs --herald /tmp/prev/dist/src/index.js --redis redis://127.0.0.1:6390 \
 *     --release <commit> --out test/fixtures/upgrade-<commit>.json
 *
 * The producer calls are those of the public SDK, so the fixture holds exactly what that release
 * writes: status records, recipients, BullMQ jobs and their bookkeeping, counters, the event log.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  options: { herald: { type: 'string' }, redis: { type: 'string' }, release: { type: 'string' }, out: { type: 'string' } },
  strict: true,
});
if (!values.herald || !values.redis || !values.release || !values.out) {
  console.error('usage: make-upgrade-fixture.mjs --herald PATH/dist/src/index.js --redis URL --release COMMIT --out FILE');
  process.exit(2);
}

/** The prefix the fixture is written under; the loader renames it to the test's. */
const PREFIX = 'upgrade-fixture';

const { Herald } = await import(values.herald);
const herald = new Herald({ redis: values.redis, prefix: PREFIX });
await herald.recipients.set('u-old', { gotify: { token: 'AoldRecipientToken' } });
await herald.recipients.set('u-shared', {});
const accepted = [];
// A plain one, one with every field a Gotify message carries, one scheduled a second and a half
// ahead, and a batch of two (one transaction, one job).
accepted.push(await herald.notify({ id: 'old-plain', to: 'u-old', message: 'written by the previous release', channels: ['gotify'] }));
accepted.push(
  await herald.notify({
    id: 'old-full',
    to: 'u-old',
    title: 'Old title',
    message: 'with *markdown*',
    priority: 8,
    url: 'https://example.org/old',
    category: 'chat',
    data: { room: 42 },
    groupKey: 'room:42',
    channels: ['gotify'],
  }),
);
accepted.push(await herald.notify({ id: 'old-scheduled', to: 'u-old', message: 'scheduled', delayMs: 1500, channels: ['gotify'] }));
accepted.push(
  ...(await herald.notifyMany([
    { id: 'old-batch-1', to: 'u-shared', message: 'batch one', channels: ['gotify'] },
    { id: 'old-batch-2', to: 'u-shared', message: 'batch two', channels: ['gotify'] },
  ])),
);
await herald.close();

const redis = new Redis(values.redis);
const keys = [];
let cursor = '0';
do {
  const [next, found] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
  cursor = next;
  keys.push(...found);
} while (cursor !== '0');
keys.sort();

/** A key's value in a form that can be written back as it was. */
async function dumpedValue(key, type) {
  switch (type) {
    case 'string':
      return redis.get(key);
    case 'hash':
      return redis.hgetall(key);
    case 'list':
      return redis.lrange(key, 0, -1);
    case 'set':
      return (await redis.smembers(key)).sort();
    case 'zset':
      return redis.zrange(key, 0, -1, 'WITHSCORES');
    case 'stream':
      return redis.xrange(key, '-', '+');
    default:
      throw new Error(`${key}: a ${type} cannot be dumped`);
  }
}

const dumped = [];
for (const key of keys) {
  const type = await redis.type(key);
  dumped.push({ key: key.slice(PREFIX.length + 1), type, pttl: await redis.pttl(key), value: await dumpedValue(key, type) });
}
redis.disconnect();
const fixture = { release: values.release, prefix: PREFIX, dumpedAt: Date.now(), accepted, keys: dumped };
writeFileSync(values.out, `${JSON.stringify(fixture, null, 1)}\n`);
console.log(`${dumped.length} keys, ${accepted.length} notifications accepted → ${values.out}`);
