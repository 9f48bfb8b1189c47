/**
 * What a delivery step means for its notification: the one place that maps what happened (nothing
 * due, a send and its answers, a shutdown, a job BullMQ gave up on) to a consequence. Pure: it
 * reads one DeliveryStep and returns a finished Decision (the record change and the job that
 * carries the notification on); tokens, the clock and backoff jitter come in with the step, so
 * every rule is table-tested without Redis (test/unit/decide.test.ts). Where the chain goes is
 * plan.ts's. The consequences:
 *   delivered                 → `delivered`, done; browsers that failed transiently are retried
 *                               later (`pushRetry`), never after the ttl
 *   transient / 429           → the same channel again after a backoff (or the Retry-After), up to
 *                               maxAttempts in the first pass down the chain; then the next channel
 *   permanent / gone          → next channel at once (gone also removes the Web Push subscription,
 *                               or the webhook URL, from the recipient)
 *   chain's end               → another round over the channels that failed transiently, after a
 *                               growing backoff, until the ttl (`expired`, never sent late)
 *   none failed transiently   → dead letter (`failed`)
 *   recipient not registered  → `skipped` (unless the notification names explicit targets)
 *   preferences               → a muted category ends `skipped`; a muted channel is passed over
 *                               like one without an address (`skipped` when the whole chain is);
 *                               inside quiet hours, below the bypass priority, the delivery is held
 *                               (`scheduled`) until the window ends, or until its expiry if sooner
 *   presence                  → `skipIfOnline` / `skipIfPresentIn` on a live presence: `skipped`
 *   shutdown mid-send         → handed back untried, to run again a little later
 *   inbox + escalation        → the inbox stored it: the next channel is queued for
 *                               escalateAfterSeconds later (`delivering`, channel `inbox`,
 *                               the inbox's attempt recorded); no usable channel after it →
 *                               `delivered` at once
 *   inbox item read           → a pending record whose item was read (`inboxReadAt`) ends
 *                               `delivered` by the inbox without a send, whatever step loads it
 * Invariant: a decision that queues a next job writes a new token into the record with it (the
 * commit puts both in one MULTI), so exactly one job holds the notification at any time.
 */
import { isGrouped, isTerminal, type Attempt, type ChannelName } from '../types.js';
import { attemptCode, type AttemptCode } from '../codes.js';
import type { DeliveryError } from '../channels/types.js';
import type { RecordChange } from '../store/notifications.js';
import { RECIPIENT_FIELDS } from '../store/recipients.js';
import { StatsDeltaBuilder } from '../store/stats-counters.js';
import { deliveryItem, type DeliveryItem, type QueuedDelivery } from '../queue/queues.js';
import {
  afterFailure,
  categoryMuted,
  channelMuted,
  nextStep,
  quietHoursHold,
  recipientProblem,
  resolveChain,
  type ChannelEnvironment,
  type NextStep,
  type RecipientView,
} from './plan.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { isoTime } from '../iso-time.js';
import type { DeliveryState } from './load.js';
import type { SendResults, TargetResult } from './send.js';

export interface DeliveryPolicy {
  maxAttempts: number;
  backoff: BackoffPolicy;
  statusRetentionSeconds: number;
  deadLetterRetentionSeconds: number;
  /** Notifications at or above this priority go through the recipient's quiet hours (HERALD_QUIET_BYPASS_PRIORITY). */
  quietBypassPriority: number;
}

/** What a decision needs beyond the step itself; one per processor. */
export interface DecisionRules {
  policy: DeliveryPolicy;
  env: ChannelEnvironment;
  /** Channels this process has an adapter for: a delivery due on another is handed on. */
  sendable: ReadonlySet<ChannelName>;
  /** A new job token (store/tokens.ts in the processor). */
  newToken: () => string;
  /** The jitter of backoff delays, in [0, 1) (Math.random in the processor). */
  random: () => number;
}

