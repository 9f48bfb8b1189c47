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

/** What of a RecordChange (notifications.ts) its events follow from. */
export interface ChangeFacts {
  set?: { status?: string; channel?: string } | undefined;
  attempts?: readonly Attempt[] | undefined;
  removeSubscriptions?: readonly string[] | undefined;
  removeAddress?: unknown;
  deadLetter?: 'add' | 'remove' | undefined;
}

/**
 * One event as the transition script reads it, with the condition under which it is emitted.
 * With `attempt`, `event` is the Event's JSON up to its closing brace, and the script adds the
 * attempt from the change's own attempts list, so the change does not carry its JSON twice.
 */
export interface TransitionEvent {
  type: string;
  to: string;
  event: string;
  /** Position (from 1, as in Lua) in the change's attempts of the attempt the event carries. */
  attempt?: number;
  /** Emitted only if the change moves the record to another status. */
  ended?: true;
  /** Emitted only if this subscription was removed. */
  subscription?: string;
  /** Emitted only if the change's removeAddress removed the address. */
  address?: true;
}

/** The events of a change for record `id` of recipient `to`, made at `now`. This runs for every delivery. */
export function transitionEvents(id: string, to: string | undefined, change: ChangeFacts, now: number): TransitionEvent[] | undefined {
  const status = change.set?.status as NotificationStatus | undefined;
  const attempts = change.attempts ?? [];
  const ending = status !== undefined && isTerminal(status);
  const replayed = status === 'queued' && change.deadLetter === 'remove';
  if (!ending && !replayed && attempts.length === 0 && !change.removeSubscriptions && !change.removeAddress) return undefined;
  // The Event's fields before `channel`, and `status` after it, shared by every event of the change.
  const head = `"at":"${new Date(now).toISOString()}","notificationId":${JSON.stringify(id)}${to === undefined ? '' : `,"to":${JSON.stringify(to)}`}`;
  const tail = status === undefined ? '' : `,"status":"${status}"`;
  const events: TransitionEvent[] = [];
  const make = (type: EventType, channel: string | undefined, attempt: number, condition: Partial<TransitionEvent>): void => {
    const event = `{"type":"${type}",${head}${channel === undefined ? '' : `,"channel":"${channel}"`}${tail}`;
    if (attempt < 0) events.push({ type, to: to ?? '', event: `${event}}`, ...condition });
    else events.push({ type, to: to ?? '', event, attempt: attempt + 1, ...condition });
  };
  const deciding = ending ? decidingAttempt(status, attempts) : -1;
  for (const [i, attempt] of attempts.entries()) {
    if (attempt.outcome === 'transient' || attempt.outcome === 'permanent') {
      if (i !== deciding) make('attempt.failed', attempt.channel, i, {});
    } else if (attempt.outcome === 'gone') {
      if (attempt.subscriptionId !== undefined && change.removeSubscriptions?.includes(attempt.subscriptionId)) {
        make('subscription.removed', attempt.channel, i, { subscription: attempt.subscriptionId });
      } else if (attempt.subscriptionId === undefined && change.removeAddress) {
        make('subscription.removed', attempt.channel, i, { address: true });
      }
    }
  }
  if (replayed) make('notification.replayed', undefined, -1, { ended: true });
  // The ending event comes last: what led to the end is in the log before it.
  if (ending) make(`notification.${status}`, change.set?.channel ?? attempts[deciding]?.channel, deciding, { ended: true });
  return events;
}

/** The index of the attempt an ending event carries: the last delivered for `delivered`, else the last (-1: none). */
function decidingAttempt(status: NotificationStatus, attempts: readonly Attempt[]): number {
  if (status === 'delivered') return attempts.findLastIndex((attempt) => attempt.outcome === 'delivered');
  return attempts.length - 1;
}
