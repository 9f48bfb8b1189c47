/**
 * The events of one transition (a change the transition script applies), worked out on the
 * TypeScript side from the change itself and handed to the script encoded, so the script only
 * checks each one's condition and appends it (lua/transition.lua):
 * - an ending status (delivered, failed, expired, skipped, canceled, merged) emits
 *   `notification.<status>` with the attempt that decided it, once: only if the status changes;
 * - every other transient or permanent attempt emits `attempt.failed`;
 * - a Web Push subscription or an address removed because its endpoint is gone emits
 *   `subscription.removed` (with the `gone` attempt), only if it was still the recipient's.
 */
import { isTerminal, type Attempt, type ChannelName, type NotificationStatus } from '../types.js';
import { encodeEvent, type EventBody } from './events.js';

/** What of a RecordChange (notifications.ts) its events follow from. */
export interface ChangeFacts {
  set?: { status?: string; channel?: string } | undefined;
  attempts?: readonly Attempt[] | undefined;
  removeSubscriptions?: readonly string[] | undefined;
  removeAddress?: unknown;
}

/** One event as the transition script reads it, with the condition under which it is emitted. */
export interface TransitionEvent {
  type: string;
  to: string;
  event: string;
  /** Emitted only if the change moves the record to another status. */
  ended?: true;
  /** Emitted only if this subscription was removed. */
  subscription?: string;
  /** Emitted only if the change's removeAddress removed the address. */
  address?: true;
}

export function transitionEvents(id: string, to: string | undefined, change: ChangeFacts, now: number): TransitionEvent[] | undefined {
  const status = change.set?.status as NotificationStatus | undefined;
  const attempts = change.attempts ?? [];
  const ending = status !== undefined && isTerminal(status);
  if (!ending && attempts.length === 0 && !change.removeSubscriptions && !change.removeAddress) return undefined;
  const at = new Date(now).toISOString();
  const events: TransitionEvent[] = [];
  const make = (body: EventBody, condition: Partial<TransitionEvent>): void => {
    events.push({ type: body.type, to: to ?? '', event: encodeEvent(body), ...condition });
  };
  const base = (type: EventBody['type'], channel: ChannelName | undefined, attempt: Attempt | undefined): EventBody => {
    const body: EventBody = { type, at, notificationId: id };
    if (to !== undefined) body.to = to;
    if (channel !== undefined) body.channel = channel;
    if (status !== undefined) body.status = status;
    if (attempt !== undefined) body.attempt = attempt;
    return body;
  };
  const deciding = ending ? decidingAttempt(status, attempts) : undefined;
  for (const attempt of attempts) {
    if (attempt.outcome === 'transient' || attempt.outcome === 'permanent') {
      if (attempt !== deciding) make(base('attempt.failed', attempt.channel, attempt), {});
    } else if (attempt.outcome === 'gone') {
      if (attempt.subscriptionId !== undefined && change.removeSubscriptions?.includes(attempt.subscriptionId)) {
        make(base('subscription.removed', attempt.channel, attempt), { subscription: attempt.subscriptionId });
      } else if (attempt.subscriptionId === undefined && change.removeAddress) {
        make(base('subscription.removed', attempt.channel, attempt), { address: true });
      }
    }
  }
  // The ending event comes last: what led to the end is in the log before it.
  if (ending) {
    const channel = (change.set?.channel as ChannelName | undefined) ?? deciding?.channel;
    make(base(`notification.${status}`, channel, deciding), { ended: true });
  }
  return events;
}

/** The attempt an ending event carries: the last one delivered for `delivered`, else the last one. */
function decidingAttempt(status: NotificationStatus, attempts: readonly Attempt[]): Attempt | undefined {
  if (status === 'delivered') return attempts.findLast((attempt) => attempt.outcome === 'delivered');
  return attempts.at(-1);
}