/** What one delivery step did. */
export type JobOutcome = 'stale' | 'expired' | 'skipped' | 'delivered' | 'retry' | 'handed-off' | 'handed-back' | 'held' | 'escalating' | 'dead-lettered';

/** What became of one delivery of a job; the worker logs from it. */
export interface DeliveryReport {
  id: string;
  outcome: JobOutcome;
  /** The try on the channel this step made or would have made (1 for the first). */
  attempt: number;
  /** For a retry: when, and the code of the failure that caused it. */
  retry?: { delayMs: number; code: string };
  /** Code of the last attempt (dead letters). */
  code?: string;
}

/** A decided delivery, ready to commit. */
export interface Decision extends DeliveryReport {
  item: DeliveryItem;
  /** Absent when nothing is to be written (a stale delivery). */
  change?: RecordChange;
  /** The job that carries the notification on, under the new token `change` sets. */
  next?: QueuedDelivery;
}

/** A channel plan.ts chose to try next. */
export type Move = Extract<NextStep, { kind: 'deliver' }>;

/** What happened to a delivery, as far as its decision goes. */
export type Happened =
  /** The record ended already (a duplicate job): nothing to do. */
  | { kind: 'stale' }
  /** The user read the notification's inbox item while its escalation waited: nothing more is sent. */
  | { kind: 'read' }
  /** The ttl ran out before the send could start: nothing is ever sent late. */
  | { kind: 'expired' }
  /** The recipient is not to be reached: not registered, deleted, present, or muted what this is. */
  | { kind: 'skipped'; code: AttemptCode; error: string }
  /** The recipient's quiet hours hold the delivery until `untilMs`. */
  | { kind: 'held'; untilMs: number }
  /** No channel of the chain is left to try (`skipped` says why those passed over were). */
  | { kind: 'exhausted'; chain: ChannelName[]; skipped: Attempt[] }
  /** The chain goes on on another channel's queue, or on this one in a new round after its backoff. */
  | { kind: 'elsewhere'; chain: ChannelName[]; move: Move }
  /** A send to the channel of `move`; `aborted` when shutdown cut it short. */
  | { kind: 'sent'; chain: ChannelName[]; move: Move; results: SendResults; aborted: boolean }
  /** A send to the browsers a delivered Web Push notification still owes a retry. */
  | { kind: 'resent'; results: SendResults; aborted: boolean }
  /** BullMQ failed the delivery's job by itself (its workers kept dying while holding it). */
  | { kind: 'abandoned'; reason: string };

/** Where a loaded delivery goes before anything is sent: a send, or a reason for none. */
export type Route =
  | Extract<Happened, { kind: 'stale' | 'read' | 'expired' | 'skipped' | 'held' | 'exhausted' | 'elsewhere' }>
  | { kind: 'send'; chain: ChannelName[]; move: Move }
  | { kind: 'resend' };

/** Everything a decision reads. */
export interface DeliveryStep {
  state: DeliveryState;
  /** The channel whose queue ran the delivery. */
  channel: ChannelName;
  happened: Happened;
  /** When it happened (ms): the time every write of the decision carries. */
  now: number;
  rules: DecisionRules;
}

/** A shutdown that cut a delivery short hands it back to run again this much later. */
export const HAND_BACK_DELAY_MS = 1000;

/**
 * A retry that would come at or after a notification's expiry is queued for just after it
 * instead, so the notification ends `expired` at its ttl rather than a backoff later.
 */
export const EXPIRY_WAKE_MS = 5;

const STALE: Route = { kind: 'stale' };
const READ: Route = { kind: 'read' };
const EXPIRED: Route = { kind: 'expired' };
const RESEND: Route = { kind: 'resend' };
const ONLINE: Route = { kind: 'skipped', code: attemptCode.HERALD_RECIPIENT_ONLINE, error: 'the recipient is online' };
const PRESENT: Route = { kind: 'skipped', code: attemptCode.HERALD_RECIPIENT_PRESENT, error: 'the recipient is present where the notification is about' };
const MUTED: Route = { kind: 'skipped', code: attemptCode.HERALD_MUTED, error: "the recipient muted the notification's category" };

