/**
 * The events of one transition (a change the transition script applies), worked out on the
 * TypeScript side from the change itself and handed to the script encoded, so the script only
 * checks each one's condition and appends it (lua/transition.lua):
 * - an ending status (delivered, failed, expired, skipped, canceled, merged) emits
 *   `notification.<status>` with the attempt that decided it, once: only if the status changes;
 * - every other transient or permanent attempt emits `attempt.failed`;
 * - a dead letter sent again (a change that takes it out of the dead-letter queue, queued) emits
 *   `notification.replayed`, only if the status changes;
 * - a Web Push subscription or an address removed because its endpoint is gone emits
 *   `subscription.removed` (with the `gone` attempt), only if it was still the recipient's.
 */
import { isTerminal, type Attempt, type EventType, type NotificationStatus } from '../types.js';
import { madeOnce } from '../made-once.js';

/** What of a RecordChange (notifications.ts) its events follow from. */
export interface ChangeFacts {
  set?: { status?: string; channel?: string } | undefined;
  attempts?: readonly Attempt[] | undefined;
  removeSubscriptions?: readonly string[] | undefined;
  removeAddress?: unknown;
  deadLetter?: 'add' | 'remove' | undefined;
}

/**
 * One event as the transition script reads it, with the condition under which it is emitted. The
 * script writes the Event's JSON itself from these parts, in this order: `type`, `at` (the batch's
 * time), the notification's `eventHead` (its id and recipient, see eventHead), `channel`, `status`
 * (the change's new status, if any) and `attempt` (the change's attempt at that position, as
 * stored): every event of a batch shares its time, and every event of a change its head and status,
 * so a change carries none of them twice.
 */
export interface TransitionEvent {
  type: string;
  channel?: string;
  /** Position (from 1, as in Lua) in the change's attempts of the attempt the event carries. */
  attempt?: number;
  /** Emitted only if the change moves the record to another status. */
  ended?: true;
  /** Emitted only if this subscription was removed. */
  subscription?: string;
  /** Emitted only if the change's removeAddress removed the address. */
  address?: true;
}

/**
 * The Event fields that name the notification, as JSON members without braces:
 * `"notificationId":…` and, for a notification with a recipient, `,"to":…`.
 */
export function eventHead(id: string, to: string | undefined): string {
  return to === undefined ? `"notificationId":${JSON.stringify(id)}` : `"notificationId":${JSON.stringify(id)},"to":${JSON.stringify(to)}`;
}

/**
 * The events of a change. This runs for every delivery, and most changes have one event (their
 * ending): that one comes as an array of exactly one, every event as an object of its final shape,
 * and attempts are read by index, so a delivery allocates no more than the events themselves.
 */
export function transitionEvents(change: ChangeFacts): TransitionEvent[] | undefined {
  const status = change.set?.status as NotificationStatus | undefined;
  const attempts = change.attempts ?? NO_ATTEMPTS;
  const ending = status !== undefined && isTerminal(status);
  const replayed = status === 'queued' && change.deadLetter === 'remove';
  if (!ending && !replayed && attempts.length === 0 && !change.removeSubscriptions && !change.removeAddress) return undefined;
  const deciding = ending ? decidingAttempt(status, attempts) : -1;
  // Before the ending: what led to it (failed attempts, removed subscriptions) and a replay.
  let events: TransitionEvent[] | undefined;
  for (let i = 0; i < attempts.length; i++) {
    const attempt = attempts[i]!;
    if (attempt.outcome === 'transient' || attempt.outcome === 'permanent') {
      if (i !== deciding) (events ??= []).push({ type: 'attempt.failed', channel: attempt.channel, attempt: i + 1 });
    } else if (attempt.outcome === 'gone') {
      if (attempt.subscriptionId !== undefined && change.removeSubscriptions?.includes(attempt.subscriptionId)) {
        (events ??= []).push({ type: 'subscription.removed', channel: attempt.channel, attempt: i + 1, subscription: attempt.subscriptionId });
      } else if (attempt.subscriptionId === undefined && change.removeAddress) {
        (events ??= []).push({ type: 'subscription.removed', channel: attempt.channel, attempt: i + 1, address: true });
      }
    }
  }
  if (replayed) (events ??= []).push({ type: 'notification.replayed' satisfies EventType, ended: true });
  if (!ending) return events ?? [];
  // The ending event comes last: what led to the end is in the log before it. Its members absent
  // when undefined, as JSON leaves them out.
  const endingEvent: TransitionEvent = {
    type: endedEventType(status),
    ended: true,
    channel: change.set?.channel ?? attempts[deciding]?.channel,
    attempt: deciding >= 0 ? deciding + 1 : undefined,
  };
  if (!events) return [endingEvent];
  events.push(endingEvent);
  return events;
}

const NO_ATTEMPTS: readonly Attempt[] = [];

/** `notification.<status>`, made once per status rather than once per delivery. */
const endedEventType = madeOnce((status: NotificationStatus) => `notification.${status}` as EventType);

/** The index of the attempt an ending event carries: the last delivered for `delivered`, else the last (-1: none). */
function decidingAttempt(status: NotificationStatus, attempts: readonly Attempt[]): number {
  if (status === 'delivered') return attempts.findLastIndex((attempt) => attempt.outcome === 'delivered');
  return attempts.length - 1;
}
