/**
 * The console's own parsing of Herald's event stream (src/console/events.js) and its throughput
 * counting (src/console/chart.js): plain browser modules without DOM needs here, run in Node.
 */
import { describe, expect, it } from 'vitest';

interface Message {
  id?: string;
  type?: string;
  data?: string;
  comment?: string;
  retry?: number;
}
interface EventsModule {
  SseParser: new () => { push(chunk: string): Message[] };
  idAgo(msAgo: number, now?: number): string;
  eventTime(event: { at?: string; id?: string }): number;
}
interface ChartModule {
  Throughput: new (options: {
    bucketMs: number;
    spanMs: number;
  }) => {
    add(type: string, atMs: number): boolean;
    window(now: number): { start: number; accepted: number; delivered: number; failed: number }[];
    totals: Record<string, number>;
  };
}

// The console's files are plain JavaScript served as they are; imported by URL, untyped, so typed here.
const events = (await import(new URL('../../src/console/events.js', import.meta.url).href)) as EventsModule;
const chart = (await import(new URL('../../src/console/chart.js', import.meta.url).href)) as ChartModule;

describe('SseParser', () => {
  it('parses id, event and data lines into one message per blank line, as Herald sends them', () => {
    const parser = new events.SseParser();
    const text = ': ping\n\n' + 'id: 1764511200000-3\nevent: notification.delivered\ndata: {"type":"notification.delivered","notificationId":"n-1"}\n\n';
    expect(parser.push(text)).toEqual([
      { comment: 'ping' },
      { id: '1764511200000-3', type: 'notification.delivered', data: '{"type":"notification.delivered","notificationId":"n-1"}' },
    ]);
  });

  it('keeps a message that arrives in pieces, split anywhere, CRLF included, until its blank line', () => {
    const parser = new events.SseParser();
    const text = 'id: 5-0\r\nevent: a\r\ndata: first\r\ndata: second\r\n\r\nid: 6-0\rdata: x\r\r';
    const out: Message[] = [];
    for (const char of text) out.push(...parser.push(char));
    expect(out).toEqual([
      { id: '5-0', type: 'a', data: 'first\nsecond' },
      { id: '6-0', type: 'message', data: 'x' },
    ]);
  });

  it('keeps the last id for messages without one, ignores unknown fields, reports retry', () => {
    const parser = new events.SseParser();
    expect(parser.push('id: 7-0\ndata: a\n\nfoo: bar\nretry: 2500\ndata:b\n\nevent: only\n\n')).toEqual([
      { id: '7-0', type: 'message', data: 'a' },
      { retry: 2500 },
      { id: '7-0', type: 'message', data: 'b' },
    ]);
  });
});

describe('stream ids and times', () => {
  it('starts the stream ten minutes back with an id made of the time', () => {
    expect(events.idAgo(600_000, 1_764_511_200_000)).toBe('1764510600000-0');
  });

  it("takes an event's time from `at`, else from its stream id", () => {
    expect(events.eventTime({ at: '2026-11-30T12:00:00.000Z', id: '1-0' })).toBe(Date.parse('2026-11-30T12:00:00.000Z'));
    expect(events.eventTime({ id: '1764511200000-3' })).toBe(1_764_511_200_000);
  });
});

describe('Throughput', () => {
  it('counts accepted, delivered and failed or expired per bucket, and drops buckets older than the span', () => {
    const t = new chart.Throughput({ bucketMs: 10_000, spanMs: 60_000 });
    const now = 1_000_000;
    expect(t.add('notification.accepted', now - 5_000)).toBe(true);
    expect(t.add('notification.delivered', now - 5_000)).toBe(true);
    expect(t.add('notification.expired', now - 15_000)).toBe(true);
    expect(t.add('notification.failed', now - 15_000)).toBe(true);
    expect(t.add('attempt.failed', now)).toBe(false);
    t.add('notification.delivered', now - 120_000);
    const rows = t.window(now);
    expect(rows).toHaveLength(6);
    expect(rows.at(-1)).toEqual({ start: 1_000_000, accepted: 0, delivered: 0, failed: 0 });
    expect(rows.at(-2)).toEqual({ start: 990_000, accepted: 1, delivered: 1, failed: 0 });
    expect(rows.at(-3)).toEqual({ start: 980_000, accepted: 0, delivered: 0, failed: 2 });
    expect(rows.reduce((sum, row) => sum + row.delivered, 0)).toBe(1);
  });
});