/** Where a delivery loaded at `now` from `channel`'s queue goes: sent there, or decided without a send. */
export function route(state: DeliveryState, channel: ChannelName, now: number, rules: DecisionRules): Route {
  const { record, recipient } = state;
  if (record.status === 'delivered' && state.pushRetry && channel === 'webpush' && rules.sendable.has('webpush')) return RESEND;
  if (isTerminal(record.status)) return STALE;
  // Before the expiry: the inbox delivered it, and the user has seen it.
  if (record.inboxReadAt !== undefined) return READ;
  if (now >= record.expiresAt) return EXPIRED;
  const notification = record.notification;
  const problem = recipientProblem(notification, recipient, record.recipientKnown);
  if (problem) return { kind: 'skipped', code: problem.code, error: problem.error };
  if (categoryMuted(notification, recipient)) return MUTED;
  if (notification.skipIfOnline && recipient.online) return ONLINE;
  if (notification.skipIfPresentIn !== undefined && recipient.presentIn?.has(notification.skipIfPresentIn)) return PRESENT;
  const chain = record.chain ?? resolveChain(notification, recipient, rules.env);
  // The record is its own chain position (step, round, retrySteps).
  const move = nextStep(chain, record, notification, recipient, rules.env, now);
  if (move.kind === 'exhausted') {
    // The recipient's choice, not a failure to look into: no dead letter.
    if (chain.every((c) => channelMuted(c, recipient))) return everyChannelMuted(chain);
    return { kind: 'exhausted', chain, skipped: move.skipped };
  }
  // Checked once the chain is known to go somewhere: a chain with nowhere to go fails now, not at the window's end.
  const quietUntil = quietHoursHold(notification, recipient, rules.policy.quietBypassPriority, now);
  if (quietUntil !== null) return { kind: 'held', untilMs: quietUntil };
  // The chain goes on elsewhere (recipient preferences, missing addresses) or later: hand it on.
  if (move.newRound || move.channel !== channel || !rules.sendable.has(channel)) return { kind: 'elsewhere', chain, move };
  return { kind: 'send', chain, move };
}

function everyChannelMuted(chain: readonly ChannelName[]): Route {
  return { kind: 'skipped', code: attemptCode.HERALD_CHANNEL_MUTED, error: `the recipient muted every channel of the chain (${chain.join(', ')})` };
}

/** The finished decision for one delivery step. */
export function decide(step: DeliveryStep): Decision {
  const happened = step.happened;
  switch (happened.kind) {
    case 'stale':
      return staleDecision(step.state.item);
    case 'read':
      return readInInbox(step);
    case 'expired':
      return ended(step, 'expired', []);
    case 'skipped':
      return ended(step, 'skipped', [
        { channel: step.channel, at: iso(step.now), outcome: 'skipped', code: happened.code, error: happened.error, durationMs: 0 },
      ]);
    case 'held':
      return held(step, happened.untilMs);
    case 'exhausted':
      return deadLettered(step, happened.chain, happened.skipped, null);
    case 'elsewhere':
      return handedOn(step, happened.chain, happened.move, happened.move.skipped, null);
    case 'sent':
      return afterSend(step, happened);
    case 'resent':
      return afterResend(step, happened);
    case 'abandoned':
      return abandoned(step, happened.reason);
  }
}

/** A delivery that does nothing: its token is not the record's, or its record ended already. */
export function staleDecision(item: DeliveryItem): Decision {
  return { item, id: item.id, outcome: 'stale', attempt: 0 };
}

