/**
 * The delivery processor: runs one job of one channel queue (up to MAX_ITEMS_PER_JOB deliveries,
 * sent side by side) and turns what happened to each delivery into exactly one record transition,
 * plus the job that carries the notification on. It is the only place that maps a failure kind to
 * a consequence (where the chain goes is decided in plan.ts):
 *   delivered                 → `delivered`, done
 *   transient / 429           → the same channel again after a backoff (a new delayed job), up to
 *                               maxAttempts in the first pass down the chain; then the next channel
 *   permanent / gone          → next channel at once (gone also removes the Web Push subscription)
 *   chain's end               → another round over the channels that failed transiently, after a
 *                               growing backoff, until the ttl (`expired`, never sent late)
 *   none failed transiently   → dead letter (`failed`)
 *   recipient not registered  → `skipped` (unless the notification names explicit targets)
 * Web Push fans out to every browser: one acceptance makes the notification `delivered`, and the
 * browsers that failed transiently are retried by later jobs (`pushRetry`, below), until the ttl,
 * without resending to those that accepted or refused for good.
 * Redis round trips are shared: one script reads every record and recipient of a job, and one MULTI
 * commits the transitions (and the jobs that follow from them) of all the deliveries decided in
 * the same turn of the event loop, whatever job they came from.
 * Invariant: every transition is guarded by the token of the delivery that computed it, and a job
 * that carries a notification on gets a new token in the same MULTI, so a crash leaves either the
 * old job (which redoes the step) or the new one, never both live and never neither. A delivery
 * whose token is not the record's is stale and sends nothing.
 */
import { isTerminal, type Attempt, type AttemptOutcome, type ChannelName, type Notification } from '../types.js';
import { DeliveryError, type ChannelAdapters, type OutgoingMessage, type TargetOf } from '../channels/types.js';
import { parseRecord, type StoredRecord } from '../store/record.js';
import { parseAddresses, parseSubscriptions } from '../store/recipients.js';
import { transitionResult, type NotificationStore, type RecordChange, type TransitionResult } from '../store/notifications.js';
import type { LoadReply } from '../store/scripts.js';
import { StatsDeltaBuilder, type EndStatus } from '../store/stats-counters.js';
import { newToken } from '../store/tokens.js';
import { afterFailure, nextStep, recipientProblem, resolveChain, targetsFor, type ChainPosition, type ChannelEnvironment, type RecipientView } from './plan.js';
import { deliveryItem, itemsOf, type ChannelQueues, type DeliveryItem, type DeliveryJobData, type QueuedDelivery } from '../queue/queues.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { Slots } from './slots.js';
import { TurnBatcher } from '../turn-batcher.js';
import { attemptCode, type AttemptCode } from '../codes.js';
import { execResult } from '../redis/failures.js';

export interface DeliveryPolicy {
  maxAttempts: number;
  backoff: BackoffPolicy;
  statusRetentionSeconds: number;
  deadLetterRetentionSeconds: number;
}

export interface ProcessorDeps {
  store: NotificationStore;
  queues: ChannelQueues;
  adapters: ChannelAdapters;
  env: ChannelEnvironment;
  policy: DeliveryPolicy;
  /** Deliveries sent at once, per channel, across all the jobs this processor runs. */
  concurrency: Readonly<Record<ChannelName, number>>;
}

/** What one delivery step did. */
export type JobOutcome = 'stale' | 'expired' | 'skipped' | 'delivered' | 'retry' | 'handed-off' | 'handed-back' | 'dead-lettered';

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

/** Deliveries committed in one transaction at most. */
const MAX_COMMIT_BATCH = 500;

/** A shutdown that cut a delivery short hands it back to run again this much later. */
const HAND_BACK_DELAY_MS = 1000;

/**
 * A retry that would come at or after a notification's expiry is queued for just after it
 * instead, so the notification ends `expired` at its ttl rather than a backoff later.
 */
const EXPIRY_WAKE_MS = 5;

/** Where the chain goes next, as plan.ts decided it. */
type ChainMove = ChainPosition & { channel: ChannelName; newRound: boolean; skipped: Attempt[] };

