/**
 * The delivery processor: runs one job of one channel queue and turns what happened into exactly
 * one record transition (plus, for a hand-off, the next channel's job in the same MULTI). It is
 * the only place that maps a failure kind to a consequence:
 *   delivered            → `delivered`, done
 *   transient / 429      → retry the same channel with backoff, up to maxAttempts
 *   permanent / gone     → next channel at once (gone also removes the Web Push subscription)
 *   spent, no channel left → dead letter (`failed`)
 * Web Push fans out to every browser: one acceptance makes the notification `delivered`, and the
 * browsers that failed transiently are retried on the same job (`pushRetry`, below) without
 * resending to those that accepted or refused for good.
 * Invariant: every path either applies a transition guarded by the job's token or leaves the
 * record untouched; a job whose token is not the record's is stale and sends nothing.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { isTerminal, type Attempt, type AttemptOutcome, type ChannelName, type Notification } from '../types.js';
import { DeliveryError, type ChannelAdapters, type OutgoingMessage, type TargetOf } from '../channels/types.js';
import { parseRecord, type StoredRecord } from '../registry/record.js';
import { parseAddresses, parseSubscriptions } from '../registry/recipients.js';
import type { NotificationStore, RecordChange } from '../registry/notifications.js';
import { StatsDeltaBuilder, type EndStatus } from '../stats/counters.js';
import { newToken } from './intake.js';
import { scripts } from '../registry/scripts.js';
import { nextStep, resolveChain, targetsFor, type ChannelEnvironment, type RecipientView } from './plan.js';
import type { ChannelQueues, DeliveryJobData } from './queues.js';
import { backoffDelayMs, RetryLaterError, type BackoffPolicy } from './backoff.js';

export interface DeliveryPolicy {
  maxAttempts: number;
  backoff: BackoffPolicy;
  statusRetentionSeconds: number;
  deadLetterRetentionSeconds: number;
}

export interface ProcessorDeps {
  redis: Redis;
  store: NotificationStore;
  queues: ChannelQueues;
  adapters: ChannelAdapters;
  env: ChannelEnvironment;
  policy: DeliveryPolicy;
  logger: Logger;
}

/** What one run of a job did; returned for logs and tests. */
export type JobOutcome = 'stale' | 'expired' | 'skipped' | 'delivered' | 'retry' | 'handed-off' | 'dead-lettered';

export interface JobRun {
  data: DeliveryJobData;
  /** Failed runs of this job so far (BullMQ's attemptsMade). */
  attemptsMade: number;
}

interface DeliveryState {
  record: StoredRecord;
  recipient: RecipientView;
  /**
   * Web Push subscriptions this job still owes a retry: those whose last failure was transient.
   * Stored in the record's `pushRetry` field as `{token, ids}` and honoured only under the token
   * that wrote it, so a replay or a hand-off (new token) never inherits it.
   */
  pushRetry: Set<string> | null;
}

/** What one round of sends amounts to, before it is recorded. */
interface RoundSummary {
  attempts: Attempt[];
  accepted: string[];
  gone: string[];
  retryable: TargetResult[];
  /** Retry allowed (attempts left) and worth it (some failure was transient). */
  willRetry: boolean;
  /** `set` fields that make the next run of this job send only to the retryable subscriptions. */
  pushRetry: Record<string, string>;
}

interface TargetResult {
  attempt: Attempt;
  error?: DeliveryError;
  targetId?: string;
}

export class DeliveryProcessor {
  constructor(private readonly deps: ProcessorDeps) {}

  /** Reads the record and everything about the recipient in one command (see scripts.ts). */
  private async load(data: DeliveryJobData): Promise<DeliveryState | null> {
    const { keys } = this.deps.store;
    // Without a recipient, its keys are those of the empty user id: they never exist.
    const userId = data.to ?? '';
    const reply = await scripts(this.deps.redis).heraldLoad(
      keys.record(data.id),
      keys.pushAccepted(data.id),
      keys.recipient(userId),
      keys.subscriptions(userId),
      keys.presence(userId),
      data.token,
    );
    if (reply.length === 0) return null;
    const [recordFields, accepted, recipientFields, subscriptionFields, online] = reply;
    const hash = pairs(recordFields);
    const record = parseRecord(hash);
    if (!record) return null;
    return {
      record,
      pushRetry: owedPushRetries(hash.pushRetry, data.token),
      recipient: {
        addresses: data.to !== undefined ? parseAddresses(pairs(recipientFields)) : null,
        subscriptions: parseSubscriptions(pairs(subscriptionFields)),
        online: online === 1,
        pushAccepted: new Set(accepted),
      },
    };
  }

