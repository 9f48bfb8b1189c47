/**
 * Where log lines go when they go to a file descriptor (stdout): written at once when the reader
 * keeps up, held in a bounded buffer when it lags, dropped and counted when it does not read at all.
 * A reader that stops (a stuck pipe) or goes away (a broken pipe) must cost the process neither
 * memory nor its shutdown:
 *
 * - at most `maxBufferedBytes` of lines wait for the reader; a line that does not fit is dropped and
 *   counted, and once everything that waited has been written the count is reported (`onDrained`);
 * - a write never waits: a pipe or socket at stdout is non-blocking (Node makes it so when
 *   `process.stdout` is first used, see `stdoutDestination`), so a full pipe answers EAGAIN and what
 *   is left is tried again `retryMs` later;
 * - a reader that is gone (EPIPE, or any other write error) ends the writing for good: what waited
 *   and every later line are counted as dropped, nothing is kept;
 * - the flush at exit (`drainSync`) gives up after its timeout.
 *
 * pino's own destination can cap its buffer too (sonic-boom's `maxLength` drops what does not fit),
 * but the synchronous flush pino runs at exit retries every 100 ms, for ever, on EAGAIN and on any
 * other error, EPIPE included: a worker whose stdout was stuck or closed never finished a SIGTERM.
 */
import { writeSync } from 'node:fs';

/** Bytes of lines kept while the reader lags, by default: some seconds of a busy worker's logs. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** How long the flush at exit may try to write what waits, by default. */
export const EXIT_FLUSH_MS = 1000;
const DEFAULT_RETRY_MS = 50;
/** Lines are joined into writes of about this size (a pipe's capacity). */
const CHUNK_BYTES = 64 * 1024;
/** Pause between tries of the flush at exit, which has no event loop to wait on. */
const EXIT_POLL_MS = 10;

export interface BoundedDestinationOptions {
  fd: number;
  /** Bytes of lines kept while the reader lags; lines beyond are dropped. */
  maxBufferedBytes?: number;
  /** Milliseconds between tries while the reader does not take more. */
  retryMs?: number;
}

/** Lines joined for one write; `lines` counts them, to count what a broken pipe loses. */
interface Chunk {
  bytes: Buffer;
  lines: number;
}

type WriteState = 'drained' | 'blocked' | 'closed';

export class BoundedDestination {
  /**
   * Called with the number of lines dropped since the last call, once every line that waited has
   * been written: the first moment the reader can learn of the gap.
   */
  onDrained?: (dropped: number) => void;
  private readonly fd: number;
  private readonly maxBufferedBytes: number;
  private readonly retryMs: number;
  /** Lines not yet begun, joined into texts of about CHUNK_BYTES. */
  private readonly pending: { text: string; lines: number }[] = [];
  /** The write begun and not finished (the reader took part of it). */
  private current: Chunk | null = null;
  /** Bytes of `pending` and `current`: the buffer the bound applies to. */
  private bufferedBytes = 0;
  private droppedSinceReport = 0;
  private droppedTotal = 0;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(options: BoundedDestinationOptions) {
    this.fd = options.fd;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  }

  /** Lines dropped since this destination was made. */
  get droppedLines(): number {
    return this.droppedTotal;
  }

  /** Bytes of lines waiting for the reader; never more than `maxBufferedBytes`. */
  get waitingBytes(): number {
    return this.bufferedBytes;
  }

  /** pino calls this with one whole line at a time. */
  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.closed || this.bufferedBytes + bytes > this.maxBufferedBytes) {
      this.drop(1);
      return;
    }
    const last = this.pending.at(-1);
    if (last && last.text.length + line.length <= CHUNK_BYTES) {
      last.text += line;
      last.lines++;
    } else {
      this.pending.push({ text: line, lines: 1 });
    }
    this.bufferedBytes += bytes;
    // While a retry is due the reader is known to be full: trying each line would only cost calls.
    if (!this.retry) this.flush();
  }

  /**
   * Writes what waits, trying for at most `timeoutMs`, without the event loop: the flush at exit.
   * Reports dropped lines if everything got out. Returns whether nothing is left waiting.
   */
  drainSync(timeoutMs: number): boolean {
    const deadline = Date.now() + timeoutMs;
    this.cancelRetry();
    for (;;) {
      const state = this.writeWaiting();
      if (state === 'closed') return false;
      if (state === 'drained') {
        if (this.droppedSinceReport === 0 || !this.onDrained) return true;
        this.report();
        this.cancelRetry();
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return false;
      sleepSync(Math.min(EXIT_POLL_MS, left));
    }
  }

  private flush(): void {
    const state = this.writeWaiting();
    if (state === 'blocked') this.retry = setRetry(() => this.retried(), this.retryMs);
    else if (state === 'drained' && this.droppedSinceReport > 0) this.report();
  }

  private retried(): void {
    this.retry = undefined;
    this.flush();
  }

  private cancelRetry(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  /** Writes until nothing waits, the reader is full, or the reader is gone. */
  private writeWaiting(): WriteState {
    if (this.closed) return 'closed';
    for (;;) {
      if (!this.current) {
        const next = this.pending.shift();
        if (!next) return 'drained';
        this.current = { bytes: Buffer.from(next.text), lines: next.lines };
      }
      let written: number;
      try {
        written = writeSync(this.fd, this.current.bytes);
      } catch (err) {
        if (isFull(err)) return 'blocked';
        this.close();
        return 'closed';
      }
      this.bufferedBytes -= written;
      // A short write means the reader took what it had room for: the next call would be refused.
      if (written < this.current.bytes.length) {
        this.current.bytes = this.current.bytes.subarray(written);
        return 'blocked';
      }
      this.current = null;
    }
  }

  private report(): void {
    const dropped = this.droppedSinceReport;
    this.droppedSinceReport = 0;
    this.onDrained?.(dropped);
  }

  private drop(lines: number): void {
    this.droppedSinceReport += lines;
    this.droppedTotal += lines;
  }

  /** The reader is gone: nothing written now would reach anyone. */
  private close(): void {
    this.closed = true;
    this.cancelRetry();
    this.drop((this.current?.lines ?? 0) + this.pending.reduce((sum, chunk) => sum + chunk.lines, 0));
    this.current = null;
    this.pending.length = 0;
    this.bufferedBytes = 0;
  }
}

let stdout: BoundedDestination | undefined;

/**
 * The process's destination on stdout, made once, flushed at exit for at most EXIT_FLUSH_MS.
 * Reading `process.stdout` first is what makes a pipe or socket at fd 1 non-blocking; a terminal
 * stays blocking, as Node keeps it, and a file never fills.
 */
export function stdoutDestination(): BoundedDestination {
  if (stdout) return stdout;
  const fd = process.stdout.fd ?? 1;
  const destination = (stdout = new BoundedDestination({ fd }));
  process.once('exit', () => destination.drainSync(EXIT_FLUSH_MS));
  return destination;
}

function isFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EBUSY';
}

/** The retry timer never keeps the process alive: the flush at exit writes what is left. */
function setRetry(callback: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return timer;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
