import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoundedDestination } from '../../src/log-destination.js';
import { createLogger } from '../../src/logger.js';
import { until } from '../helpers/harness.js';

/**
 * A named pipe whose reader the test drives: it reads only when told to, and can go away. Both
 * ends are non-blocking, as a pipe at a Herald process's stdout is.
 */
class Fifo {
  readonly writer: number;
  private reader: number | null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'herald-fifo-'));
  private text = '';

  constructor() {
    const path = join(this.dir, 'log');
    execFileSync('mkfifo', [path]);
    this.reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    this.writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  }

  /** Reads everything the pipe holds now; returns every whole line read so far. */
  read(): Record<string, unknown>[] {
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.reader!, buffer);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw err;
      }
      if (n === 0) break;
      this.text += buffer.toString('utf8', 0, n);
    }
    return this.text
      .split('\n')
      .slice(0, -1)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  closeReader(): void {
    if (this.reader !== null) closeSync(this.reader);
    this.reader = null;
  }

  close(): void {
    this.closeReader();
    closeSync(this.writer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let fifo: Fifo | undefined;
afterEach(() => {
  fifo?.close();
  fifo = undefined;
});

const LINES = 2000;
/** Far more than the pipe (64 KiB) and the buffer hold together. */
const TEXT = 'x'.repeat(200);

/** Logs LINES lines numbered `n` = 0, 1, … through a logger on `destination`. */
function logMany(destination: BoundedDestination): void {
  const logger = createLogger({ level: 'info', destination });
  for (let n = 0; n < LINES; n++) logger.info({ n }, TEXT);
}

const numbered = (lines: Record<string, unknown>[]) => lines.filter((line) => line.msg === TEXT).map((line) => line.n);
const isReport = (line: Record<string, unknown>) => typeof line.msg === 'string' && line.msg.endsWith('log lines dropped');

describe('bounded log destination', () => {
  it('keeps at most its bound while the reader does not read, drops and counts the rest, and reports the count once what waited is written', async () => {
    fifo = new Fifo();
    const destination = new BoundedDestination({ fd: fifo.writer, maxBufferedBytes: 64 * 1024, retryMs: 5 });
    logMany(destination);
    expect(destination.waitingBytes).toBeGreaterThan(0);
    expect(destination.waitingBytes).toBeLessThanOrEqual(64 * 1024);
    const dropped = destination.droppedLines;
    expect(dropped).toBeGreaterThan(0);

    const lines = await until(
      async () => fifo!.read(),
      (read) => read.some(isReport),
      5000,
    );
    // What got out is every line up to the first that did not fit, in order, then the count of the rest.
    const written = LINES - dropped;
    expect(numbered(lines)).toEqual(Array.from({ length: written }, (_, n) => n));
    expect(lines.at(-1)).toMatchObject({ level: 40, droppedLines: dropped, droppedLinesTotal: dropped, msg: `${dropped} log lines dropped` });
    expect(destination.waitingBytes).toBe(0);
  });

  it('writes at once while the reader keeps up, and drops nothing', async () => {
    fifo = new Fifo();
    const destination = new BoundedDestination({ fd: fifo.writer });
    const logger = createLogger({ level: 'info', destination });
    for (let n = 0; n < 50; n++) logger.info({ n }, TEXT);
    expect(destination.waitingBytes).toBe(0);
    expect(numbered(fifo.read())).toEqual(Array.from({ length: 50 }, (_, n) => n));
    expect(destination.droppedLines).toBe(0);
  });

  it('the flush at exit gives up after its timeout while the reader is stuck', () => {
    fifo = new Fifo();
    const destination = new BoundedDestination({ fd: fifo.writer, maxBufferedBytes: 64 * 1024 });
    logMany(destination);
    const waiting = destination.waitingBytes;
    expect(waiting).toBeGreaterThan(0);
    expect(destination.drainSync(50)).toBe(false);
    expect(destination.waitingBytes).toBe(waiting);
  });

  it('the flush at exit writes what waited and the count of what was dropped when the reader has room', () => {
    fifo = new Fifo();
    // A buffer smaller than the pipe: once the pipe is read, everything that waited fits at once.
    const destination = new BoundedDestination({ fd: fifo.writer, maxBufferedBytes: 16 * 1024 });
    logMany(destination);
    const dropped = destination.droppedLines;
    fifo.read();
    expect(destination.drainSync(60_000)).toBe(true);
    const lines = fifo.read();
    expect(numbered(lines)).toEqual(Array.from({ length: LINES - dropped }, (_, n) => n));
    expect(lines.at(-1)).toMatchObject({ level: 40, droppedLines: dropped, msg: `${dropped} log lines dropped` });
  });

  it('a reader that is gone (EPIPE): nothing more is kept, every line is counted as dropped, and the flush at exit returns at once', () => {
    fifo = new Fifo();
    const destination = new BoundedDestination({ fd: fifo.writer, maxBufferedBytes: 64 * 1024 });
    logMany(destination);
    const readable = numbered(fifo.read()).length;
    fifo.closeReader();
    // The timeout is far beyond the test's own: only giving up on EPIPE lets this return.
    expect(destination.drainSync(60_000)).toBe(false);
    expect(destination.waitingBytes).toBe(0);
    createLogger({ level: 'info', destination }).info('after the reader left');
    expect(destination.waitingBytes).toBe(0);
    // Every line is either read or counted: the ones the pipe held, and all the others.
    expect(readable + destination.droppedLines).toBe(LINES + 1);
  });
});