interface DeliveryState {
  record: StoredRecord;
  recipient: RecipientView;
  /**
   * Web Push subscriptions this delivery still owes a retry: those whose last failure was
   * transient. Stored in the record's `pushRetry` field as `{token, ids}` and honoured only under
   * the token that wrote it, so a replay or a hand-off (new token) never inherits it.
   */
  pushRetry: Set<string> | null;
}

/** What the processor decided for one delivery, before it is committed. */
interface Decision extends DeliveryReport {
  item: DeliveryItem;
  /** Absent when nothing is to be written (a stale delivery). */
  change?: RecordChange;
  /** The job that carries the notification on, under the new token `change` sets. */
  next?: QueuedDelivery;
}

/** What one send to a channel's targets amounts to, before it is recorded. */
interface SendSummary {
  attempts: Attempt[];
  accepted: string[];
  gone: string[];
  /** Targets that failed transiently (or were rate limited): worth another try. */
  retryable: TargetResult[];
  /** Web Push subscriptions a retry should send to (the others accepted or refused for good). */
  owed: string[];
  /** The longest Retry-After among the retryable failures, 0 when none gave one. */
  retryAfterMs: number;
}

interface TargetResult {
  attempt: Attempt;
  error?: DeliveryError;
  targetId?: string;
}

export class DeliveryProcessor {
  private readonly slots: Record<ChannelName, Slots>;
  /**
   * Decided deliveries wait here for the end of the event-loop turn and are committed together:
   * one round trip for many deliveries when they are many, yet a delivery is recorded as soon as
   * it is sent rather than when its whole job is, so a worker killed mid-job leaves only the
   * deliveries of that last turn to be sent again.
   */
  private readonly commits = new TurnBatcher<Decision, DeliveryReport>((decisions) => this.commit(decisions), MAX_COMMIT_BATCH);

  constructor(private readonly deps: ProcessorDeps) {
    this.slots = {
      gotify: new Slots(deps.concurrency.gotify),
      webpush: new Slots(deps.concurrency.webpush),
      email: new Slots(deps.concurrency.email),
    };
  }

  /**
   * Runs the deliveries of one job; each is committed as soon as it is decided, together with the
   * other deliveries (of any job) decided in the same turn of the event loop. One report per delivery.
   */
  async process(channel: ChannelName, data: DeliveryJobData, signal?: AbortSignal): Promise<DeliveryReport[]> {
    const items = itemsOf(data);
    const states = await this.load(items);
    return Promise.all(items.map(async (item, i) => this.commits.submit(await this.decide(channel, item, states[i]!, signal))));
  }

  /**
   * The deliveries of a job BullMQ gave up on by itself (a worker kept dying while holding it):
   * their notifications are dead-lettered with an attempt that says so, rather than left in
   * BullMQ's failed set where no operator would look.
   */
  async abandon(channel: ChannelName, data: DeliveryJobData, reason: string): Promise<DeliveryReport[]> {
    const items = itemsOf(data);
    const states = await this.load(items);
    const now = Date.now();
    const decisions = items.map((item, i): Decision => {
      const state = states[i];
      if (!state || isTerminal(state.record.status)) return stale(item);
      const attempt: Attempt = {
        channel,
        at: iso(now),
        outcome: 'transient',
        code: attemptCode.HERALD_JOB_ABANDONED,
        error: reason.slice(0, 200),
        durationMs: 0,
      };
      const chain = state.record.chain ?? resolveChain(state.record.notification, state.recipient, this.deps.env);
      return this.deadLetter(item, state.record, chain, [attempt], [], now);
    });
    return Promise.all(decisions.map((decision) => this.commits.submit(decision)));
  }

  /** Reads every record and recipient of a job in one command (see scripts.ts). */
  private async load(items: DeliveryItem[]): Promise<(DeliveryState | null)[]> {
    const replies = await this.deps.store.load(items);
    return replies.map((reply, i) => (reply ? deliveryState(items[i]!, reply) : null));
  }

