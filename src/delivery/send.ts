/**
 * The second step of a delivery: sending it. A delivery waits for a slot of its channel (so a
 * channel's concurrency bounds provider requests however many deliveries its jobs carry), then
 * goes to every target the channel has for the recipient at once (several browsers for Web Push),
 * and each target's answer becomes an attempt. Nothing is decided here: what the answers mean is
 * decide.ts's. Invariants, both checked once the slot is held, since a delivery may wait for one:
 * - nothing is sent at or after the notification's expiry;
 * - nothing is sent under a token the record no longer holds, so no attempt starts once a cancel
 *   has taken effect. A delivery that gets its slot in the turn of the event loop in which its
 *   load's reply was read (a free slot, or one freed by a send that ended within the turn) sends
 *   on the strength of that read: the process has read nothing newer. One whose slot came in a
 *   later turn (after a provider's answer, say) checks its token again just before it sends: the
 *   checks of the deliveries whose slots come in one turn share one command, sent in the turn's one
 *   round trip with the commits of the deliveries decided in it (Committer#check), and a delivery
 *   that lost its token sends nothing ('stale'). Between the check's reply and the
 *   adapter's call there is no await on anything but that reply.
 */
import { CHANNEL_NAMES, type Attempt, type AttemptOutcome, type ChannelName, type Notification } from '../types.js';
import { attemptCode } from '../codes.js';
import { DeliveryError, type ChannelAdapters, type OutgoingMessage, type TargetOf } from '../channels/types.js';
import type { DeliveryItem } from '../queue/queues.js';
import { targetsFor, type ChannelEnvironment } from './plan.js';
import type { DeliveryState } from './load.js';
import { currentTurn } from './loop-turn.js';
import { Slots } from './slots.js';
import { digestNotification } from './digest.js';
import { isoTime } from '../iso-time.js';

/** One target's answer, as an attempt; `error` is absent when the target accepted. */
export interface TargetResult {
  attempt: Attempt;
  error?: DeliveryError;
  /** The Web Push subscription id; absent for channels whose targets have none. */
  targetId?: string;
}

/**
 * What a send did: one result per target; 'expired' when the ttl ran out before it could start;
 * 'stale' when the delivery lost its token (a cancel) while it waited for a slot.
 */
export type SendResults = TargetResult[] | 'expired' | 'stale';

/** Whether a delivery still holds its record's token, read now (Committer#check). */
export type TokenCheck = (item: DeliveryItem) => Promise<boolean>;

type AnyAdapter = { send(m: OutgoingMessage, t: TargetOf[ChannelName], c: { signal?: AbortSignal }): Promise<{ statusCode?: number }> };

export class Sender {
  private readonly slots: Record<ChannelName, Slots>;
  private lastContext: { signal?: AbortSignal | undefined } | undefined;

  constructor(
    private readonly adapters: ChannelAdapters,
    private readonly env: ChannelEnvironment,
    /** Deliveries sent at once, per channel, across all the jobs of the process. */
    concurrency: Readonly<Record<ChannelName, number>>,
    private readonly holdsToken: TokenCheck,
  ) {
    this.slots = Object.fromEntries(CHANNEL_NAMES.map((channel) => [channel, new Slots(concurrency[channel])])) as Record<ChannelName, Slots>;
  }

  /**
   * Sends the delivery on `channel` once a slot is free: to every target the channel has for the
   * recipient, or, when the delivery owes Web Push retries (`pushRetry`), to those subscriptions alone.
   */
  async send(channel: ChannelName, state: DeliveryState, signal?: AbortSignal): Promise<SendResults> {
    const slots = this.slots[channel];
    if (!slots.take()) await slots.wait();
    try {
      if (Date.now() >= state.record.expiresAt) return 'expired';
      if (currentTurn() !== state.loadedInTurn && !(await this.holdsToken(state.item))) return 'stale';
      const adapter = this.adapters[channel] as AnyAdapter;
      const targets = this.targetsOf(channel, state);
      const message = messageOf(state);
      const context = this.contextOf(signal);
      // Most channels have one target: no array of promises for it.
      if (targets.length === 1) return [await toTarget(adapter, channel, message, targets[0]!, context)];
      return await Promise.all(targets.map((target) => toTarget(adapter, channel, message, target, context)));
    } finally {
      slots.give();
    }
  }

