/**
 * kill -9 of the API while Server-Sent Events clients listen and notifications flow: the clients
 * reconnect with Last-Event-ID once a new API process answers, and in the end each has every event
 * of the log exactly once, in order (compared with XRANGE of the stream).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { API_KEY, FaultCluster } from './cluster.js';
import { record } from './report.js';
import { freePort } from '../helpers/redis-server.js';
import { SseReader } from '../helpers/sse-reader.js';

let cluster: FaultCluster | undefined;
const clients: ResumingClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.stop();
  await cluster?.close();
  cluster = undefined;
});

/** An EventSource-like client: on every end of the stream it reconnects with the last id it got. */
class ResumingClient {
  readonly ids: string[] = [];
  connections = 0;
  gaps = 0;
  private reader: SseReader | undefined;
  private stopped = false;
  readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    private lastId: string,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const reader = await SseReader.open(`${this.url}/v1/events`, { authorization: `Bearer ${API_KEY}`, 'last-event-id': this.lastId });
        this.reader = reader;
        if (reader.response.statusCode === 200) {
          this.connections += 1;
          let taken = 0;
          const take = () => {
            for (const message of reader.messages.slice(taken)) {
              if (message.event === 'gap') this.gaps += 1;
              if (message.id !== undefined) {
                this.ids.push(message.id);
                this.lastId = message.id;
              }
            }
            taken = reader.messages.length;
          };
          await reader.until(() => {
            take();
            return reader.ended || this.stopped;
          }, 600_000);
          take();
        } else {
          reader.close();
        }
      } catch {
        // The API is down: connection refused. Try again shortly, as EventSource does.
      }
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): void {
    this.stopped = true;
    this.reader?.close();
  }
}

const LOAD = 3000;

describe('the API killed while event streams are open', () => {
  it('kill -9 of the API: every SSE client resumes with Last-Event-ID and ends with every event exactly once', async () => {
    cluster = await FaultCluster.start();
    cluster.gotify.fallback = { status: 200, body: '{"id":1}', delayMs: 2 };
    await cluster.registerRecipient();
    const port = await freePort();
    let api = await cluster.api(port);
    const redis = await cluster.herald.connection();
    const key = cluster.herald.keys.events();
    const [newest] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const start = newest ? newest[0] : '0-0';
    for (let i = 0; i < 3; i++) clients.push(new ResumingClient(api.url, start));
    cluster.worker();

    const firstHalf = cluster.enqueue(LOAD / 2, 'sse-a');
    // Kill the API once events are flowing to the clients, while notifications are still enqueued and delivered.
    await waitFor(() => clients.every((client) => client.ids.length >= 200), 60_000);
    await cluster.stop(api.child, 'SIGKILL');
    const secondHalf = cluster.enqueue(LOAD / 2, 'sse-b');
    const ids = [...(await firstHalf), ...(await secondHalf)];
    api = await cluster.api(port);
    const tally = await cluster.settle(ids, 120_000);
    expect(tally.lost).toBe(0);

    const expected = (await redis.xrange(key, `(${start}`, '+')).map(([id]) => id);
    await waitFor(() => clients.every((client) => client.ids.length >= expected.length), 60_000);
    for (const client of clients) {
      expect(client.connections).toBeGreaterThanOrEqual(2);
      expect(client.gaps).toBe(0);
      expect(client.ids).toEqual(expected);
    }
    record({
      scenario: 'kill -9 the API under 3 SSE clients',
      load: `${LOAD} notifications, ${expected.length} events`,
      faults: 'SIGKILL of the API, restarted on the same port',
      notifications: tally.total,
      delivered: tally.delivered,
      lost: tally.lost,
      duplicated: tally.duplicated,
      notes: 'each client reconnected with Last-Event-ID and got every event exactly once, in order',
    });
  });
});

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
