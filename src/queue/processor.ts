/**
 * The delivery processor: runs one job of one channel queue (up to MAX_ITEMS_PER_JOB deliveries,
 * sent side by side) and turns what happened to each delivery into exactly one record transition,
 * plus the job that carries the notification on. It is the only place that maps a failure kind to
 * a consequence:
 *   delivered              → `delivered`, done
 *   transient / 429        → the same channel again after a backoff (a new delayed job), up to maxAttempts
 *   permanent / gone       → next channel at once (gone also removes the Web Push subscription)
 *   spent, no channel left → dead letter (`failed`)
 * Web Push fans out to every browser: one acceptance makes the notification `delivered`, and the
 * browsers that failed transiently are retried by a later job (`pushRetry`, below) without
 * resending to those that accepted or refused for good.
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
import { parseRecord, type StoredRecord } from '../registry/record.js';
import { parseAddresses, parseSubscriptions } from '../registry/recipients.js';
import { transitionResult, type NotificationStore, type RecordChange, type TransitionResult } from '../registry/notifications.js';
import type { LoadReply } from '../registry/scripts.js';
import { StatsDeltaBuilder, type EndStatus } from '../stats/counters.js';
import { newToken } from './intake.js';
import { nextStep, resolveChain, targetsFor, type ChannelEnvironment, type RecipientView } from './plan.js';
import { deliveryItem, itemsOf, type ChannelQueues, type DeliveryItem, type DeliveryJobData, type QueuedDelivery } from './queues.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { Slots } from './slots.js';
import { TurnBatcher } from '../turn-batcher.js';

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

/** What one round of sends amounts to, before it is recorded. */
interface RoundSummary {
  attempts: Attempt[];
  accepted: string[];
  gone: string[];
  retryable: TargetResult[];
  /** Retry allowed (tries left) and worth it (some failure was transient). */
  willRetry: boolean;
  /** Web Push subscriptions the retry should send to (the others accepted or refused for good). */
  owed: string[];
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
      const attempt: Attempt = { channel, at: iso(now), outcome: 'transient', code: 'HERALD_JOB_ABANDONED', error: reason.slice(0, 200), durationMs: 0 };
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
    if (record.status === 'delivered' && state.pushRetry && channel === 'webpush' && this.deps.adapters.webpush) return this.retryPushFanOut(item, state, signal);
    if (isTerminal(record.status)) return stale(item);
    const notification = record.notification;
    const now = Date.now();

    if (now >= record.expiresAt) return this.end(item, record, 'expired', [], {}, now);
    if (notification.skipIfOnline && recipient.online) {
      const attempt: Attempt = { channel, at: iso(now), outcome: 'skipped', code: 'HERALD_RECIPIENT_ONLINE', error: 'the recipient is online', durationMs: 0 };
      return this.end(item, record, 'skipped', [attempt], {}, now);
    }

    const chain = record.chain ?? resolveChain(notification, recipient, this.deps.env);
    const next = nextStep(chain, record.step, notification, recipient, this.deps.env, now);
    if (next.kind === 'exhausted') return this.deadLetter(item, record, chain, next.skipped, [], now);
    if (next.channel !== channel || !this.deps.adapters[channel]) {
      // The chain starts elsewhere (recipient preferences, missing addresses): hand it on.
      return this.handOff(item, record, chain, next.step, next.channel, next.skipped, [], now);
    }

