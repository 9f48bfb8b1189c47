/**
 * The event log as the tests drive it: entries appended in the agreed format (type, to, and the
 * Event JSON without its id, the entry id being the event id), and a receiver of event webhooks
 * that checks each request's Standard Webhooks signature with the test's own implementation
 * (webhook-receiver.ts, written from the specification, not from Herald's code).
 */
import type { Redis } from 'ioredis';
import { HttpDouble, type ReceivedRequest } from './http-double.js';
import { signatureProblems } from './webhook-receiver.js';

export interface TestEvent {
  type: string;
  notificationId: string;
  to?: string;
  channel?: string;
  status?: string;
}

/** Appends one event as a state change's script would; returns its id (the entry id). */
export async function appendEvent(redis: Redis, prefix: string, event: TestEvent): Promise<string> {
  const { type, notificationId, ...rest } = event;
  const body = { type, at: new Date().toISOString(), notificationId, ...rest };
  const id = await redis.xadd(`${prefix}:events`, 'MAXLEN', '~', '100000', '*', 'type', event.type, 'to', event.to ?? '', 'event', JSON.stringify(body));
  return id as string;
}

/** Every way a request departs from a signed event webhook POST for the secret. */
function eventWebhookProblems(request: ReceivedRequest, secret: string): string[] {
  const problems = signatureProblems(secret, request.headers, request.body);
  if (request.method !== 'POST') problems.push(`method ${request.method}, expected POST`);
  if (!String(request.headers['content-type']).startsWith('application/json')) problems.push('Content-Type is not application/json');
  try {
    const event = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    if (event.id !== request.headers['webhook-id']) problems.push('the event id is not the webhook-id');
    if (typeof event.type !== 'string' || typeof event.at !== 'string' || typeof event.notificationId !== 'string') problems.push('not an Event');
  } catch {
    problems.push('the body is not JSON');
  }
  return problems;
}

/** A receiver of event webhooks; set `secret` once the endpoint is registered (the answer holds it). */
export class EventReceiver {
  secret = '';
  readonly double = new HttpDouble({ status: 204 }, (request) => eventWebhookProblems(request, this.secret));

  /** The events received, in arrival order, duplicates included. */
  events(): Record<string, unknown>[] {
    return this.double.requests.filter((r) => r.problems.length === 0).map((r) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>);
  }

  /** The ids of the well-signed events received, in arrival order, duplicates included. */
  ids(): string[] {
    return this.events().map((event) => String(event.id));
  }
}