  /** Decides, and sends if it is due, one delivery of a job. */
  private async decide(channel: ChannelName, item: DeliveryItem, state: DeliveryState | null, signal?: AbortSignal): Promise<Decision> {
    if (!state) return stale(item);
    const { record, recipient } = state;
    if (record.status === 'delivered' && state.pushRetry && channel === 'webpush' && this.deps.adapters.webpush)
      return this.retryPushFanOut(item, state, signal);
    if (isTerminal(record.status)) return stale(item);
    const notification = record.notification;
    const now = Date.now();

    if (now >= record.expiresAt) return this.end(item, record, 'expired', [], {}, now);
    const problem = recipientProblem(notification, recipient, record.recipientKnown);
    if (problem) return this.end(item, record, 'skipped', [skippedAttempt(channel, now, problem.code, problem.error)], {}, now);
    if (notification.skipIfOnline && recipient.online) {
      return this.end(item, record, 'skipped', [skippedAttempt(channel, now, attemptCode.HERALD_RECIPIENT_ONLINE, 'the recipient is online')], {}, now);
    }

    const chain = record.chain ?? resolveChain(notification, recipient, this.deps.env);
    const next = nextStep(chain, { step: record.step, round: record.round, retrySteps: record.retrySteps }, notification, recipient, this.deps.env, now);
    if (next.kind === 'exhausted') return this.deadLetter(item, record, chain, next.skipped, [], now);
    if (next.newRound || next.channel !== channel || !this.deps.adapters[channel]) {
      // The chain goes on elsewhere (recipient preferences, missing addresses) or later: hand it on.
      return this.handOff(item, record, chain, next, next.skipped, [], now);
    }

    const results = await this.send(channel, record, recipient, signal, state.pushRetry);
    if (results === 'expired') return this.end(item, record, 'expired', [], {}, Date.now());
    // Shutdown cut the delivery short: hand it back untried; another run will redo it.
    if (signal?.aborted && !results.some((r) => !r.error)) return this.handBack(item, record, channel, state.pushRetry);
    return this.settle(item, record, chain, next, results, recipient);
  }

  /**
   * Sends once a slot of the channel is free; 'expired' if the notification expired while it
   * waited, since nothing is ever sent late.
   */
  private async send(
    channel: ChannelName,
    record: StoredRecord,
    recipient: RecipientView,
    signal?: AbortSignal,
    only?: Set<string> | null,
  ): Promise<TargetResult[] | 'expired'> {
    const release = await this.slots[channel].acquire();
    try {
      if (Date.now() >= record.expiresAt) return 'expired';
      return await this.deliver(channel, record.notification, record, recipient, signal, only);
    } finally {
      release();
    }
  }

  /**
   * A later delivery of a Web Push notification that is already delivered: sends only to the
   * subscriptions owed a retry, records their attempts (the status stays `delivered`), and either
   * schedules another retry or clears what is owed. Never sends after the notification expires.
   */
  private async retryPushFanOut(item: DeliveryItem, state: DeliveryState, signal?: AbortSignal): Promise<Decision> {
    const { record, recipient } = state;
    const sent = await this.send('webpush', record, recipient, signal, state.pushRetry);
    const results = sent === 'expired' ? [] : sent;
    if (signal?.aborted && results.length > 0 && !results.some((r) => !r.error)) return this.handBack(item, record, 'webpush', state.pushRetry);
    const now = Date.now();
    const summary = this.summarize(results);
    const change: RecordChange = {
      set: { updatedAt: String(now), pushRetry: '' },
      attempts: summary.attempts,
      stats: this.attemptStats(summary.attempts, record).build(),
    };
    if (summary.accepted.length > 0) change.accepted = summary.accepted;
    if (summary.gone.length > 0) change.removeSubscriptions = summary.gone;
    const decision: Decision = { item, id: item.id, outcome: 'delivered', attempt: record.tries + 1, change };
    this.retryOwedBrowsers(decision, record, summary, record.tries, now);
    return decision;
  }

