/**
 * A Server-Sent Events client over a plain HTTP request, as a browser's EventSource reads the
 * stream: `id:`, `event:` and `data:` lines, messages ended by a blank line, comment lines kept
 * apart. It reconnects only when the test says so.
 */
import { request, type IncomingMessage } from 'node:http';

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

export class SseReader {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  ended = false;
  private rest = '';
  private waiters: (() => void)[] = [];

  private constructor(
    readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.feed(chunk));
    response.on('end', () => this.finish());
    response.on('close', () => this.finish());
    response.on('error', () => this.finish());
  }

  /** Opens the stream; resolves with the reader once the status line and headers came. */
  static open(url: string, headers: Record<string, string>): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => resolve(new SseReader(res, () => req.destroy())));
      req.on('error', reject);
      req.end();
    });
  }

  /** The body of a non-200 answer, as JSON. */
  async json(): Promise<Record<string, unknown>> {
    await this.until(() => this.ended);
    return JSON.parse(this.rest) as Record<string, unknown>;
  }

  /** The messages of one event type. */
  of(event: string): SseMessage[] {
    return this.messages.filter((message) => message.event === event);
  }

  /** Waits until `done` holds, or fails after `timeoutMs` saying what was received. */
  async until(done: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the stream never got there; ${this.messages.length} messages, ended: ${this.ended}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.abort();
  }

  private feed(chunk: string): void {
    if (this.response.statusCode !== 200) {
      this.rest += chunk;
      return;
    }
    this.rest += chunk;
    let end = this.rest.indexOf('\n\n');
    while (end !== -1) {
      this.parse(this.rest.slice(0, end));
      this.rest = this.rest.slice(end + 2);
      end = this.rest.indexOf('\n\n');
    }
    this.wake();
  }

  private parse(block: string): void {
    const message: SseMessage = { data: '' };
    let isMessage = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      isMessage = true;
      if (name === 'id') message.id = value;
      else if (name === 'event') message.event = value;
      else if (name === 'data') message.data = message.data === '' ? value : `${message.data}\n${value}`;
    }
    if (isMessage) this.messages.push(message);
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