/** One send's results, sorted for the record. */
interface Try {
  /** Tries made on the channel before this one. */
  tries: number;
  attempts: Attempt[];
  /** Some target accepted: the notification is delivered. */
  delivered: boolean;
  /** Web Push subscriptions that accepted. */
  accepted: string[];
  /** Web Push subscriptions the push service said are gone. */
  gone: string[];
  /** The recipient's one address on the channel was said to be gone (a webhook URL answering 410). */
  addressGone: boolean;
  /** Web Push subscriptions that failed transiently: a retry sends to these alone. */
  owed: string[];
  /** The first failure worth another try (transient or rate limited), else null. */
  retryable: DeliveryError | null;
  /** The first failure of any kind, else null. */
  failure: DeliveryError | null;
  /** The longest Retry-After among the retryable failures, 0 when none gave one. */
  retryAfterMs: number;
}

/** Sorts one send's results in a single pass: this runs once per delivery. */
function summarize(results: TargetResult[], tries: number): Try {
  // One attempt per result: made at its final length, since an array grown by push from empty
  // takes room for 17 and this runs once per delivery.
  const attempts: Attempt[] = new Array(results.length);
  const accepted: string[] = [];
  const gone: string[] = [];
  const owed: string[] = [];
  let addressGone = false;
  let delivered = false;
  let retryable: DeliveryError | null = null;
  let failure: DeliveryError | null = null;
  let retryAfterMs = 0;
  for (let i = 0; i < results.length; i++) {
    const { attempt, error, targetId } = results[i]!;
    attempts[i] = attempt;
    if (!error) {
      delivered = true;
      if (targetId) accepted.push(targetId);
      continue;
    }
    failure ??= error;
    if (error.kind === 'gone') {
      if (targetId) gone.push(targetId);
      else addressGone = true;
    } else if (error.kind === 'transient' || error.kind === 'rate_limited') {
      retryable ??= error;
      if (targetId) owed.push(targetId);
      retryAfterMs = Math.max(retryAfterMs, error.retryAfterMs ?? 0);
    }
  }
  return { tries, attempts, delivered, accepted, gone, addressGone, owed, retryable, failure, retryAfterMs };
}

/** What a send to the channel at `sent.move` means. */
function afterSend(step: DeliveryStep, sent: Extract<Happened, { kind: 'sent' }>): Decision {
  if (sent.results === 'expired') return ended(step, 'expired', []);
  // Overtaken while it waited for a slot (a cancel): nothing was sent, and nothing is written.
  if (sent.results === 'stale') return staleDecision(step.state.item);
  const { record, recipient } = step.state;
  const { chain, move } = sent;
  // The record's tries count those of the channel at its step; a channel reached anew has none.
  const tried = summarize(sent.results, move.step === record.step ? record.tries : 0);
  // Shutdown cut the send short before any target accepted: another run redoes it.
  if (sent.aborted && !tried.delivered) return handedBack(step);
  const attempts = move.skipped.length > 0 ? [...move.skipped, ...tried.attempts] : tried.attempts;
  if (tried.delivered) {
    return move.channel === 'inbox' && record.notification.escalateAfterSeconds !== undefined
      ? escalating(step, chain, move, attempts, tried)
      : delivered(step, chain, move, attempts, tried);
  }

  const { policy, env } = step.rules;
  const remaining = tried.gone.length > 0 ? withoutSubscriptions(recipient, tried.gone) : recipient;
  const position = { step: move.step, round: move.round, retrySteps: move.retrySteps, tries: tried.tries };
  const after = afterFailure(chain, position, tried.retryable !== null, policy.maxAttempts, record.notification, remaining, env, step.now);
  if (after.kind === 'retry') return retried(step, chain, move, attempts, tried);
  const all = after.skipped.length > 0 ? [...attempts, ...after.skipped] : attempts;
  return after.kind === 'exhausted' ? deadLettered(step, chain, all, tried) : handedOn(step, chain, after, all, tried);
}