  /** Sorts one send's results into what the record needs; no I/O. */
  private summarize(results: TargetResult[]): SendSummary {
    const retryable = results.filter((r) => r.error && (r.error.kind === 'transient' || r.error.kind === 'rate_limited'));
    return {
      attempts: results.map((r) => r.attempt),
      accepted: results.filter((r) => !r.error && r.targetId).map((r) => r.targetId!),
      gone: results.filter((r) => r.error?.kind === 'gone' && r.targetId).map((r) => r.targetId!),
      retryable,
      owed: retryable.filter((r) => r.targetId).map((r) => r.targetId!),
      retryAfterMs: Math.max(0, ...retryable.map((r) => r.error!.retryAfterMs ?? 0)),
    };
  }

  /** The wait before try `tries + 1` of a channel: the provider's Retry-After, else the backoff. */
  private retryDelayMs(summary: SendSummary, tries: number): number {
    return summary.retryAfterMs > 0 ? summary.retryAfterMs : backoffDelayMs(tries + 1, this.deps.policy.backoff);
  }

  /**
   * Of a notification that is delivered, the browsers that failed transiently are tried again
   * like a channel in an outage: with a growing backoff, until the ttl. No retry is queued that
   * could only come after the expiry.
   */
  private retryOwedBrowsers(decision: Decision, record: StoredRecord, summary: SendSummary, tries: number, now: number): void {
    if (summary.owed.length === 0) return;
    const delayMs = this.retryDelayMs(summary, tries);
    if (now + delayMs < record.expiresAt) this.scheduleRetry(decision, record, 'webpush', summary, tries, delayMs);
  }

  /**
   * Makes `decision` also queue the channel's next try after `delayMs`: a new token, one more try
   * counted, and the Web Push subscriptions still owed.
   */
  private scheduleRetry(decision: Decision, record: StoredRecord, channel: ChannelName, summary: SendSummary, tries: number, delayMs: number): void {
    const token = newToken();
    const set = decision.change!.set!;
    set.token = token;
    set.tries = String(tries + 1);
    set.pushRetry = summary.owed.length > 0 ? JSON.stringify({ token, ids: summary.owed }) : '';
    const { id, to } = record.notification;
    decision.next = { channel, item: deliveryItem(id, token, to), delayMs };
    decision.retry = { delayMs, code: summary.retryable[0]!.error!.code };
  }

  /**
   * Sends to every target of the channel (several browsers for Web Push) at once; with `only`, to
   * those Web Push subscriptions alone.
   */
  private async deliver(
    channel: ChannelName,
    notification: Notification,
    record: StoredRecord,
    recipient: RecipientView,
    signal?: AbortSignal,
    only?: Set<string> | null,
  ): Promise<TargetResult[]> {
    const adapter = this.deps.adapters[channel] as {
      send(m: OutgoingMessage, t: TargetOf[ChannelName], c: { signal?: AbortSignal }): Promise<{ statusCode?: number }>;
    };
    const all = targetsFor(channel, notification, recipient, this.deps.env);
    const targets = only ? all.filter((target) => 'id' in target && only.has(target.id)) : all;
    const message = outgoingMessage(notification, record.expiresAt);
    return Promise.all(
      targets.map(async (target): Promise<TargetResult> => {
        const started = performance.now();
        const targetId = 'id' in target ? target.id : undefined;
        const tokenKind = 'tokenKind' in target ? target.tokenKind : undefined;
        const base = (outcome: AttemptOutcome): Attempt => {
          const attempt: Attempt = { channel, at: iso(Date.now()), outcome, durationMs: Math.round(performance.now() - started) };
          if (targetId) attempt.subscriptionId = targetId;
          if (tokenKind) attempt.tokenKind = tokenKind;
          return attempt;
        };
        try {
          const receipt = await adapter.send(message, target, { signal });
          const attempt = base('delivered');
          if (receipt.statusCode !== undefined) attempt.statusCode = receipt.statusCode;
          return { attempt, targetId };
        } catch (err) {
          const error =
            err instanceof DeliveryError ? err : new DeliveryError('transient', attemptCode.HERALD_CHANNEL_ERROR, 'unexpected channel failure', { cause: err });
          const attempt = base(error.kind === 'rate_limited' ? 'transient' : error.kind);
          attempt.code = error.code;
          attempt.error = error.message;
          if (error.statusCode !== undefined) attempt.statusCode = error.statusCode;
          return { attempt, error, targetId };
        }
      }),
    );
  }