  /**
   * The adapters' send context for `signal`: the worker passes every delivery the same shutdown
   * signal, so the sends share one context object rather than each making its own.
   */
  private contextOf(signal: AbortSignal | undefined): { signal?: AbortSignal | undefined } {
    if (this.lastContext === undefined || this.lastContext.signal !== signal) this.lastContext = { signal };
    return this.lastContext;
  }

  /** Every target the channel has for the recipient, or only those owed a Web Push retry. */
  private targetsOf(channel: ChannelName, state: DeliveryState): TargetOf[ChannelName][] {
    const { record, recipient, pushRetry: only } = state;
    const all = targetsFor(channel, record.notification, recipient, this.env);
    return only ? all.filter((target) => 'id' in target && only.has(target.id)) : all;
  }
}

/** What is sent: a digest holder whose window closed sends the window's notifications as one. */
function messageOf({ record }: DeliveryState): OutgoingMessage {
  return outgoingMessage(record.digest ? digestNotification(record.notification, record.digest) : record.notification, record.expiresAt);
}

/** Sends to one target; its answer, or its failure, as an attempt. */
async function toTarget(
  adapter: AnyAdapter,
  channel: ChannelName,
  message: OutgoingMessage,
  target: TargetOf[ChannelName],
  context: { signal?: AbortSignal | undefined },
): Promise<TargetResult> {
  const started = performance.now();
  const targetId = 'id' in target ? target.id : undefined;
  try {
    const receipt = await adapter.send(message, target, context);
    const attempt = targetAttempt(channel, target, 'delivered', started);
    if (receipt.statusCode !== undefined) attempt.statusCode = receipt.statusCode;
    return { attempt, targetId };
  } catch (err) {
    const error =
      err instanceof DeliveryError ? err : new DeliveryError('transient', attemptCode.HERALD_CHANNEL_ERROR, 'unexpected channel failure', { cause: err });
    const attempt = targetAttempt(channel, target, error.kind === 'rate_limited' ? 'transient' : error.kind, started);
    attempt.code = error.code;
    attempt.error = error.message;
    if (error.statusCode !== undefined) attempt.statusCode = error.statusCode;
    return { attempt, error, targetId };
  }
}

/** The attempt of a send to `target` that started at `started` (performance.now()) and ended now. */
function targetAttempt(channel: ChannelName, target: TargetOf[ChannelName], outcome: AttemptOutcome, started: number): Attempt {
  const attempt: Attempt = { channel, at: isoTime(Date.now()), outcome, durationMs: Math.round(performance.now() - started) };
  if ('id' in target && target.id) attempt.subscriptionId = target.id;
  if ('tokenKind' in target && target.tokenKind) attempt.tokenKind = target.tokenKind;
  return attempt;
}

export function outgoingMessage(notification: Notification, expiresAt: number): OutgoingMessage {
  const message: OutgoingMessage = { id: notification.id, message: notification.message, priority: notification.priority, expiresAt };
  // Only the fields that are set, so renderers can test for presence; one test each rather than a
  // loop over a list of their names, which this once-per-send function would allocate every time.
  if (notification.title !== undefined) message.title = notification.title;
  if (notification.url !== undefined) message.url = notification.url;
  if (notification.category !== undefined) message.category = notification.category;
  if (notification.data !== undefined) message.data = notification.data;
  if (notification.collapseKey !== undefined) message.collapseKey = notification.collapseKey;
  return message;
}