/**
 * What a send to the browsers a delivered Web Push notification owes means: their attempts are
 * recorded (the status stays `delivered`), and those that failed transiently again get another
 * retry, or nothing more is owed.
 */
function afterResend(step: DeliveryStep, resent: Extract<Happened, { kind: 'resent' }>): Decision {
  const { item, record } = step.state;
  if (resent.results === 'stale') return staleDecision(item);
  const results = resent.results === 'expired' ? [] : resent.results;
  const tried = summarize(results, record.tries);
  if (resent.aborted && results.length > 0 && !tried.delivered) return handedBack(step);
  const next = owedBrowsersRetry(step, tried);
  const set: RecordSet = { updatedAt: String(step.now), pushRetry: '' };
  if (next) setNextTry(set, next, tried);
  const change: RecordChange = {
    set,
    attempts: tried.attempts,
    accepted: nonEmpty(tried.accepted),
    removeSubscriptions: nonEmpty(tried.gone),
    stats: attemptStats(tried.attempts, record).build(),
  };
  return { item, id: item.id, outcome: 'delivered', attempt: tried.tries + 1, change, next: next?.queued, retry: next?.report };
}

/** Ends the notification `delivered`; browsers that failed transiently are still retried by later jobs. */
function delivered(step: DeliveryStep, chain: ChannelName[], move: Move, attempts: Attempt[], tried: Try): Decision {
  const { item, record } = step.state;
  const next = owedBrowsersRetry(step, tried);
  const set: RecordSet = { status: 'delivered', updatedAt: String(step.now), channel: move.channel, step: String(move.step), chain: JSON.stringify(chain) };
  if (next) setNextTry(set, next, tried);
  const change: RecordChange = {
    set,
    attempts,
    accepted: nonEmpty(tried.accepted),
    removeSubscriptions: nonEmpty(tried.gone),
    expireSeconds: step.rules.policy.statusRetentionSeconds,
    stats: attemptStats(attempts, record).ended('delivered').build(),
    leaveGroup: groupKeyOf(record),
  };
  return { item, id: item.id, outcome: 'delivered', attempt: tried.tries + 1, change, next: next?.queued, retry: next?.report };
}

/**
 * The inbox stored the notification and it escalates: the next usable channel of the chain is
 * queued for `escalateAfterSeconds` later (or just after the expiry, if that comes first), and the
 * record waits `delivering` with the inbox as its channel. Reading the item meanwhile ends it
 * (`inboxReadAt`, and the read's own end of it, see store/cancellations.ts). With no usable
 * channel after the inbox, there is nothing to escalate to: `delivered` now.
 */
function escalating(step: DeliveryStep, chain: ChannelName[], move: Move, attempts: Attempt[], tried: Try): Decision {
  const { record, recipient } = step.state;
  const from = { step: move.step + 1, round: move.round, retrySteps: move.retrySteps };
  const next = nextStep(chain, from, record.notification, recipient, step.rules.env, step.now);
  if (next.kind === 'exhausted' || next.newRound) return delivered(step, chain, move, attempts, tried);
  const all = next.skipped.length > 0 ? [...attempts, ...next.skipped] : attempts;
  const waitMs = untilExpiry(record.notification.escalateAfterSeconds! * 1000, step);
  const decision = handedOn(step, chain, next, all, tried, waitMs);
  decision.change!.set!.channel = 'inbox';
  decision.outcome = 'escalating';
  return decision;
}

/** Ends the notification `delivered` by the inbox, without a send: the user read its item. */
function readInInbox(step: DeliveryStep): Decision {
  const { item, record } = step.state;
  const change: RecordChange = {
    set: { status: 'delivered', channel: 'inbox', updatedAt: String(step.now) },
    attempts: [],
    expireSeconds: step.rules.policy.statusRetentionSeconds,
    stats: new StatsDeltaBuilder().ended('delivered').build(),
    leaveGroup: groupKeyOf(record),
  };
  return { item, id: item.id, outcome: 'delivered', attempt: record.tries, change };
}