  /** Decides what the results of one send to the channel at `here` mean. */
  private settle(item: DeliveryItem, record: StoredRecord, chain: ChannelName[], here: ChainMove, results: TargetResult[], recipient: RecipientView): Decision {
    const now = Date.now();
    const { channel, step } = here;
    const summary = this.summarize(results);
    const { accepted, gone } = summary;
    const attempts = here.skipped.length > 0 ? [...here.skipped, ...summary.attempts] : summary.attempts;
    // The record's tries count those of the channel at its step; a channel reached anew has none.
    const tries = step === record.step ? record.tries : 0;
    const extra: Partial<RecordChange> = {};
    if (accepted.length > 0) extra.accepted = accepted;
    if (gone.length > 0) extra.removeSubscriptions = gone;

    if (results.some((r) => !r.error)) {
      // Delivered now; browsers that failed transiently are still retried by later jobs.
      extra.set = { channel, step: String(step), chain: JSON.stringify(chain) };
      const decision = this.end(item, record, 'delivered', attempts, extra, now);
      decision.attempt = tries + 1;
      this.retryOwedBrowsers(decision, record, summary, tries, now);
      return decision;
    }

    const remaining: RecipientView =
      gone.length > 0 ? { ...recipient, subscriptions: new Map([...recipient.subscriptions].filter(([id]) => !gone.includes(id))) } : recipient;
    const transient = summary.retryable.length > 0;
    const after = afterFailure(chain, { ...here, tries }, transient, this.deps.policy.maxAttempts, record.notification, remaining, this.deps.env, now);
    if (after.kind === 'retry') {
      const change: RecordChange = {
        ...extra,
        set: { status: 'delivering', channel, step: String(step), chain: JSON.stringify(chain), updatedAt: String(now) },
        attempts,
        stats: this.attemptStats(attempts, record).build(),
      };
      const decision: Decision = { item, id: item.id, outcome: 'retry', attempt: tries + 1, change };
      this.scheduleRetry(decision, record, channel, summary, tries, this.untilExpiry(this.retryDelayMs(summary, tries), record, now));
      return decision;
    }

    const failure = (summary.retryable[0] ?? results.find((r) => r.error))?.error;
    const decision =
      after.kind === 'exhausted'
        ? this.deadLetter(item, record, chain, [...attempts, ...after.skipped], gone, now)
        : this.handOff(item, record, chain, after, [...attempts, ...after.skipped], gone, now, { code: failure?.code, retryAfterMs: summary.retryAfterMs });
    decision.attempt = tries + 1;
    return decision;
  }

  /**
   * The wait before round `round` over the channels that failed transiently: the backoff goes on
   * growing from where the first pass's tries left it, and is never shorter than a Retry-After.
   */
  private roundDelayMs(round: number, retryAfterMs: number): number {
    const { maxAttempts, backoff } = this.deps.policy;
    return Math.max(retryAfterMs, backoffDelayMs(maxAttempts - 1 + round, backoff));
  }

  /** `delayMs`, or until just after the expiry if that comes first (see EXPIRY_WAKE_MS). */
  private untilExpiry(delayMs: number, record: StoredRecord, now: number): number {
    return Math.min(delayMs, Math.max(0, record.expiresAt - now) + EXPIRY_WAKE_MS);
  }

  private attemptStats(attempts: Attempt[], record: StoredRecord): StatsDeltaBuilder {
    const stats = new StatsDeltaBuilder();
    const enqueuedAt = Math.max(record.createdAt, record.notification.sendAt ? Date.parse(record.notification.sendAt) : 0);
    for (const attempt of attempts) {
      const latency = attempt.outcome === 'delivered' ? Math.max(0, Date.parse(attempt.at) - enqueuedAt) : undefined;
      stats.attempt(attempt.channel, attempt.outcome, latency);
    }
    return stats;
  }