  async process(channel: ChannelName, job: JobRun, signal?: AbortSignal): Promise<JobOutcome> {
    const state = await this.load(job.data);
    if (state?.record.status === 'delivered' && state.pushRetry && channel === 'webpush' && this.deps.adapters.webpush) return this.retryPushFanOut(job, state, signal);
    if (!state || isTerminal(state.record.status)) return 'stale';
    const { record, recipient } = state;
    const notification = record.notification;
    const now = Date.now();

    if (now >= record.expiresAt) return this.end(record, 'expired', [], {}, now);
    if (notification.skipIfOnline && recipient.online) {
      const attempt: Attempt = { channel, at: iso(now), outcome: 'skipped', code: 'HERALD_RECIPIENT_ONLINE', error: 'the recipient is online', durationMs: 0 };
      return this.end(record, 'skipped', [attempt], {}, now);
    }

    const chain = record.chain ?? resolveChain(notification, recipient, this.deps.env);
    const next = nextStep(chain, record.step, notification, recipient, this.deps.env, now);
    if (next.kind === 'exhausted') return this.deadLetter(record, chain, next.skipped, [], now);
    if (next.channel !== channel || !this.deps.adapters[channel]) {
      // The chain starts elsewhere (recipient preferences, missing addresses): hand the job on.
      return this.handOff(record, chain, next.step, next.channel, next.skipped, [], now);
    }

    const results = await this.deliver(channel, notification, record, recipient, signal, state.pushRetry);
    if (signal?.aborted) {
      // Shutdown cut the delivery short: hand the job back untouched; another run will redo it.
      throw new RetryLaterError('HERALD_SHUTDOWN', 1000);
    }
    return this.settle(record, chain, next.step, channel, next.skipped, results, job, recipient);
  }

  /**
   * A job BullMQ gave up on by itself (a worker kept dying while holding it): the notification is
   * dead-lettered with an attempt that says so, rather than left in BullMQ's failed set where no
   * operator would look.
   */
  async abandon(channel: ChannelName, data: DeliveryJobData, reason: string): Promise<JobOutcome> {
    const state = await this.load(data);
    if (!state || isTerminal(state.record.status)) return 'stale';
    const now = Date.now();
    const attempt: Attempt = { channel, at: iso(now), outcome: 'transient', code: 'HERALD_JOB_ABANDONED', error: reason.slice(0, 200), durationMs: 0 };
    const chain = state.record.chain ?? resolveChain(state.record.notification, state.recipient, this.deps.env);
    return this.deadLetter(state.record, chain, [attempt], [], now);
  }

  /**
   * A later run of a Web Push job whose notification is already delivered: sends only to the
   * subscriptions owed a retry, records their attempts (the status stays `delivered`), and either
   * schedules another retry or clears what is owed. Never sends after the notification expires.
   */
  private async retryPushFanOut(job: JobRun, state: DeliveryState, signal?: AbortSignal): Promise<JobOutcome> {
    const { record, recipient } = state;
    const results = Date.now() < record.expiresAt ? await this.deliver('webpush', record.notification, record, recipient, signal, state.pushRetry) : [];
    if (signal?.aborted) throw new RetryLaterError('HERALD_SHUTDOWN', 1000);
    const now = Date.now();
    const round = this.summarize(results, job, record);
    const change: RecordChange = {
      set: { updatedAt: String(now), pushRetry: round.pushRetry.pushRetry ?? '' },
      attempts: round.attempts,
      stats: this.attemptStats(round.attempts, record).build(),
    };
    if (round.accepted.length > 0) change.accepted = round.accepted;
    if (round.gone.length > 0) change.removeSubscriptions = round.gone;
    const applied = await this.deps.store.transition(record.notification.id, record.notification.to, record.token, change, now);
    if (applied !== 'applied') return 'stale';
    if (round.pushRetry.pushRetry) throw this.retryLater(round.retryable, job);
    return 'delivered';
  }

  /** Sorts one round's results into what the record needs; no I/O. */
  private summarize(results: TargetResult[], job: JobRun, record: StoredRecord): RoundSummary {
    const retryable = results.filter((r) => r.error && (r.error.kind === 'transient' || r.error.kind === 'rate_limited'));
    const willRetry = retryable.length > 0 && job.attemptsMade + 1 < this.deps.policy.maxAttempts;
    const owed = willRetry ? retryable.filter((r) => r.targetId).map((r) => r.targetId!) : [];
    return {
      attempts: results.map((r) => r.attempt),
      accepted: results.filter((r) => !r.error && r.targetId).map((r) => r.targetId!),
      gone: results.filter((r) => r.error?.kind === 'gone' && r.targetId).map((r) => r.targetId!),
      retryable,
      willRetry,
      pushRetry: owed.length > 0 ? { pushRetry: JSON.stringify({ token: record.token, ids: owed }) } : {},
    };
  }