/** The same channel again after the retry delay, or just after the expiry if that comes first. */
function retried(step: DeliveryStep, chain: ChannelName[], move: Move, attempts: Attempt[], tried: Try): Decision {
  const { item, record } = step.state;
  const next = nextTry(step, move.channel, untilExpiry(retryDelayMs(step, tried), step), tried);
  const set: RecordSet = {
    status: 'delivering',
    updatedAt: String(step.now),
    channel: move.channel,
    step: String(move.step),
    chain: JSON.stringify(chain),
  };
  const change: RecordChange = {
    set: setNextTry(set, next, tried),
    attempts,
    accepted: nonEmpty(tried.accepted),
    removeSubscriptions: nonEmpty(tried.gone),
    stats: attemptStats(attempts, record).build(),
  };
  return { item, id: item.id, outcome: 'retry', attempt: tried.tries + 1, change, next: next.queued, retry: next.report };
}

/** Ends the notification in a terminal status other than `delivered` and `failed`, without a send. */
function ended(step: DeliveryStep, status: 'expired' | 'skipped', attempts: Attempt[]): Decision {
  const { item, record } = step.state;
  const change: RecordChange = {
    set: { status, updatedAt: String(step.now) },
    attempts,
    expireSeconds: step.rules.policy.statusRetentionSeconds,
    stats: attemptStats(attempts, record).ended(status).build(),
    leaveGroup: groupKeyOf(record),
  };
  return { item, id: item.id, outcome: status, attempt: record.tries, change };
}

/** Dead-letters the notification (`failed`): no channel is left to try. */
function deadLettered(step: DeliveryStep, chain: ChannelName[], attempts: Attempt[], tried: Try | null): Decision {
  const { item, record } = step.state;
  const { deadLetterRetentionSeconds } = step.rules.policy;
  const now = String(step.now);
  const change: RecordChange = {
    set: { status: 'failed', failedAt: now, updatedAt: now, chain: JSON.stringify(chain), step: String(chain.length) },
    attempts,
    removeSubscriptions: tried ? nonEmpty(tried.gone) : undefined,
    removeAddress: goneAddress(step, tried),
    expireSeconds: deadLetterRetentionSeconds,
    deadLetter: 'add',
    deadLetterScore: step.now,
    deadLetterRetentionSeconds,
    stats: attemptStats(attempts, record).ended('failed').build(),
    leaveGroup: groupKeyOf(record),
  };
  return { item, id: item.id, outcome: 'dead-lettered', attempt: tried ? tried.tries + 1 : record.tries, change, code: attempts.at(-1)?.code };
}

/**
 * Moves the notification to the channel at `to.step` (another queue, or the same one in a new
 * round), with a new token and its tries reset: at once (or after `waitMs`, an escalation's wait),
 * or after the round's backoff when `to` opens a new round.
 */
function handedOn(step: DeliveryStep, chain: ChannelName[], to: Move, attempts: Attempt[], tried: Try | null, waitMs = 0): Decision {
  const { item, record } = step.state;
  const token = step.rules.newToken();
  const wasTried = attempts.some((a) => a.outcome !== 'skipped') || record.status === 'delivering';
  const set: RecordSet = {
    status: wasTried ? 'delivering' : 'queued',
    token,
    step: String(to.step),
    tries: '0',
    chain: JSON.stringify(chain),
    channel: to.channel,
    updatedAt: String(step.now),
  };
  // Written only when they change: most notifications never leave the first pass.
  if (to.round !== record.round) set.round = String(to.round);
  if (to.retrySteps.join() !== record.retrySteps.join()) set.retrySteps = to.retrySteps.length > 0 ? JSON.stringify(to.retrySteps) : '';
  const change: RecordChange = {
    set,
    attempts,
    removeSubscriptions: tried ? nonEmpty(tried.gone) : undefined,
    removeAddress: goneAddress(step, tried),
    stats: attemptStats(attempts, record).build(),
  };
  const delayMs = to.newRound ? untilExpiry(roundDelayMs(step, to.round, tried?.retryAfterMs ?? 0), step) : waitMs;
  const { id, to: userId } = record.notification;
  return {
    item,
    id,
    outcome: to.newRound ? 'retry' : 'handed-off',
    attempt: tried ? tried.tries + 1 : record.tries,
    change,
    next: { channel: to.channel, item: deliveryItem(id, token, userId), delayMs },
    retry: to.newRound ? { delayMs, code: (tried?.retryable ?? tried?.failure)?.code ?? attempts.at(-1)?.code ?? attemptCode.HERALD_RETRY_ROUND } : undefined,
  };
}