  /** Ends the notification in a terminal status other than `failed`. */
  private end(
    item: DeliveryItem,
    record: StoredRecord,
    status: Exclude<EndStatus, 'failed'>,
    attempts: Attempt[],
    extra: Partial<RecordChange>,
    now: number,
  ): Decision {
    // Built field by field rather than by spreading `extra`: this runs once per notification, on the
    // worker's hot path, where every copied object counts. `extra` is the caller's own, fresh object.
    const change = extra as RecordChange;
    const set = (change.set ??= {});
    set.status = status;
    set.updatedAt = String(now);
    change.attempts = attempts;
    change.expireSeconds = this.deps.policy.statusRetentionSeconds;
    change.stats = this.attemptStats(attempts, record).ended(status).build();
    return { item, id: item.id, outcome: status, attempt: record.tries, change };
  }

  private deadLetter(item: DeliveryItem, record: StoredRecord, chain: ChannelName[], attempts: Attempt[], gone: string[], now: number): Decision {
    const change: RecordChange = {
      set: { status: 'failed', failedAt: String(now), updatedAt: String(now), chain: JSON.stringify(chain), step: String(chain.length) },
      attempts,
      expireSeconds: this.deps.policy.deadLetterRetentionSeconds,
      deadLetter: 'add',
      deadLetterScore: now,
      deadLetterRetentionSeconds: this.deps.policy.deadLetterRetentionSeconds,
      stats: this.attemptStats(attempts, record).ended('failed').build(),
    };
    if (gone.length > 0) change.removeSubscriptions = gone;
    const decision: Decision = { item, id: item.id, outcome: 'dead-lettered', attempt: record.tries, change };
    const code = attempts.at(-1)?.code;
    if (code) decision.code = code;
    return decision;
  }

  /**
   * Moves the notification to the channel at `to.step` (another queue, or the same one in a new
   * round), with a new token and its tries reset: at once, or after the round's backoff when `to`
   * opens a new round (`failure` is what made it fail last, for the report).
   */
  private handOff(
    item: DeliveryItem,
    record: StoredRecord,
    chain: ChannelName[],
    to: ChainMove,
    attempts: Attempt[],
    gone: string[],
    now: number,
    failure: { code?: string | undefined; retryAfterMs: number } = { retryAfterMs: 0 },
  ): Decision {
    const token = newToken();
    const tried = attempts.some((a) => a.outcome !== 'skipped') || record.status === 'delivering';
    const set: Record<string, string> = {
      status: tried ? 'delivering' : 'queued',
      token,
      step: String(to.step),
      tries: '0',
      chain: JSON.stringify(chain),
      channel: to.channel,
      updatedAt: String(now),
    };
    // Written only when they change: most notifications never leave the first pass.
    if (to.round !== record.round) set.round = String(to.round);
    if (to.retrySteps.join() !== record.retrySteps.join()) set.retrySteps = to.retrySteps.length > 0 ? JSON.stringify(to.retrySteps) : '';
    const change: RecordChange = { set, attempts, stats: this.attemptStats(attempts, record).build() };
    if (gone.length > 0) change.removeSubscriptions = gone;
    const { id, to: userId } = record.notification;
    const decision: Decision = {
      item,
      id,
      outcome: 'handed-off',
      attempt: record.tries,
      change,
      next: { channel: to.channel, item: deliveryItem(id, token, userId), delayMs: 0 },
    };
    if (to.newRound) {
      const delayMs = this.untilExpiry(this.roundDelayMs(to.round, failure.retryAfterMs), record, now);
      decision.outcome = 'retry';
      decision.next!.delayMs = delayMs;
      decision.retry = { delayMs, code: failure.code ?? attempts.at(-1)?.code ?? attemptCode.HERALD_RETRY_ROUND };
    }
    return decision;
  }