  /**
   * The error that hands the job back to BullMQ for another run, named after the first retryable
   * failure, after the provider's Retry-After when it gave one, else exponential backoff.
   */
  private retryLater(retryable: TargetResult[], job: JobRun): RetryLaterError {
    const retryAfter = Math.max(0, ...retryable.map((r) => r.error!.retryAfterMs ?? 0));
    const delayMs = retryAfter > 0 ? retryAfter : backoffDelayMs(job.attemptsMade + 1, this.deps.policy.backoff);
    return new RetryLaterError(retryable[0]!.error!.code, delayMs);
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

  /** Decides what the results of one delivery round mean and records it. */
  private async settle(record: StoredRecord, chain: ChannelName[], step: number, channel: ChannelName, skipped: Attempt[], results: TargetResult[], job: JobRun, recipient: RecipientView): Promise<JobOutcome> {
    const now = Date.now();
    const round = this.summarize(results, job, record);
    const { accepted, gone, retryable } = round;
    const attempts = [...skipped, ...round.attempts];
    const extra: Partial<RecordChange> = {};
    if (accepted.length > 0) extra.accepted = accepted;
    if (gone.length > 0) extra.removeSubscriptions = gone;

    if (results.some((r) => !r.error)) {
      // Delivered now; browsers that failed transiently are still retried by this job.
      const set = { channel, step: String(step), chain: JSON.stringify(chain), ...round.pushRetry };
      const outcome = await this.end(record, 'delivered', attempts, { ...extra, set }, now, channel);
      if (outcome === 'delivered' && round.pushRetry.pushRetry) throw this.retryLater(retryable, job);
      return outcome;
    }

    if (round.willRetry) {
      const change: RecordChange = {
        ...extra,
        set: { status: 'delivering', channel, step: String(step), chain: JSON.stringify(chain), updatedAt: String(now), ...round.pushRetry },
        attempts,
        stats: this.attemptStats(attempts, record).build(),
      };
      const applied = await this.deps.store.transition(record.notification.id, record.notification.to, record.token, change, now);
      if (applied !== 'applied') return 'stale';
      throw this.retryLater(retryable, job);
    }

    // Permanent failure, gone, or retries spent: the next channel, at once.
    const remaining: RecipientView = { ...recipient, subscriptions: new Map([...recipient.subscriptions].filter(([id]) => !gone.includes(id))) };
    const next = nextStep(chain, step + 1, record.notification, remaining, this.deps.env, now);
    if (next.kind === 'exhausted') return this.deadLetter(record, chain, [...attempts, ...next.skipped], gone, now);
    return this.handOff(record, chain, next.step, next.channel, [...attempts, ...next.skipped], gone, now);
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
  private async end(record: StoredRecord, status: Exclude<EndStatus, 'failed'>, attempts: Attempt[], extra: Partial<RecordChange>, now: number, channel?: ChannelName): Promise<JobOutcome> {
    const change: RecordChange = {
      ...extra,
      set: { ...extra.set, status, updatedAt: String(now), ...(channel ? { channel } : {}) },
      attempts,
      expireSeconds: this.deps.policy.statusRetentionSeconds,
      stats: this.attemptStats(attempts, record).ended(status).build(),
    };
    const applied = await this.deps.store.transition(record.notification.id, record.notification.to, record.token, change, now);
    return applied === 'applied' ? status : 'stale';
  }

  private async deadLetter(record: StoredRecord, chain: ChannelName[], attempts: Attempt[], gone: string[], now: number): Promise<JobOutcome> {
    const change: RecordChange = {
      set: { status: 'failed', failedAt: String(now), updatedAt: String(now), chain: JSON.stringify(chain), step: String(chain.length) },
      attempts,
      expireSeconds: this.deps.policy.deadLetterRetentionSeconds,
      deadLetter: 'add',
      deadLetterScore: now,
      stats: this.attemptStats(attempts, record).ended('failed').build(),
    };
    if (gone.length > 0) change.removeSubscriptions = gone;
    const applied = await this.deps.store.transition(record.notification.id, record.notification.to, record.token, change, now);
    if (applied === 'applied') this.deps.logger.warn({ notificationId: record.notification.id, code: attempts.at(-1)?.code }, 'notification dead-lettered');
    return applied === 'applied' ? 'dead-lettered' : 'stale';
  }

  /**
   * Moves the notification to another channel's queue: the record change (new token, new step)
   * and the new job commit in one MULTI, so a crash leaves either the old job (which redoes this)
   * or the new one, never both live and never neither.
   */
  private async handOff(record: StoredRecord, chain: ChannelName[], step: number, channel: ChannelName, attempts: Attempt[], gone: string[], now: number): Promise<JobOutcome> {
    const token = newToken();
    const tried = attempts.some((a) => a.outcome !== 'skipped') || record.status === 'delivering';
    const change: RecordChange = {
      set: { status: tried ? 'delivering' : 'queued', token, step: String(step), chain: JSON.stringify(chain), channel, updatedAt: String(now) },
      attempts,
      stats: this.attemptStats(attempts, record).build(),
    };
    if (gone.length > 0) change.removeSubscriptions = gone;
    const { id, to } = record.notification;
    const tx = await this.deps.queues.multi();
    this.deps.store.queueTransition(tx, id, to, record.token, change, now);
    this.deps.queues.queueAdd(tx, channel, to === undefined ? { id, token } : { id, token, to }, 0);
    const replies = await tx.exec();
    const [err, reply] = (replies?.[0] ?? [null, -1]) as [Error | null, number];
    if (err) throw err;
    // On a stale token the job added above carries a token the record never got: it is dropped.
    return reply === 1 ? 'handed-off' : 'stale';
  }
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
