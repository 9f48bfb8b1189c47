import { createECDH, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PushKeyError } from '../../src/channels/webpush/crypto.js';
import { createPushEncryptor, EncryptionThread, InlineEncryptor, ThreadEncryptor, type PushEncryptor } from '../../src/channels/webpush/encryptor.js';
import { decryptPushBody } from '../helpers/push-service.js';

// Threads load compiled JavaScript: npm test builds dist/ before the tests run.
const THREAD_SCRIPT = new URL('../../dist/src/channels/webpush/crypto-thread.js', import.meta.url);
const CRASHING_SCRIPT = new URL('../helpers/crashing-crypto-thread.mjs', import.meta.url);

interface Browser {
  p256dh: string;
  auth: string;
  open(body: Buffer): string;
}

function browser(): Browser {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    p256dh: ecdh.getPublicKey().toString('base64url'),
    auth: auth.toString('base64url'),
    open: (body) => decryptPushBody(body, ecdh.getPrivateKey(), auth).toString('utf8'),
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function threads(count: number): ThreadEncryptor {
  const encryptor = new ThreadEncryptor(THREAD_SCRIPT, count);
  closers.push(() => encryptor.close());
  return encryptor;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('Web Push encryptors', () => {
  it.each([
    ['inline', () => new InlineEncryptor() as PushEncryptor],
    ['one thread', () => threads(1)],
    ['three threads', () => threads(3)],
  ])("%s: every body of a turn decrypts, with its own browser's keys, to its own payload", async (_, make) => {
    const encryptor = make();
    const browsers = [browser(), browser(), browser()];
    const requests = Array.from({ length: 40 }, (_, i) => ({ to: browsers[i % 3]!, payload: JSON.stringify({ n: i, text: 'é'.repeat(i) }) }));
    const bodies = await Promise.all(requests.map((r) => encryptor.encrypt(r.payload, r.to.p256dh, r.to.auth)));
    for (const [i, body] of bodies.entries()) expect(requests[i]!.to.open(body)).toBe(requests[i]!.payload);
    // Fresh sender keys and salt per message, even within one batch.
    expect(new Set(bodies.map((body) => body.subarray(0, 86).toString('hex'))).size).toBe(40);
  });

  it('fails only the request whose keys are unusable or whose payload is too large, with the inline errors', async () => {
    const encryptor = threads(2);
    const good = browser();
    const results = await Promise.allSettled([
      encryptor.encrypt('one', good.p256dh, good.auth),
      encryptor.encrypt('two', Buffer.alloc(65, 4).toString('base64url'), good.auth),
      encryptor.encrypt('three', good.p256dh, 'c2hvcnQ'),
      encryptor.encrypt('x'.repeat(5000), good.p256dh, good.auth),
      encryptor.encrypt('five', good.p256dh, good.auth),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled']);
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : null));
    expect(reasons[1]).toBeInstanceOf(PushKeyError);
    expect(reasons[1]!.message).toBe('keys.p256dh is not a valid P-256 public key');
    expect(reasons[2]).toBeInstanceOf(PushKeyError);
    expect(reasons[2]!.message).toBe('keys.auth must be 16 bytes');
    expect(reasons[3]).toBeInstanceOf(RangeError);
    expect(good.open((results[4] as PromiseFulfilledResult<Buffer>).value)).toBe('five');
  });

  it('fails the batch a dying thread held, then starts a new thread for the next one', async () => {
    const thread = new EncryptionThread(CRASHING_SCRIPT);
    closers.push(() => thread.close());
    const to = browser();
    const err = await failure(thread.run([{ payload: 'crash', p256dh: to.p256dh, auth: to.auth }]));
    expect(err.message).toBe('the Web Push encryption thread exited with code 3');
    const [body] = await thread.run([{ payload: 'after the crash', p256dh: to.p256dh, auth: to.auth }]);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(to.open(body as Buffer)).toBe('after the crash');
  });

  it('rejects what is pending when closed, and refuses work afterwards', async () => {
    const encryptor = new ThreadEncryptor(THREAD_SCRIPT, 1);
    const to = browser();
    await encryptor.encrypt('warm-up', to.p256dh, to.auth);
    const outcomes = Promise.allSettled(Array.from({ length: 200 }, () => encryptor.encrypt('pending', to.p256dh, to.auth)));
    // The batch leaves at the end of this turn; close while the thread works on it.
    await new Promise((resolve) => setImmediate(resolve));
    await encryptor.close();
    const settled = await outcomes;
    const rejected = settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected[0]!.message).toBe('the Web Push encryption thread was closed');
    expect((await failure(encryptor.encrypt('late', to.p256dh, to.auth))).message).toBe('the Web Push encryptor is closed');
  });

  it('refuses a call made in the same turn as close(), rather than starting a thread again', async () => {
    const encryptor = new ThreadEncryptor(THREAD_SCRIPT, 1);
    const to = browser();
    await encryptor.encrypt('warm-up', to.p256dh, to.auth);
    // Gathered before close(), sent after it.
    const racing = encryptor.encrypt('racing', to.p256dh, to.auth);
    const closing = encryptor.close();
    expect((await failure(racing)).message).toBe('the Web Push encryptor is closed');
    await closing;
  });

  it('encrypts inline when threads are off, and when running from the TypeScript sources', () => {
    expect(createPushEncryptor(0)).toBeInstanceOf(InlineEncryptor);
    // These tests run from src/ (transformed in-process), where a thread could not load the module.
    expect(createPushEncryptor(2)).toBeInstanceOf(InlineEncryptor);
  });

  it('uses threads in the compiled build that `herald worker` runs', async () => {
    const built = (await import(
      new URL('../../dist/src/channels/webpush/encryptor.js', import.meta.url).href
    )) as typeof import('../../src/channels/webpush/encryptor.js');
    const encryptor = built.createPushEncryptor(2);
    closers.push(() => encryptor.close());
    expect(encryptor).toBeInstanceOf(built.ThreadEncryptor);
    const to = browser();
    expect(to.open(await encryptor.encrypt('built', to.p256dh, to.auth))).toBe('built');
  });

  it('needs at least one thread', () => {
    expect(() => new ThreadEncryptor(THREAD_SCRIPT, 0)).toThrow(RangeError);
  });
});
