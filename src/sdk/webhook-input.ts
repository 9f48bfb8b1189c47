/**
 * The body of `POST /v1/webhooks` (herald.webhooks.create): `{"url", "events"}`, where `events` is
 * a non-empty list of event types or `["*"]` for every type. Every bad field is named at once.
 */
import { validationError, type ErrorDetail } from '../errors.js';
import { EVENT_TYPES } from '../types.js';
import type { EventFilter } from '../store/webhooks.js';

export interface WebhookInput {
  url: string;
  events: EventFilter;
}

const MAX_URL_LENGTH = 2048;

export function validateWebhookInput(body: unknown): WebhookInput {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw validationError([{ field: '', message: 'Expected a JSON object {"url", "events"}' }]);
  const { url, events, ...rest } = body as Record<string, unknown>;
  const details: ErrorDetail[] = Object.keys(rest).map((field) => ({ field, message: 'Unknown field' }));
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH) {
    details.push({ field: 'url', message: `Expected a URL of 1 to ${MAX_URL_LENGTH} characters` });
  }
  if (!Array.isArray(events) || events.length === 0 || !events.every((e) => typeof e === 'string')) {
    details.push({ field: 'events', message: 'Expected a non-empty array of event types, or ["*"]' });
  } else if (events.includes('*')) {
    if (events.length > 1) details.push({ field: 'events', message: '"*" stands for every type: give it alone' });
  } else {
    events.forEach((type: string, index) => {
      if (!(EVENT_TYPES as readonly string[]).includes(type))
        details.push({ field: `events.${index}`, message: `Unknown event type; expected one of ${EVENT_TYPES.join(', ')}` });
    });
  }
  if (details.length > 0) throw validationError(details);
  return { url: url as string, events: [...new Set(events as string[])] as unknown as EventFilter };
}
