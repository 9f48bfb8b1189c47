/**
 * GET /v1/events: the event log as Server-Sent Events, read by a real HTTP client from a listening
 * API: auth, filters, the wire format, resumption after Last-Event-ID with nothing missed or
 * repeated (also while events are written during the catch-up), the gap message, the heartbeat,
 * one shared Redis reader for every client, and back-pressure on a client that stops reading.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { SseReader, type SseMessage } from '../helpers/sse-reader.js';

let h: Harness;
afterEach(async () => h?.close());

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** The ids of the log after `after` (all without it), as XRANGE reads them. */
async function logIds(harness: Harness, after?: string): Promise<string[]> {
  const redis = await harness.herald.connection();
  const entries = await redis.xrange(harness.herald.keys.events(), after === undefined ? '-' : `(${after}`, '+');
  return entries.map(([id]) => id);
}

const ids = (messages: SseMessage[]) => messages.map((message) => message.id);
const eventsOf = (reader: SseReader) => reader.messages.filter((message) => message.id !== undefined);

async function open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const reader = await SseReader.open(`${url}`, { ...admin, ...headers });
  h.onClose(async () => reader.close());
  return reader;
}

describe('GET /v1/events', () => {
  it('needs an admin key, and names a bad filter or event id', async () => {
    h = await Harness.create();
    const { url } = await h.listen();
    const status = async (path: string, headers: Record<string, string>) => (await SseReader.open(`${url}${path}`, headers)).response.statusCode;
    expect(await status('/v1/events', {})).toBe(401);
    expect(await status('/v1/events', { authorization: `Bearer ${PUBLISH_KEY}` })).toBe(403);
    const bad = async (path: string, headers: Record<string, string> = {}) => (await SseReader.open(`${url}${path}`, { ...admin, ...headers })).json();
    expect(await bad('/v1/events?types=notification.delivered,nope')).toMatchObject({
      error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'types' }] },
    });
    expect(await bad('/v1/events?to=')).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'to' }] } });
    expect(await bad('/v1/events', { 'last-event-id': 'yesterday' })).toMatchObject({ error: { details: [{ field: 'Last-Event-ID' }] } });
    expect(await bad('/v1/events?lastEventId=1-x')).toMatchObject({ error: { details: [{ field: 'lastEventId' }] } });
  });

  it('streams each event live: id is the log id, event its type, data the Event with that id; filtered by type and recipient', async () => {
    h = await Harness.create();
    await h.register('u-1', 'u-2');
    const { url } = await h.listen();
    const all = await open(`${url}/v1/events`);
    expect(all.response.headers['content-type']).toMatch(/^text\/event-stream/);
    const delivered = await open(`${url}/v1/events?types=notification.delivered`);
    const forU2 = await open(`${url}/v1/events?to=u-2`);
    await h.startWorker(['gotify']);
    const first = await h.herald.notify({ to: 'u-1', message: 'one' });
    const second = await h.herald.notify({ to: 'u-2', message: 'two' });
    await h.waitForStatus(first.id, 'delivered');
    await h.waitForStatus(second.id, 'delivered');
    await all.until(() => eventsOf(all).length >= 4);
    await delivered.until(() => eventsOf(delivered).length >= 2);
    await forU2.until(() => eventsOf(forU2).length >= 2);

    const log = await logIds(h);
    expect(ids(eventsOf(all))).toEqual(log);
    for (const message of eventsOf(all)) {
      const event = JSON.parse(message.data) as { id: string; type: string };
      expect(event.id).toBe(message.id);
      expect(event.type).toBe(message.event);
    }
    expect(
      eventsOf(delivered)
        .map((m) => [m.event, (JSON.parse(m.data) as { notificationId: string }).notificationId])
        .sort(),
    ).toEqual(
      [
        ['notification.delivered', first.id],
        ['notification.delivered', second.id],
      ].sort(),
    );
    expect(eventsOf(forU2).map((m) => (JSON.parse(m.data) as { to: string }).to)).toEqual(['u-2', 'u-2']);
  });

  it('resumes strictly after Last-Event-ID, with nothing missed or repeated while events are written during the catch-up', async () => {
    h = await Harness.create();
    await h.register('u-1');
    // Small pages, so the catch-up takes many reads with writes between them.
    const { url } = await h.listen({ pageSize: 7 });
    const batch = (tag: string) => Array.from({ length: 150 }, (_, i) => ({ to: 'u-1', message: `${tag}${i}`, delayMs: 60_000 }));
    await h.herald.notifyMany(batch('a'));
    const before = await logIds(h);
    const resumeAfter = before[20]!;

    let writing = true;
    const writer = (async () => {
      let n = 0;
      while (writing && n < 400) {
        await h.herald.notify({ to: 'u-1', message: `during ${n++}`, delayMs: 60_000 });
      }
    })();
    const resumed = await open(`${url}/v1/events`, { 'last-event-id': resumeAfter });
    // Let the writer run on past the catch-up, then stop it and wait for the stream to have it all.
    await resumed.until(() => eventsOf(resumed).length >= 200);
    writing = false;
    await writer;
    const expected = await logIds(h, resumeAfter);
    await resumed.until(() => eventsOf(resumed).length >= expected.length);
    expect(ids(eventsOf(resumed))).toEqual(expected);
    expect(resumed.of('gap')).toEqual([]);

    // The same through the query parameter.
    const last = expected.at(-1)!;
    await h.herald.notify({ to: 'u-1', message: 'after all', delayMs: 60_000 });
    const byQuery = await open(`${url}/v1/events?lastEventId=${last}`);
    await byQuery.until(() => eventsOf(byQuery).length >= 1);
    expect(ids(eventsOf(byQuery))).toEqual(await logIds(h, last));
  });

  it('says first, with event: gap, when the events after Last-Event-ID were trimmed, then sends those it still holds', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const { url } = await h.listen();
    await h.herald.notifyMany(Array.from({ length: 10 }, (_, i) => ({ to: 'u-1', message: `n${i}`, delayMs: 60_000 })));
    const log = await logIds(h);
    const redis = await h.herald.connection();
    // What MAXLEN does to a long log: the oldest entries go.
    await redis.xtrim(h.herald.keys.events(), 'MINID', log[5]!);
    const reader = await open(`${url}/v1/events`, { 'last-event-id': log[1]! });
    await reader.until(() => eventsOf(reader).length >= 5);
    expect(reader.messages[0]).toMatchObject({ event: 'gap' });
    expect(JSON.parse(reader.messages[0]!.data)).toEqual({ lastEventId: log[1], oldestId: log[5] });
    expect(ids(eventsOf(reader))).toEqual(log.slice(5));
    // Resuming from an id that is still held is no gap.
    const fine = await open(`${url}/v1/events`, { 'last-event-id': log[6]! });
    await fine.until(() => eventsOf(fine).length >= 3);
    expect(fine.of('gap')).toEqual([]);
  });

  it('sends a heartbeat comment, and reads Redis on one shared connection however many clients listen', async () => {
    h = await Harness.create();
    const { app, url } = await h.listen({ heartbeatMs: 50 });
    const readers = await Promise.all(Array.from({ length: 5 }, () => open(`${url}/v1/events`)));
    await readers[0]!.until(() => readers[0]!.comments.includes('ping'));
    expect(app.eventHub.size).toBe(5);
    const redis = new Redis(h.redisUrl);
    try {
      const readersOfPrefix = String(await redis.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=herald-events:${h.prefix} `));
      expect(readersOfPrefix).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
    for (const reader of readers) reader.close();
    await until(
      async () => app.eventHub.size,
      (size) => size === 0,
    );
  });

  it('drops a client that stops reading with a final event: dropped, holding no more than its bound meanwhile', { timeout: 120_000 }, async () => {
    h = await Harness.create();
    await h.register('u-1');
    const maxBufferBytes = 64 * 1024;
    // The shared reader hands over at most 100 events at once, each under 1 KiB framed.
    const { app, url } = await h.listen({ maxBufferBytes, dropGraceMs: 30_000, hub: { count: 100 } });
    const { port } = new URL(url);
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_KEY}\r\nAccept: text/event-stream\r\n\r\n`);
    await until(
      async () => app.eventHub.size,
      (size) => size === 1,
    );
    // The client stops reading: what the server writes piles up in the kernel's buffers, then in Node's.
    socket.pause();
    // The loopback's kernel buffers take megabytes before Node's starts to fill.
    let peak = 0;
    let written = 0;
    while (app.eventHub.size === 1 && written < 1_000_000) {
      await h.herald.notifyMany(Array.from({ length: 1000 }, (_, i) => ({ to: 'u-1', message: `m${i}`, delayMs: 60_000 })));
      written += 1000;
      peak = Math.max(peak, ...app.eventHub.buffered());
    }
    expect(app.eventHub.size).toBe(0);
    // Far more was written than the bound (every event is over 100 bytes); the server held at most
    // the bound and one batch of the reader more.
    expect(written * 100).toBeGreaterThan(maxBufferBytes * 4);
    expect(peak).toBeLessThanOrEqual(maxBufferBytes + 100 * 1024);

    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    await new Promise((resolve) => socket.once('end', resolve));
    const text = Buffer.concat(chunks).toString('utf8');
    // The last message of the stream (the body is chunked: its framing sits between messages).
    const last = text.slice(text.lastIndexOf('event: '));
    expect(last).toMatch(/^event: dropped\ndata: \{"reason":"the client reads slower than events arrive","lastEventId":"\d+-\d+"\}\n\n/);
    socket.destroy();
  });
});