    const results = await this.send(channel, record, recipient, signal, state.pushRetry);
    if (results === 'expired') return this.end(item, record, 'expired', [], {}, Date.now());
    // Shutdown cut the delivery short: hand it back untried; another run will redo it.
    if (signal?.aborted && !results.some((r) => !r.error)) return this.handBack(item, record, channel, state.pushRetry);
    return this.settle(item, record, chain, next.step, channel, next.skipped, results, recipient);
  }

  /**
   * Sends once a slot of the channel is free; 'expired' if the notification expired while it
   * waited, since nothing is ever sent late.
   */
  private async send(channel: ChannelName, record: StoredRecord, recipient: RecipientView, signal?: AbortSignal, only?: Set<string> | null): Promise<TargetResult[] | 'expired'> {
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
    const round = this.summarize(results, record);
    const change: RecordChange = {
      set: { updatedAt: String(now), pushRetry: '' },
      attempts: round.attempts,
      stats: this.attemptStats(round.attempts, record).build(),
    };
    if (round.accepted.length > 0) change.accepted = round.accepted;
    if (round.gone.length > 0) change.removeSubscriptions = round.gone;
    const decision: Decision = { item, id: item.id, outcome: 'delivered', attempt: record.tries + 1, change };
    if (round.willRetry && round.owed.length > 0) this.scheduleRetry(decision, record, 'webpush', round);
    return decision;
  }

  /** Sorts one round's results into what the record needs; no I/O. */
  private summarize(results: TargetResult[], record: StoredRecord): RoundSummary {
    const retryable = results.filter((r) => r.error && (r.error.kind === 'transient' || r.error.kind === 'rate_limited'));
    const willRetry = retryable.length > 0 && record.tries + 1 < this.deps.policy.maxAttempts;
    return {
      attempts: results.map((r) => r.attempt),
      accepted: results.filter((r) => !r.error && r.targetId).map((r) => r.targetId!),
      gone: results.filter((r) => r.error?.kind === 'gone' && r.targetId).map((r) => r.targetId!),
      retryable,
      willRetry,
      owed: willRetry ? retryable.filter((r) => r.targetId).map((r) => r.targetId!) : [],
    };
  }

  /**
   * Makes `decision` also queue the channel's next try: a new token, one more try counted, the Web
   * Push subscriptions still owed, and a job delayed after the provider's Retry-After when it gave
   * one, else by exponential backoff.
   */
  private scheduleRetry(decision: Decision, record: StoredRecord, channel: ChannelName, round: RoundSummary): void {
    const token = newToken();
    const retryAfter = Math.max(0, ...round.retryable.map((r) => r.error!.retryAfterMs ?? 0));
    const delayMs = retryAfter > 0 ? retryAfter : backoffDelayMs(record.tries + 1, this.deps.policy.backoff);
    const set = decision.change!.set!;
    set.token = token;
    set.tries = String(record.tries + 1);
    set.pushRetry = round.owed.length > 0 ? JSON.stringify({ token, ids: round.owed }) : '';
    const { id, to } = record.notification;
    decision.next = { channel, item: deliveryItem(id, token, to), delayMs };
    decision.retry = { delayMs, code: round.retryable[0]!.error!.code };
  }

  /**
   * Sends to every target of the channel (several browsers for Web Push) at once; with `only`, to
   * those Web Push subscriptions alone.
   */
  private async deliver(channel: ChannelName, notification: Notification, record: StoredRecord, recipient: RecipientView, signal?: AbortSignal, only?: Set<string> | null): Promise<TargetResult[]> {
    const adapter = this.deps.adapters[channel] as { send(m: OutgoingMessage, t: TargetOf[ChannelName], c: { signal?: AbortSignal }): Promise<{ statusCode?: number }> };
    const all = targetsFor(channel, notification, recipient, this.deps.env);
    const targets = only ? all.filter((target) => 'id' in target && only.has(target.id)) : all;
    const message = outgoingMessage(notification, record.expiresAt);
    return Promise.all(
      targets.map(async (target): Promise<TargetResult> => {
        const started = performance.now();
        const targetId = 'id' in target ? target.id : undefined;
        const base = (outcome: AttemptOutcome): Attempt => {
          const attempt: Attempt = { channel, at: iso(Date.now()), outcome, durationMs: Math.round(performance.now() - started) };
          if (targetId) attempt.subscriptionId = targetId;
          return attempt;
        };
        try {
          const receipt = await adapter.send(message, target, { signal });
          const attempt = base('delivered');
          if (receipt.statusCode !== undefined) attempt.statusCode = receipt.statusCode;
          return { attempt, targetId };
        } catch (err) {
          const error = err instanceof DeliveryError ? err : new DeliveryError('transient', 'HERALD_CHANNEL_ERROR', 'unexpected channel failure', { cause: err });
          const attempt = base(error.kind === 'rate_limited' ? 'transient' : error.kind);
          attempt.code = error.code;
          attempt.error = error.message;
          if (error.statusCode !== undefined) attempt.statusCode = error.statusCode;
          return { attempt, error, targetId };
        }
      }),
    );
  }

  /** Decides what the results of one delivery round mean. */
  private settle(item: DeliveryItem, record: StoredRecord, chain: ChannelName[], step: number, channel: ChannelName, skipped: Attempt[], results: TargetResult[], recipient: RecipientView): Decision {
    const now = Date.now();
    const round = this.summarize(results, record);
    const { accepted, gone } = round;
    const attempts = skipped.length > 0 ? [...skipped, ...round.attempts] : round.attempts;
    const extra: Partial<RecordChange> = {};
    if (accepted.length > 0) extra.accepted = accepted;
    if (gone.length > 0) extra.removeSubscriptions = gone;

    if (results.some((r) => !r.error)) {
      // Delivered now; browsers that failed transiently are still retried by a later job.
      extra.set = { channel, step: String(step), chain: JSON.stringify(chain) };
      const decision = this.end(item, record, 'delivered', attempts, extra, now);
      decision.attempt = record.tries + 1;
      if (round.owed.length > 0) this.scheduleRetry(decision, record, channel, round);
      return decision;
    }

    if (round.willRetry) {
      const change: RecordChange = {
        ...extra,
        set: { status: 'delivering', channel, step: String(step), chain: JSON.stringify(chain), updatedAt: String(now) },
        attempts,
        stats: this.attemptStats(attempts, record).build(),
      };
      const decision: Decision = { item, id: item.id, outcome: 'retry', attempt: record.tries + 1, change };
      this.scheduleRetry(decision, record, channel, round);
      return decision;
    }

    // Permanent failure, gone, or retries spent: the next channel, at once.
    const remaining: RecipientView = { ...recipient, subscriptions: new Map([...recipient.subscriptions].filter(([id]) => !gone.includes(id))) };
    const next = nextStep(chain, step + 1, record.notification, remaining, this.deps.env, now);
    const decision = next.kind === 'exhausted'
      ? this.deadLetter(item, record, chain, [...attempts, ...next.skipped], gone, now)
      : this.handOff(item, record, chain, next.step, next.channel, [...attempts, ...next.skipped], gone, now);
    decision.attempt = record.tries + 1;
    return decision;
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
  private end(item: DeliveryItem, record: StoredRecord, status: Exclude<EndStatus, 'failed'>, attempts: Attempt[], extra: Partial<RecordChange>, now: number): Decision {
    // Built field by field rather than by spreading `extra`: this runs once per notification, and
    // the spreads were a visible share of a worker's CPU. `extra` is the caller's own, fresh object.
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
      stats: this.attemptStats(attempts, record).ended('failed').build(),
    };
    if (gone.length > 0) change.removeSubscriptions = gone;
    const decision: Decision = { item, id: item.id, outcome: 'dead-lettered', attempt: record.tries, change };
    const code = attempts.at(-1)?.code;
    if (code) decision.code = code;
    return decision;
  }

  /** Moves the notification to another channel's queue, with a new token and its tries reset. */
  private handOff(item: DeliveryItem, record: StoredRecord, chain: ChannelName[], step: number, channel: ChannelName, attempts: Attempt[], gone: string[], now: number): Decision {
    const token = newToken();
    const tried = attempts.some((a) => a.outcome !== 'skipped') || record.status === 'delivering';
    const change: RecordChange = {
      set: { status: tried ? 'delivering' : 'queued', token, step: String(step), tries: '0', chain: JSON.stringify(chain), channel, updatedAt: String(now) },
      attempts,
      stats: this.attemptStats(attempts, record).build(),
    };
    if (gone.length > 0) change.removeSubscriptions = gone;
    const { id, to } = record.notification;
    return { item, id, outcome: 'handed-off', attempt: record.tries, change, next: { channel, item: deliveryItem(id, token, to), delayMs: 0 } };
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
    return { item, id, outcome: 'handed-back', attempt: record.tries + 1, change: { set }, next: { channel, item: deliveryItem(id, token, to), delayMs: HAND_BACK_DELAY_MS } };
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
    const replies = await tx.exec();
    if (!replies) throw new Error('the transaction committing a delivery job was aborted');
    const [err, reply] = replies[0] as [Error | null, number[]];
    if (err) throw err;
    return reply.map(transitionResult);
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