/** Queues a delivery that shutdown cut short to run again, untried, a little later. */
function handedBack(step: DeliveryStep): Decision {
  return requeued(step, 'handed-back', HAND_BACK_DELAY_MS);
}

/**
 * Holds a delivery in the recipient's quiet hours: it runs again, on the same queue, when the
 * window ends (its preferences are read anew then), or just after its expiry if that comes first
 * (it then ends `expired`, never sent late). A notification not yet tried shows `scheduled`
 * meanwhile; a retry stays `delivering` (it was tried).
 */
function held(step: DeliveryStep, untilMs: number): Decision {
  const status = step.state.record.status === 'delivering' ? undefined : 'scheduled';
  return requeued(step, 'held', untilExpiry(untilMs - step.now, step), status);
}

/**
 * Queues the delivery to run again on the same channel after `delayMs`, untried: nothing is
 * recorded but a new token (and, for Web Push, the subscriptions still owed under it).
 */
function requeued(step: DeliveryStep, outcome: 'handed-back' | 'held', delayMs: number, status?: 'scheduled'): Decision {
  const { item, record, pushRetry } = step.state;
  const token = step.rules.newToken();
  const set: RecordSet = { token, updatedAt: String(step.now) };
  if (status) set.status = status;
  if (pushRetry) set.pushRetry = JSON.stringify({ token, ids: [...pushRetry] });
  const { id, to } = record.notification;
  return {
    item,
    id,
    outcome,
    attempt: record.tries + 1,
    change: { set },
    next: { channel: step.channel, item: deliveryItem(id, token, to), delayMs },
  };
}

/**
 * A delivery of a job BullMQ gave up on by itself: its notification is dead-lettered with an
 * attempt that says so, rather than left in BullMQ's failed set where no operator would look.
 */
function abandoned(step: DeliveryStep, reason: string): Decision {
  const { item, record, recipient } = step.state;
  if (isTerminal(record.status)) return staleDecision(item);
  const attempt: Attempt = {
    channel: step.channel,
    at: iso(step.now),
    outcome: 'transient',
    code: attemptCode.HERALD_JOB_ABANDONED,
    error: reason.slice(0, 200),
    durationMs: 0,
  };
  const chain = record.chain ?? resolveChain(record.notification, recipient, step.rules.env);
  return deadLettered(step, chain, [attempt], null);
}

type RecordSet = NonNullable<RecordChange['set']>;

/** The next try of a channel, queued with the decision under a new token. */
interface NextTry {
  token: string;
  queued: QueuedDelivery;
  report: { delayMs: number; code: string };
}

function nextTry(step: DeliveryStep, channel: ChannelName, delayMs: number, tried: Try): NextTry {
  const token = step.rules.newToken();
  const { id, to } = step.state.record.notification;
  return { token, queued: { channel, item: deliveryItem(id, token, to), delayMs }, report: { delayMs, code: tried.retryable!.code } };
}

