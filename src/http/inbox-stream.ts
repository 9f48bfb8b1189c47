/**
 * `GET /v1/inbox/stream`: Server-Sent Events of one user's inbox, `event: inbox` with each new
 * InboxItem and `event: read` with `{ids, readAt}` when items are read (from any device), a
 * comment line every 15 s so proxies keep the connection open. The stream is subscribed before
 * its headers are sent, so nothing stored after the browser's `open` is missed; after a
 * reconnect, the page lists the inbox again (events are not replayed).
 * Bounded per client: a client that reads slower than its inbox changes, so that more than
 * MAX_BUFFERED_BYTES wait unsent, is dropped with `event: dropped`; the stream also ends with
 * `event: expired` when its token expires (the page fetches a new token and reconnects).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InboxService } from '../services/inbox.js';
import type { InboxEvent } from '../store/inbox.js';
import { INBOX_CORS_HEADERS } from './inbox-auth.js';

export const HEARTBEAT_MS = 15_000;
/** Bytes a slow client may leave unsent before it is dropped. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export async function streamInbox(inbox: InboxService, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const grant = request.inboxGrant!;
  const res = reply.raw;
  let ended = false;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => Promise<void>) | null = null;
  const end = (last?: string) => {
    if (ended) return;
    ended = true;
    for (const timer of timers) clearInterval(timer);
    if (last && res.writable) res.write(last);
    res.end();
    void unsubscribe?.().catch(() => {});
  };
  const send = (event: InboxEvent) => {
    if (ended) return;
    if (res.writableLength > MAX_BUFFERED_BYTES) return end(frame('dropped', { reason: 'the client reads too slowly; list the inbox again and reconnect' }));
    res.write(frame(event.event, event.data));
  };
  unsubscribe = await inbox.subscribe(grant.userId, send);
  reply.hijack();
  res.writeHead(200, {
    ...INBOX_CORS_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  // The browser reconnects after 3 s when the connection drops.
  res.write('retry: 3000\n: inbox stream\n\n');
  timers.push(setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS));
  const untilExpiry = Math.max(0, Date.parse(grant.expiresAt) - Date.now());
  timers.push(setTimeout(() => end(frame('expired', { expiresAt: grant.expiresAt })), untilExpiry));
  request.raw.on('close', () => end());
}