  /**
   * Queues a delivery that shutdown cut short to run again, untried: nothing is recorded but a new
   * token (and, for a Web Push retry, the subscriptions still owed under it).
   */
  private handBack(item: DeliveryItem, record: StoredRecord, channel: ChannelName, owed: Set<string> | null): Decision {
    const token = newToken();
    const set: Record<string, string> = { token, updatedAt: String(Date.now()) };
    if (owed) set.pushRetry = JSON.stringify({ token, ids: [...owed] });
    const { id, to } = record.notification;
    return {
      item,
      id,
      outcome: 'handed-back',
      attempt: record.tries + 1,
      change: { set },
      next: { channel, item: deliveryItem(id, token, to), delayMs: HAND_BACK_DELAY_MS },
    };
  }

  /**
   * Commits decisions: every transition in one script call and, in the same MULTI, the jobs that
   * carry notifications on. A delivery whose transition finds another token was
   * overtaken (a duplicate job, a replay): it reports `stale`, and the job queued for it carries a
   * token the record never got, so it is dropped when it runs.
   */
  private async commit(decisions: Decision[]): Promise<DeliveryReport[]> {
    const writes = decisions.filter((d) => d.change);
    const results = writes.length > 0 ? await this.write(writes) : [];
    const applied = new Map(writes.map((d, i) => [d, results[i] === 'applied']));
    return decisions.map((d) => {
      const report: DeliveryReport = { id: d.id, outcome: d.outcome, attempt: d.attempt };
      if (d.change && !applied.get(d)) report.outcome = 'stale';
      else {
        if (d.retry) report.retry = d.retry;
        if (d.code) report.code = d.code;
      }
      return report;
    });
  }

  private async write(writes: Decision[]): Promise<TransitionResult[]> {
    const now = Date.now();
    const transitions = writes.map((d) => ({ id: d.item.id, userId: d.item.to, token: d.item.token, change: d.change! }));
    const next = writes.flatMap((d) => (d.next ? [d.next] : []));
    if (next.length === 0) return this.deps.store.transitions(transitions, now);
    const tx = await this.deps.queues.multi();
    this.deps.store.queueTransitions(tx, transitions, now);
    this.deps.queues.queueDeliveries(tx, next);
    return execResult<number[]>(await tx.exec(), 0, 'The transaction committing a delivery job').map(transitionResult);
  }
}

function stale(item: DeliveryItem): Decision {
  return { item, id: item.id, outcome: 'stale', attempt: 0 };
}

/** The typed view of one delivery's load reply. */
function deliveryState(item: DeliveryItem, reply: LoadReply): DeliveryState | null {
  const [recordFields, accepted, recipientFields, subscriptionFields, online] = reply;
  const hash = pairs(recordFields);
  const record = parseRecord(hash);
  if (!record) return null;
  return {
    record,
    pushRetry: owedPushRetries(hash.pushRetry, item.token),
    recipient: {
      addresses: item.to !== undefined ? parseAddresses(pairs(recipientFields)) : null,
      registered: item.to !== undefined && (recipientFields.length > 0 || subscriptionFields.length > 0),
      subscriptions: parseSubscriptions(pairs(subscriptionFields)),
      online: online === 1,
      pushAccepted: new Set(accepted),
    },
  };
}

/** The subscription ids in a record's `pushRetry` field, if written under `token`. */
function owedPushRetries(field: string | undefined, token: string): Set<string> | null {
  if (!field) return null;
  const owed = JSON.parse(field) as { token: string; ids: string[] };
  return owed.token === token && owed.ids.length > 0 ? new Set(owed.ids) : null;
}

/** A flat HGETALL reply as an object. */
function pairs(flat: string[]): Record<string, string> {
  const object: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) object[flat[i]!] = flat[i + 1]!;
  return object;
}

function skippedAttempt(channel: ChannelName, now: number, code: AttemptCode, error: string): Attempt {
  return { channel, at: iso(now), outcome: 'skipped', code, error, durationMs: 0 };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function outgoingMessage(notification: Notification, expiresAt: number): OutgoingMessage {
  const message: OutgoingMessage = { id: notification.id, message: notification.message, priority: notification.priority, expiresAt };
  // Only the fields that are set, so renderers can test for presence.
  for (const field of ['title', 'url', 'category', 'data', 'collapseKey'] as const) {
    if (notification[field] !== undefined) (message as Record<string, unknown>)[field] = notification[field];
  }
  return message;
}