/** The record fields a queued next try needs: its token, the try it makes, the browsers it owes. */
function setNextTry(set: RecordSet, next: NextTry, tried: Try): RecordSet {
  set.token = next.token;
  set.tries = String(tried.tries + 1);
  set.pushRetry = tried.owed.length > 0 ? JSON.stringify({ token: next.token, ids: tried.owed }) : '';
  return set;
}

/**
 * Of a notification that is delivered, the browsers that failed transiently are tried again like a
 * channel in an outage: with a growing backoff, until the ttl. No retry is queued that could only
 * come after the expiry.
 */
function owedBrowsersRetry(step: DeliveryStep, tried: Try): NextTry | null {
  if (tried.owed.length === 0) return null;
  const delayMs = retryDelayMs(step, tried);
  return step.now + delayMs < step.state.record.expiresAt ? nextTry(step, 'webpush', delayMs, tried) : null;
}

/** The wait before the next try of a channel: the provider's Retry-After, else the backoff. */
function retryDelayMs(step: DeliveryStep, tried: Try): number {
  return tried.retryAfterMs > 0 ? tried.retryAfterMs : backoffDelayMs(tried.tries + 1, step.rules.policy.backoff, step.rules.random);
}

/**
 * The wait before round `round` over the channels that failed transiently: the backoff goes on
 * growing from where the first pass's tries left it, and is never shorter than a Retry-After.
 */
function roundDelayMs(step: DeliveryStep, round: number, retryAfterMs: number): number {
  const { maxAttempts, backoff } = step.rules.policy;
  return Math.max(retryAfterMs, backoffDelayMs(maxAttempts - 1 + round, backoff, step.rules.random));
}

/** `delayMs`, or until just after the expiry if that comes first (see EXPIRY_WAKE_MS). */
function untilExpiry(delayMs: number, step: DeliveryStep): number {
  return Math.min(delayMs, Math.max(0, step.state.record.expiresAt - step.now) + EXPIRY_WAKE_MS);
}

/** The statistics of a decision's attempts: one delta, built once per decision. */
function attemptStats(attempts: Attempt[], record: DeliveryState['record']): StatsDeltaBuilder {
  const stats = new StatsDeltaBuilder();
  const enqueuedAt = Math.max(record.createdAt, record.notification.sendAt ? Date.parse(record.notification.sendAt) : 0);
  for (const attempt of attempts) {
    const latency = attempt.outcome === 'delivered' ? Math.max(0, Date.parse(attempt.at) - enqueuedAt) : undefined;
    stats.attempt(attempt.channel, attempt.outcome, latency, attempt.code);
  }
  return stats;
}

/**
 * The address to remove from the recipient when the provider said it is gone: the webhook URL
 * this step sent to (a failed send's step moves on, so only hand-offs and dead letters have one).
 */
function goneAddress(step: DeliveryStep, tried: Try | null): RecordChange['removeAddress'] {
  if (!tried?.addressGone || step.channel !== 'webhook') return undefined;
  const url = step.state.recipient.addresses?.webhookUrl;
  return url ? { field: RECIPIENT_FIELDS.webhookUrl, value: url } : undefined;
}

/**
 * The groupKey whose index an ending notification leaves (see store/keys.ts group), for a grouped
 * one; undefined, and so no write, for the others.
 */
function groupKeyOf(record: DeliveryState['record']): string | undefined {
  return isGrouped(record.notification) ? record.notification.groupKey : undefined;
}

/** The recipient without the subscriptions the push service said are gone. */
function withoutSubscriptions(recipient: RecipientView, gone: string[]): RecipientView {
  return { ...recipient, subscriptions: new Map([...recipient.subscriptions].filter(([id]) => !gone.includes(id))) };
}

/** A list for the record change, or undefined (left out of it) when empty. */
function nonEmpty(list: string[]): string[] | undefined {
  return list.length > 0 ? list : undefined;
}

function iso(ms: number): string {
  return isoTime(ms);
}
