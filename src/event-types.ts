/**
 * The Event: one state change of a notification, as `GET /v1/events` streams it and the event
 * webhooks POST it. Its `id` is the id of its entry in the event log (store/event-entry.ts).
 */
import type { Attempt } from './types.js';

export const EVENT_TYPES = [
  'notification.accepted',
  'notification.delivered',
  'notification.failed',
  'notification.expired',
  'notification.skipped',
  'notification.canceled',
  'notification.merged',
  'attempt.failed',
  'inbox.read',
  'subscription.removed',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/** One state change of a notification, as `/v1/events` and the webhooks deliver it. */
export interface HeraldEvent {
  /** The stream entry id. */
  id: string;
  type: EventType;
  /** ISO 8601. */
  at: string;
  notificationId: string;
  to?: string;
  channel?: string;
  status?: string;
  attempt?: Attempt;
}
