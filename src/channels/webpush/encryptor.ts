/**
 * Where Web Push payloads are encrypted. RFC 8291 costs two P-256 operations per message (a fresh
 * key pair, then the ECDH secret with the browser's key): more CPU than all the rest a delivery
 * does in the event loop (figures in docs/performance.md). The thread encryptor moves that work to worker threads,
 * so one worker process uses a second core for Web Push while its event loop stays free for
 * sends, Redis replies and timers. Requests made during one event-loop turn travel to a thread as
 * one message.
 */
import { Worker } from 'node:worker_threads';
import { TurnBatcher } from '../../turn-batcher.js';
import { encryptRequest, failureError, unpackBatch, type EncryptedBatch, type EncryptFailure, type EncryptRequest } from './crypto-batch.js';

export interface PushEncryptor {
  /**
   * The `aes128gcm` body of `payload` for one subscription. Rejects with PushKeyError when the
   * subscription's keys are unusable and RangeError when the payload cannot fit one record.
   */
  encrypt(payload: string, p256dh: string, auth: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Encrypts in the event loop: for one core, or when threads are turned off. */
export class InlineEncryptor implements PushEncryptor {
  async encrypt(payload: string, p256dh: string, auth: string): Promise<Buffer> {
    return encryptRequest({ payload, p256dh, auth });
  }

  async close(): Promise<void> {}
}

type Outcome = Buffer | EncryptFailure;

interface Waiting {
  resolve(results: Outcome[]): void;
  reject(err: Error): void;
}

/**
 * One worker thread, started on first use. If it dies, the batches it held fail (the deliveries
 * count a transient failure and are retried) and the next batch starts a new thread.
 */
export class EncryptionThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly script: URL) {}

  run(requests: EncryptRequest[]): Promise<Outcome[]> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Outcome[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // A thread with work keeps the process alive; an idle one does not hold it open.
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, requests });
    });
  }

  private start(): Worker {
    const worker = new Worker(this.script);
    worker.unref();
    worker.on('message', (batch: EncryptedBatch) => {
      const waiting = this.waiting.get(batch.id);
      if (!waiting) return;
      this.waiting.delete(batch.id);
      if (this.waiting.size === 0) worker.unref();
      waiting.resolve(unpackBatch(batch));
    });
    worker.on('error', (err) => this.fail(worker, err));
    worker.on('exit', (code) => this.fail(worker, new Error(`the Web Push encryption thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const batch of waiting) batch.reject(err);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error('the Web Push encryption thread was closed'));
    await worker.terminate();
  }
}

/** Requests sent to the threads at most at once (the turn's rest waits for the next batch). */
const MAX_BATCH = 200;

export class ThreadEncryptor implements PushEncryptor {
  private readonly threads: EncryptionThread[];
  private readonly batcher: TurnBatcher<EncryptRequest, Outcome>;
  private rotation = 0;
  private closed = false;

  constructor(script: URL, threadCount: number) {
    if (!Number.isInteger(threadCount) || threadCount < 1) throw new RangeError('a thread encryptor needs at least one thread');
    this.threads = Array.from({ length: threadCount }, () => new EncryptionThread(script));
    this.batcher = new TurnBatcher((requests) => this.dispatch(requests), MAX_BATCH);
  }

  async encrypt(payload: string, p256dh: string, auth: string): Promise<Buffer> {
    const outcome = await this.batcher.submit({ payload, p256dh, auth });
    if (Buffer.isBuffer(outcome)) return outcome;
    throw failureError(outcome);
  }

  /** Splits a turn's requests evenly over the threads, starting where the last turn stopped. */
  private async dispatch(requests: EncryptRequest[]): Promise<Outcome[]> {
    // Checked when the batch leaves, not when a call arrives: a batch gathered before close() and
    // sent after it must not start a thread again.
    if (this.closed) throw new Error('the Web Push encryptor is closed');
    const share = Math.ceil(requests.length / this.threads.length);
    const parts = Math.ceil(requests.length / share);
    const running: Promise<Outcome[]>[] = [];
    for (let part = 0; part < parts; part++) {
      const thread = this.threads[(this.rotation + part) % this.threads.length]!;
      running.push(thread.run(requests.slice(part * share, (part + 1) * share)));
    }
    this.rotation = (this.rotation + parts) % this.threads.length;
    return (await Promise.all(running)).flat();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}

/** The thread's entry point, compiled next to this file. */
export const THREAD_SCRIPT = new URL('./crypto-thread.js', import.meta.url);

/**
 * The encryptor for HERALD_WEBPUSH_CRYPTO_THREADS. Worker threads load compiled JavaScript, so
 * code running from the TypeScript sources (the test runner transforms them in-process) encrypts
 * inline.
 */
export function createPushEncryptor(threads: number): PushEncryptor {
  if (threads === 0 || !import.meta.url.endsWith('.js')) return new InlineEncryptor();
  return new ThreadEncryptor(THREAD_SCRIPT, threads);
}
