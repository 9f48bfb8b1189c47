import { describe, expect, it } from 'vitest';
import {
  decide,
  EXPIRY_WAKE_MS,
  HAND_BACK_DELAY_MS,
  route,
  type Decision,
  type DecisionRules,
  type DeliveryPolicy,
  type DeliveryStep,
  type Happened,
} from '../../src/delivery/decide.js';
import type { DeliveryState } from '../../src/delivery/load.js';
import type { RecipientView } from '../../src/delivery/plan.js';
import type { SendResults, TargetResult } from '../../src/delivery/send.js';
import { DeliveryError, type DeliveryErrorKind } from '../../src/channels/types.js';
import type { StoredRecord } from '../../src/store/record.js';
import type { Attempt, ChannelName, Notification } from '../../src/types.js';
import type { AttemptCode } from '../../src/codes.js';

/** When the delivery was loaded, and when its send came back. */
const NOW = Date.parse('2026-12-01T10:00:00Z');
const SENT = NOW + 100;
const HOUR = 3_600_000;

const POLICY: DeliveryPolicy = {
  maxAttempts: 3,
  backoff: { baseMs: 1000, maxMs: 60_000 },
  statusRetentionSeconds: 86_400,
  deadLetterRetentionSeconds: 604_800,
  quietBypassPriority: 8,
};
/**
 * With the jitter fixed at 0.5, backoff retry n waits three quarters of 1000 * 2^(n-1) ms: 750, 1500,
 * 3000, 6000, 12000, …
 */
const HALF = () => 0.5;
const ALL: ReadonlySet<ChannelName> = new Set(['gotify', 'webpush', 'email', 'ntfy', 'webhook', 'inbox']);

function rules(extra: Partial<DecisionRules> = {}): DecisionRules {
  let issued = 0;
  return {
    policy: POLICY,
    env: { enabled: ALL, defaultChannels: ['gotify', 'webpush', 'email'] },
    sendable: ALL,
    newToken: () => `T${++issued}`,
    random: HALF,
    ...extra,
  };
}

function notification(extra: Partial<Notification> = {}): Notification {
  return { id: 'n-1', to: 'u-1', message: 'hi', priority: 5, ttlSeconds: 3600, ...extra };
}

function record(extra: Partial<StoredRecord> = {}): StoredRecord {
  return {
    notification: notification(),
    status: 'queued',
    createdAt: NOW - 10_000,
    updatedAt: NOW - 10_000,
    expiresAt: NOW + HOUR,
    token: 'T0',
    step: 0,
    tries: 0,
    round: 0,
    retrySteps: [],
    recipientKnown: true,
    attemptsOmitted: 0,
    replays: 0,
    ...extra,
  };
}

const HOOK = 'https://hooks.example.org/herald/AbC123';

const SUBSCRIPTION = { endpoint: 'https://push.example.org/x', keys: { p256dh: 'k', auth: 'a' }, createdAt: '2026-11-01T00:00:00Z' };

/** A registered recipient with a Gotify token, an email address and the given browsers. */
function recipient(subscriptions: string[] = ['sub-a', 'sub-b'], extra: Partial<RecipientView> = {}): RecipientView {
  return {
    addresses: { gotifyToken: 'Aown', email: 'a@example.org' },
    registered: true,
    subscriptions: new Map(subscriptions.map((id) => [id, SUBSCRIPTION])),
    online: false,
    pushAccepted: new Set(),
    ...extra,
  };
}

function state(r: StoredRecord, view: RecipientView = recipient(), pushRetry: string[] | null = null): DeliveryState {
  return {
    item: { id: r.notification.id, token: r.token, to: r.notification.to },
    record: r,
    recipient: view,
    pushRetry: pushRetry && new Set(pushRetry),
    loadedInTurn: 0,
  };
}

function ok(channel: ChannelName, targetId?: string): TargetResult {
  const attempt: Attempt = { channel, at: new Date(SENT).toISOString(), outcome: 'delivered', statusCode: 200, durationMs: 40 };
  if (targetId) attempt.subscriptionId = targetId;
  return { attempt, targetId };
}

function failed(channel: ChannelName, kind: DeliveryErrorKind, code: AttemptCode, extra: { targetId?: string; retryAfterMs?: number } = {}): TargetResult {
  const error = new DeliveryError(kind, code, 'the provider said no', { statusCode: 503, retryAfterMs: extra.retryAfterMs });
  const attempt: Attempt = {
    channel,
    at: new Date(SENT).toISOString(),
    outcome: kind === 'rate_limited' ? 'transient' : kind,
    code,
    error: error.message,
    statusCode: 503,
    durationMs: 40,
  };
  if (extra.targetId) attempt.subscriptionId = extra.targetId;
  return { attempt, error, targetId: extra.targetId };
}

/**
 * A delivery run as the processor runs it: routed when loaded (at NOW); if it is sent, `results`
 * are what the send gave (at SENT). `aborted`: shutdown cut the send short.
 */
function run(s: DeliveryState, channel: ChannelName, results: SendResults | null = null, options: { aborted?: boolean; rules?: DecisionRules } = {}): Decision {
  const r = options.rules ?? rules();
  const to = route(s, channel, NOW, r);
  if (to.kind !== 'send' && to.kind !== 'resend') return decide({ state: s, channel, happened: to, now: NOW, rules: r });
  if (!results) throw new Error(`the delivery was routed to a send (${to.kind}), but the row gives no results`);
  const aborted = options.aborted ?? false;
  const happened: Happened = to.kind === 'send' ? { kind: 'sent', chain: to.chain, move: to.move, results, aborted } : { kind: 'resent', results, aborted };
  return decide({ state: s, channel, happened, now: SENT, rules: r });
}

function abandon(s: DeliveryState, channel: ChannelName, reason: string): Decision {
  const step: DeliveryStep = { state: s, channel, happened: { kind: 'abandoned', reason }, now: NOW, rules: rules() };
  return decide(step);
}

const chainOf = (...channels: ChannelName[]) => notification({ channels });

/** A notification whose inbox item was stored and whose escalation to Gotify is due now. */
const escalationDue = (extra: Partial<StoredRecord> = {}) =>
  state(
    record({
      notification: notification({ channels: ['inbox', 'gotify'], escalateAfterSeconds: 300 }),
      status: 'delivering',
      step: 1,
      chain: ['inbox', 'gotify'],
      channel: 'inbox',
      ...extra,
    }),
  );
const item = (token: string) => ({ id: 'n-1', token, to: 'u-1' });
const at = (ms: number) => String(ms);

interface Row {
  name: string;
  decision: () => Decision;
  outcome: Decision['outcome'];
  /** The try reported (1 for the first). */
  attempt: number;
  /** How long the record is kept from now (s): set when the notification ends, else undefined. */
  keptFor: number | undefined;
  /** The record fields written, exactly; undefined when nothing is written. */
  set: Record<string, string> | undefined;
  /** The job queued with the decision, if any. */
  next?: Decision['next'];
  retry?: Decision['retry'];
  /** Other parts of the record change and report, as a subset. */
  also?: Record<string, unknown>;
}

const rows: Row[] = [
  {
    name: 'delivered: ends the notification, naming the channel and chain that delivered it',
    decision: () => run(state(record({ notification: chainOf('gotify', 'email') })), 'gotify', [ok('gotify')]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify","email"]' },
    also: {
      change: {
        attempts: [ok('gotify').attempt],
        // Latency counts from acceptance (createdAt) to the provider's answer.
        stats: { 'gotify:attempts': 1, 'gotify:outcome:delivered': 1, 'gotify:latencySumMs': 10_100, 'ended:delivered': 1 },
      },
    },
  },
  {
    name: 'delivered to one browser, another failed transiently: it is owed a retry after the backoff (pushRetry)',
    decision: () =>
      run(state(record({ notification: chainOf('webpush') })), 'webpush', [
        ok('webpush', 'sub-a'),
        failed('webpush', 'transient', 'HERALD_NET_ECONNRESET', { targetId: 'sub-b' }),
      ]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: {
      status: 'delivered',
      updatedAt: at(SENT),
      channel: 'webpush',
      step: '0',
      chain: '["webpush"]',
      token: 'T1',
      tries: '1',
      pushRetry: '{"token":"T1","ids":["sub-b"]}',
    },
    next: { channel: 'webpush', item: item('T1'), delayMs: 750 },
    retry: { delayMs: 750, code: 'HERALD_NET_ECONNRESET' },
    also: { change: { accepted: ['sub-a'], stats: { 'webpush:attempts': 2, 'webpush:outcome:transient': 1 } } },
  },
  {
    name: 'delivered, but no browser retry is queued that could only come after the expiry',
    decision: () =>
      run(state(record({ notification: chainOf('webpush'), expiresAt: SENT + 500 })), 'webpush', [
        ok('webpush', 'sub-a'),
        failed('webpush', 'transient', 'HERALD_NET_ECONNRESET', { targetId: 'sub-b' }),
      ]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'webpush', step: '0', chain: '["webpush"]' },
  },
  {
    name: 'transient with tries left: the same channel again after the backoff',
    decision: () => run(state(record({ notification: chainOf('gotify', 'email') })), 'gotify', [failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503')]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify","email"]', token: 'T1', tries: '1', pushRetry: '' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 750 },
    retry: { delayMs: 750, code: 'HERALD_GOTIFY_HTTP_503' },
    also: { change: { stats: { 'gotify:attempts': 1, 'gotify:outcome:transient': 1 } } },
  },
  {
    name: 'transient, second try: the backoff grows',
    decision: () =>
      run(state(record({ notification: chainOf('gotify', 'email'), status: 'delivering', tries: 1 })), 'gotify', [
        failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503'),
      ]),
    outcome: 'retry',
    attempt: 2,
    keptFor: undefined,
    set: { status: 'delivering', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify","email"]', token: 'T1', tries: '2', pushRetry: '' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 1500 },
    retry: { delayMs: 1500, code: 'HERALD_GOTIFY_HTTP_503' },
  },
  {
    name: "rate limited: waits the provider's Retry-After instead of the backoff",
    decision: () =>
      run(state(record({ notification: chainOf('gotify') })), 'gotify', [failed('gotify', 'rate_limited', 'HERALD_GOTIFY_HTTP_429', { retryAfterMs: 30_000 })]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify"]', token: 'T1', tries: '1', pushRetry: '' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 30_000 },
    retry: { delayMs: 30_000, code: 'HERALD_GOTIFY_HTTP_429' },
  },
  {
    name: 'a retry that would come after the expiry is queued for just after it',
    decision: () =>
      run(state(record({ notification: chainOf('gotify'), expiresAt: SENT + 300 })), 'gotify', [failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503')]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify"]', token: 'T1', tries: '1', pushRetry: '' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 300 + EXPIRY_WAKE_MS },
    retry: { delayMs: 300 + EXPIRY_WAKE_MS, code: 'HERALD_GOTIFY_HTTP_503' },
  },
  {
    name: 'a Web Push retry sends only to the browsers that failed transiently (pushRetry under the new token)',
    decision: () =>
      run(state(record({ notification: chainOf('webpush', 'email') })), 'webpush', [
        failed('webpush', 'permanent', 'HERALD_WEBPUSH_HTTP_400', { targetId: 'sub-a' }),
        failed('webpush', 'transient', 'HERALD_WEBPUSH_HTTP_503', { targetId: 'sub-b' }),
      ]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    set: {
      status: 'delivering',
      updatedAt: at(SENT),
      channel: 'webpush',
      step: '0',
      chain: '["webpush","email"]',
      token: 'T1',
      tries: '1',
      pushRetry: '{"token":"T1","ids":["sub-b"]}',
    },
    next: { channel: 'webpush', item: item('T1'), delayMs: 750 },
    retry: { delayMs: 750, code: 'HERALD_WEBPUSH_HTTP_503' },
  },
  {
    name: 'tries spent: the next channel at once, the channel remembered for the rounds',
    decision: () =>
      run(state(record({ notification: chainOf('gotify', 'email'), status: 'delivering', tries: 2 })), 'gotify', [
        failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503'),
      ]),
    outcome: 'handed-off',
    attempt: 3,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '1', tries: '0', chain: '["gotify","email"]', channel: 'email', updatedAt: at(SENT), retrySteps: '[0]' },
    next: { channel: 'email', item: item('T1'), delayMs: 0 },
  },
  {
    name: 'permanent: the next channel at once, not remembered',
    decision: () => run(state(record({ notification: chainOf('gotify', 'email') })), 'gotify', [failed('gotify', 'permanent', 'HERALD_GOTIFY_HTTP_401')]),
    outcome: 'handed-off',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '1', tries: '0', chain: '["gotify","email"]', channel: 'email', updatedAt: at(SENT) },
    next: { channel: 'email', item: item('T1'), delayMs: 0 },
    also: { change: { stats: { 'gotify:attempts': 1, 'gotify:outcome:permanent': 1 } } },
  },
  {
    name: 'gone: the subscription is removed and the chain moves on',
    decision: () =>
      run(state(record({ notification: chainOf('webpush', 'email') }), recipient(['sub-a'])), 'webpush', [
        failed('webpush', 'gone', 'HERALD_WEBPUSH_HTTP_410', { targetId: 'sub-a' }),
      ]),
    outcome: 'handed-off',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '1', tries: '0', chain: '["webpush","email"]', channel: 'email', updatedAt: at(SENT) },
    next: { channel: 'email', item: item('T1'), delayMs: 0 },
    also: { change: { removeSubscriptions: ['sub-a'] } },
  },
  {
    name: 'gone while it was the only way: dead letter, the subscription removed',
    decision: () =>
      run(state(record({ notification: chainOf('webpush') }), recipient(['sub-a'])), 'webpush', [
        failed('webpush', 'gone', 'HERALD_WEBPUSH_HTTP_410', { targetId: 'sub-a' }),
      ]),
    outcome: 'dead-lettered',
    attempt: 1,
    keptFor: POLICY.deadLetterRetentionSeconds,
    set: { status: 'failed', failedAt: at(SENT), updatedAt: at(SENT), chain: '["webpush"]', step: '1' },
    also: { code: 'HERALD_WEBPUSH_HTTP_410', change: { removeSubscriptions: ['sub-a'], deadLetter: 'add' } },
  },
  {
    name: "webhook gone (410): the recipient's webhook URL is removed, if it is still the one sent to, and the chain moves on",
    decision: () =>
      run(state(record({ notification: chainOf('webhook', 'email') }), recipient([], { addresses: { webhookUrl: HOOK, email: 'a@example.org' } })), 'webhook', [
        failed('webhook', 'gone', 'HERALD_WEBHOOK_HTTP_410'),
      ]),
    outcome: 'handed-off',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '1', tries: '0', chain: '["webhook","email"]', channel: 'email', updatedAt: at(SENT) },
    next: { channel: 'email', item: item('T1'), delayMs: 0 },
    also: { change: { removeAddress: { field: 'webhookUrl', value: HOOK }, stats: { 'webhook:attempts': 1, 'webhook:outcome:gone': 1 } } },
  },
  {
    name: 'webhook gone while it was the only way: dead letter, the URL removed',
    decision: () =>
      run(state(record({ notification: chainOf('webhook') }), recipient([], { addresses: { webhookUrl: HOOK } })), 'webhook', [
        failed('webhook', 'gone', 'HERALD_WEBHOOK_HTTP_410'),
      ]),
    outcome: 'dead-lettered',
    attempt: 1,
    keptFor: POLICY.deadLetterRetentionSeconds,
    set: { status: 'failed', failedAt: at(SENT), updatedAt: at(SENT), chain: '["webhook"]', step: '1' },
    also: { code: 'HERALD_WEBHOOK_HTTP_410', change: { removeAddress: { field: 'webhookUrl', value: HOOK }, deadLetter: 'add' } },
  },
  {
    name: 'exhausted: dead letter when no channel failed transiently',
    decision: () => run(state(record({ notification: chainOf('gotify') })), 'gotify', [failed('gotify', 'permanent', 'HERALD_GOTIFY_HTTP_401')]),
    outcome: 'dead-lettered',
    attempt: 1,
    keptFor: POLICY.deadLetterRetentionSeconds,
    set: { status: 'failed', failedAt: at(SENT), updatedAt: at(SENT), chain: '["gotify"]', step: '1' },
    also: {
      code: 'HERALD_GOTIFY_HTTP_401',
      change: {
        deadLetter: 'add',
        deadLetterScore: SENT,
        deadLetterRetentionSeconds: POLICY.deadLetterRetentionSeconds,
        stats: { 'gotify:attempts': 1, 'gotify:outcome:permanent': 1, 'ended:failed': 1 },
      },
    },
  },
  {
    name: 'exhausted before any send: every channel passed over, each attempt saying why',
    decision: () =>
      run(state(record({ notification: chainOf('gotify') })), 'gotify', null, { rules: rules({ env: { enabled: new Set(['email']), defaultChannels: [] } }) }),
    outcome: 'dead-lettered',
    attempt: 0,
    keptFor: POLICY.deadLetterRetentionSeconds,
    set: { status: 'failed', failedAt: at(NOW), updatedAt: at(NOW), chain: '["gotify"]', step: '1' },
    also: {
      code: 'HERALD_CHANNEL_DISABLED',
      change: {
        attempts: [
          {
            channel: 'gotify',
            at: new Date(NOW).toISOString(),
            outcome: 'skipped',
            code: 'HERALD_CHANNEL_DISABLED',
            error: 'gotify is not configured',
            durationMs: 0,
          },
        ],
      },
    },
  },
  {
    name: 'an outage at the chain end: a round over the channels that failed transiently, after a growing backoff',
    decision: () =>
      run(state(record({ notification: chainOf('gotify', 'email'), status: 'delivering', step: 1, tries: 2, retrySteps: [0] })), 'email', [
        failed('email', 'transient', 'HERALD_SMTP_421'),
      ]),
    outcome: 'retry',
    attempt: 3,
    keptFor: undefined,
    // Round 1 waits as a fourth try would have (backoff retry 3: 3000 ms), and starts at the first channel.
    set: {
      status: 'delivering',
      token: 'T1',
      step: '0',
      tries: '0',
      chain: '["gotify","email"]',
      channel: 'gotify',
      updatedAt: at(SENT),
      round: '1',
      retrySteps: '[0,1]',
    },
    next: { channel: 'gotify', item: item('T1'), delayMs: 3000 },
    retry: { delayMs: 3000, code: 'HERALD_SMTP_421' },
  },
  {
    name: 'a later round waits longer, and never less than a Retry-After',
    decision: () =>
      run(state(record({ notification: chainOf('gotify'), status: 'delivering', round: 2, retrySteps: [0] })), 'gotify', [
        failed('gotify', 'rate_limited', 'HERALD_GOTIFY_HTTP_429', { retryAfterMs: 20_000 }),
      ]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    // Round 3's backoff (retry 5: 12000 ms) is shorter than the Retry-After.
    set: { status: 'delivering', token: 'T1', step: '0', tries: '0', chain: '["gotify"]', channel: 'gotify', updatedAt: at(SENT), round: '3' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 20_000 },
    retry: { delayMs: 20_000, code: 'HERALD_GOTIFY_HTTP_429' },
  },
  {
    name: 'a round that comes after the expiry is queued for just after it',
    decision: () =>
      run(state(record({ notification: chainOf('gotify'), status: 'delivering', round: 4, retrySteps: [0], expiresAt: SENT + 1000 })), 'gotify', [
        failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503'),
      ]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '0', tries: '0', chain: '["gotify"]', channel: 'gotify', updatedAt: at(SENT), round: '5' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 1000 + EXPIRY_WAKE_MS },
    retry: { delayMs: 1000 + EXPIRY_WAKE_MS, code: 'HERALD_GOTIFY_HTTP_503' },
  },
  {
    name: 'expired before the send: nothing is sent late',
    decision: () => run(state(record({ expiresAt: NOW, tries: 1, status: 'delivering' })), 'gotify'),
    outcome: 'expired',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'expired', updatedAt: at(NOW) },
    also: { change: { attempts: [], stats: { 'ended:expired': 1 } } },
  },
  {
    name: 'expired while the send waited for a slot',
    decision: () => run(state(record({ notification: chainOf('gotify') })), 'gotify', 'expired'),
    outcome: 'expired',
    attempt: 0,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'expired', updatedAt: at(SENT) },
  },
  {
    name: 'skipped: the recipient is online and the notification says skipIfOnline',
    decision: () => run(state(record({ notification: notification({ skipIfOnline: true }) }), recipient([], { online: true })), 'gotify'),
    outcome: 'skipped',
    attempt: 0,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'skipped', updatedAt: at(NOW) },
    also: {
      change: {
        attempts: [
          {
            channel: 'gotify',
            at: new Date(NOW).toISOString(),
            outcome: 'skipped',
            code: 'HERALD_RECIPIENT_ONLINE',
            error: 'the recipient is online',
            durationMs: 0,
          },
        ],
        stats: { 'gotify:outcome:skipped': 1, 'ended:skipped': 1 },
      },
    },
  },
  {
    name: 'skipped: the recipient is not registered',
    decision: () => run(state(record({ recipientKnown: false }), { ...recipient([]), addresses: null, registered: false }), 'gotify'),
    outcome: 'skipped',
    attempt: 0,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'skipped', updatedAt: at(NOW) },
    also: { change: { attempts: [expect.objectContaining({ code: 'HERALD_UNKNOWN_RECIPIENT' })] } },
  },
  {
    name: 'stale: the record ended already (a duplicate job); nothing is written',
    decision: () => run(state(record({ status: 'delivered' })), 'gotify'),
    outcome: 'stale',
    attempt: 0,
    keptFor: undefined,
    set: undefined,
  },
  {
    name: 'elsewhere: the chain goes on on another channel, untried (queued)',
    decision: () => run(state(record({ notification: chainOf('email', 'gotify') })), 'gotify'),
    outcome: 'handed-off',
    attempt: 0,
    keptFor: undefined,
    set: { status: 'queued', token: 'T1', step: '0', tries: '0', chain: '["email","gotify"]', channel: 'email', updatedAt: at(NOW) },
    next: { channel: 'email', item: item('T1'), delayMs: 0 },
  },
  {
    name: 'elsewhere: a channel without an address is passed over, and the record says why',
    decision: () => run(state(record({ notification: chainOf('webpush', 'gotify') }), recipient([])), 'webpush'),
    outcome: 'handed-off',
    attempt: 0,
    keptFor: undefined,
    set: { status: 'queued', token: 'T1', step: '1', tries: '0', chain: '["webpush","gotify"]', channel: 'gotify', updatedAt: at(NOW) },
    next: { channel: 'gotify', item: item('T1'), delayMs: 0 },
    also: { change: { attempts: [expect.objectContaining({ channel: 'webpush', outcome: 'skipped', code: 'HERALD_NO_ADDRESS' })] } },
  },
  {
    name: 'elsewhere: this process has no adapter for the channel; the delivery goes back to its queue',
    decision: () =>
      run(state(record({ notification: chainOf('gotify'), status: 'delivering' })), 'gotify', null, { rules: rules({ sendable: new Set(['email']) }) }),
    outcome: 'handed-off',
    attempt: 0,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '0', tries: '0', chain: '["gotify"]', channel: 'gotify', updatedAt: at(NOW) },
    next: { channel: 'gotify', item: item('T1'), delayMs: 0 },
  },
  {
    name: 'hand-back: shutdown cut the send short before any target accepted',
    decision: () =>
      run(state(record({ notification: chainOf('gotify'), status: 'delivering', tries: 1 })), 'gotify', [failed('gotify', 'transient', 'HERALD_NET_ABORTED')], {
        aborted: true,
      }),
    outcome: 'handed-back',
    attempt: 2,
    keptFor: undefined,
    set: { token: 'T1', updatedAt: at(SENT) },
    next: { channel: 'gotify', item: item('T1'), delayMs: HAND_BACK_DELAY_MS },
    also: { change: { set: { token: 'T1', updatedAt: at(SENT) } } },
  },
  {
    name: 'hand-back of a Web Push retry: the browsers still owed go with the new token',
    decision: () =>
      run(
        state(record({ notification: chainOf('webpush'), status: 'delivering', tries: 1 }), recipient(), ['sub-b']),
        'webpush',
        [failed('webpush', 'transient', 'HERALD_NET_ABORTED', { targetId: 'sub-b' })],
        { aborted: true },
      ),
    outcome: 'handed-back',
    attempt: 2,
    keptFor: undefined,
    set: { token: 'T1', updatedAt: at(SENT), pushRetry: '{"token":"T1","ids":["sub-b"]}' },
    next: { channel: 'webpush', item: item('T1'), delayMs: HAND_BACK_DELAY_MS },
  },
  {
    name: 'shutdown after a target accepted: delivered, not handed back',
    decision: () => run(state(record({ notification: chainOf('gotify') })), 'gotify', [ok('gotify')], { aborted: true }),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify"]' },
  },
  {
    name: "a delivered notification's owed browser accepts: nothing more is owed, the status stays delivered",
    decision: () => run(state(record({ status: 'delivered', tries: 1 }), recipient(), ['sub-b']), 'webpush', [ok('webpush', 'sub-b')]),
    outcome: 'delivered',
    attempt: 2,
    keptFor: undefined,
    set: { updatedAt: at(SENT), pushRetry: '' },
    also: { change: { accepted: ['sub-b'], stats: { 'webpush:outcome:delivered': 1 } } },
  },
  {
    name: "a delivered notification's owed browser fails transiently again: another retry, the backoff growing",
    decision: () =>
      run(state(record({ status: 'delivered', tries: 1 }), recipient(), ['sub-b']), 'webpush', [
        failed('webpush', 'transient', 'HERALD_WEBPUSH_HTTP_503', { targetId: 'sub-b' }),
      ]),
    outcome: 'delivered',
    attempt: 2,
    keptFor: undefined,
    set: { updatedAt: at(SENT), pushRetry: '{"token":"T1","ids":["sub-b"]}', token: 'T1', tries: '2' },
    next: { channel: 'webpush', item: item('T1'), delayMs: 1500 },
    retry: { delayMs: 1500, code: 'HERALD_WEBPUSH_HTTP_503' },
  },
  {
    name: "a delivered notification's owed browser is gone: removed, nothing more owed",
    decision: () =>
      run(state(record({ status: 'delivered', tries: 1 }), recipient(), ['sub-b']), 'webpush', [
        failed('webpush', 'gone', 'HERALD_WEBPUSH_HTTP_410', { targetId: 'sub-b' }),
      ]),
    outcome: 'delivered',
    attempt: 2,
    keptFor: undefined,
    set: { updatedAt: at(SENT), pushRetry: '' },
    also: { change: { removeSubscriptions: ['sub-b'] } },
  },
  {
    name: 'the owed browsers of a notification that expired meanwhile: nothing sent, nothing more owed',
    decision: () => run(state(record({ status: 'delivered', tries: 1 }), recipient(), ['sub-b']), 'webpush', 'expired'),
    outcome: 'delivered',
    attempt: 2,
    keptFor: undefined,
    set: { updatedAt: at(SENT), pushRetry: '' },
    also: { change: { attempts: [] } },
  },
  {
    name: 'abandoned (BullMQ failed the job by itself): dead letter, with an attempt that says so',
    decision: () =>
      abandon(state(record({ notification: chainOf('gotify', 'email'), status: 'delivering', tries: 1 })), 'gotify', `stalled ${'x'.repeat(300)}`),
    outcome: 'dead-lettered',
    attempt: 1,
    keptFor: POLICY.deadLetterRetentionSeconds,
    set: { status: 'failed', failedAt: at(NOW), updatedAt: at(NOW), chain: '["gotify","email"]', step: '2' },
    also: {
      code: 'HERALD_JOB_ABANDONED',
      change: {
        attempts: [
          {
            channel: 'gotify',
            at: new Date(NOW).toISOString(),
            outcome: 'transient',
            code: 'HERALD_JOB_ABANDONED',
            error: `stalled ${'x'.repeat(192)}`,
            durationMs: 0,
          },
        ],
        deadLetter: 'add',
      },
    },
  },
  {
    name: 'abandoned after the notification ended: stale, nothing written',
    decision: () => abandon(state(record({ status: 'expired' })), 'gotify', 'stalled'),
    outcome: 'stale',
    attempt: 0,
    keptFor: undefined,
    set: undefined,
  },
  {
    name: 'overtaken while it waited for a slot (a cancel gave the record a new token): nothing sent, nothing written',
    decision: () => run(state(record()), 'gotify', 'stale'),
    outcome: 'stale',
    attempt: 0,
    keptFor: undefined,
    set: undefined,
  },
  {
    name: "a Web Push resend overtaken while it waited for a slot: nothing written, the owed browsers are another job's",
    decision: () => run(state(record({ status: 'delivered', notification: chainOf('webpush') }), recipient(), ['sub-b']), 'webpush', 'stale'),
    outcome: 'stale',
    attempt: 0,
    keptFor: undefined,
    set: undefined,
  },
  {
    name: 'a grouped notification that ends delivered leaves its group (cancelGroup no longer finds it)',
    decision: () => run(state(record({ notification: notification({ groupKey: 'room:42' }) })), 'gotify', [ok('gotify')]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify","webpush","email"]' },
    also: { change: { leaveGroup: 'room:42' } },
  },
  {
    name: 'a grouped notification that expires leaves its group',
    decision: () => run(state(record({ notification: notification({ groupKey: 'room:42' }), expiresAt: NOW })), 'gotify'),
    outcome: 'expired',
    attempt: 0,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'expired', updatedAt: at(NOW) },
    also: { change: { leaveGroup: 'room:42' } },
  },
  {
    name: 'a grouped notification that is dead-lettered leaves its group',
    decision: () =>
      run(state(record({ notification: notification({ groupKey: 'room:42', channels: ['gotify'] }) })), 'gotify', [
        failed('gotify', 'permanent', 'HERALD_GOTIFY_HTTP_401'),
      ]),
    outcome: 'dead-lettered',
    attempt: 1,
    keptFor: POLICY.deadLetterRetentionSeconds,
    set: { status: 'failed', failedAt: at(SENT), updatedAt: at(SENT), chain: '["gotify"]', step: '1' },
    also: { change: { leaveGroup: 'room:42', deadLetter: 'add' } },
  },
  {
    name: 'a grouped notification retried is still pending: it stays in its group',
    decision: () =>
      run(state(record({ notification: notification({ groupKey: 'room:42', channels: ['gotify'] }) })), 'gotify', [
        failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503'),
      ]),
    outcome: 'retry',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify"]', token: 'T1', tries: '1', pushRetry: '' },
    next: { channel: 'gotify', item: item('T1'), delayMs: 750 },
    retry: { delayMs: 750, code: 'HERALD_GOTIFY_HTTP_503' },
    also: { change: expect.not.objectContaining({ leaveGroup: expect.anything() }) },
  },
  {
    name: 'a notification without a recipient is in no group, even with a groupKey',
    decision: () =>
      run(state(record({ notification: notification({ to: undefined, groupKey: 'room:42', targets: { gotify: { token: 'Aexplicit' } } }) })), 'gotify', [
        ok('gotify'),
      ]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'gotify', step: '0', chain: '["gotify","webpush","email"]' },
    also: { change: expect.not.objectContaining({ leaveGroup: expect.anything() }) },
  },
  {
    name: 'inbox with escalation: stored, the next channel queued for escalateAfterSeconds later, waiting delivering on the inbox',
    decision: () => run(state(record({ notification: notification({ channels: ['inbox', 'gotify'], escalateAfterSeconds: 300 }) })), 'inbox', [ok('inbox')]),
    outcome: 'escalating',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '1', tries: '0', chain: '["inbox","gotify"]', channel: 'inbox', updatedAt: at(SENT) },
    next: { channel: 'gotify', item: item('T1'), delayMs: 300_000 },
    also: { change: { attempts: [ok('inbox').attempt], stats: { 'inbox:attempts': 1, 'inbox:outcome:delivered': 1 } } },
  },
  {
    name: 'inbox with escalation: channels without an address after the inbox are passed over now, recorded as skipped',
    decision: () =>
      run(state(record({ notification: notification({ channels: ['inbox', 'ntfy', 'email'], escalateAfterSeconds: 60 }) })), 'inbox', [ok('inbox')]),
    outcome: 'escalating',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '2', tries: '0', chain: '["inbox","ntfy","email"]', channel: 'inbox', updatedAt: at(SENT) },
    next: { channel: 'email', item: item('T1'), delayMs: 60_000 },
    also: { change: { attempts: [ok('inbox').attempt, expect.objectContaining({ channel: 'ntfy', outcome: 'skipped', code: 'HERALD_NO_ADDRESS' })] } },
  },
  {
    name: 'inbox with escalation and nothing usable after it: delivered at once',
    decision: () => run(state(record({ notification: notification({ channels: ['inbox', 'ntfy'], escalateAfterSeconds: 60 }) })), 'inbox', [ok('inbox')]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'inbox', step: '0', chain: '["inbox","ntfy"]' },
  },
  {
    name: 'inbox with escalation: a wait that would end after the expiry ends just after it (the step then ends expired)',
    decision: () =>
      run(state(record({ notification: notification({ channels: ['inbox', 'gotify'], escalateAfterSeconds: 600 }), expiresAt: SENT + 1000 })), 'inbox', [
        ok('inbox'),
      ]),
    outcome: 'escalating',
    attempt: 1,
    keptFor: undefined,
    set: { status: 'delivering', token: 'T1', step: '1', tries: '0', chain: '["inbox","gotify"]', channel: 'inbox', updatedAt: at(SENT) },
    next: { channel: 'gotify', item: item('T1'), delayMs: 1000 + EXPIRY_WAKE_MS },
  },
  {
    name: 'inbox without escalation: delivered, the chain goes no further',
    decision: () => run(state(record({ notification: chainOf('inbox', 'gotify') })), 'inbox', [ok('inbox')]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'inbox', step: '0', chain: '["inbox","gotify"]' },
  },
  {
    name: 'the escalation step finds the item read: delivered by the inbox, nothing sent, counted as an end',
    decision: () =>
      run(
        escalationDue({
          notification: notification({ channels: ['inbox', 'gotify'], escalateAfterSeconds: 300, groupKey: 'room:1' }),
          inboxReadAt: NOW - 5000,
        }),
        'gotify',
      ),
    outcome: 'delivered',
    attempt: 0,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', channel: 'inbox', updatedAt: at(NOW) },
    also: { change: { attempts: [], stats: { 'ended:delivered': 1 }, leaveGroup: 'room:1' } },
  },
  {
    name: 'an item read before its own inbox step committed: a later step past the expiry still ends delivered, not expired',
    decision: () => run(escalationDue({ expiresAt: NOW - 1, inboxReadAt: NOW - 5000 }), 'gotify'),
    outcome: 'delivered',
    attempt: 0,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', channel: 'inbox', updatedAt: at(NOW) },
  },
  {
    name: 'the escalation step finds the item unread: sends on the next channel',
    decision: () => run(escalationDue(), 'gotify', [ok('gotify')]),
    outcome: 'delivered',
    attempt: 1,
    keptFor: POLICY.statusRetentionSeconds,
    set: { status: 'delivered', updatedAt: at(SENT), channel: 'gotify', step: '1', chain: '["inbox","gotify"]' },
  },
];

describe('what a delivery step means (decide)', () => {
  it.each(rows)('$name', (row) => {
    const decision = row.decision();
    expect(decision.outcome).toBe(row.outcome);
    expect(decision.attempt).toBe(row.attempt);
    expect(decision.id).toBe('n-1');
    expect(decision.change?.set).toEqual(row.set);
    expect(decision.change?.expireSeconds).toBe(row.keptFor);
    expect(decision.next).toEqual(row.next);
    expect(decision.retry).toEqual(row.retry);
    if (row.also) expect(decision).toMatchObject(row.also);
  });

  it.each(rows.filter((row) => row.next))('$name: the next job carries the token the same change writes', (row) => {
    const decision = row.decision();
    expect(decision.change?.set?.token).toBeDefined();
    expect(decision.next?.item.token).toBe(decision.change?.set?.token);
  });

  it('is deterministic: the same step decides the same', () => {
    const s = state(record({ notification: chainOf('gotify', 'email'), status: 'delivering', tries: 2 }));
    const results = [failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503')];
    expect(run(s, 'gotify', results)).toEqual(run(s, 'gotify', results));
  });

  it('leaves the step it reads as it was', () => {
    const r = record({ notification: chainOf('gotify', 'email'), status: 'delivering', tries: 2, retrySteps: [1] });
    const s = state(r);
    const before = structuredClone(s);
    run(s, 'gotify', [failed('gotify', 'transient', 'HERALD_GOTIFY_HTTP_503')]);
    expect(s).toEqual(before);
  });
});

describe('where a loaded delivery goes before any send (route)', () => {
  const at = (s: DeliveryState, channel: ChannelName, extra: Partial<DecisionRules> = {}) => route(s, channel, NOW, rules(extra));

  it('sends on the channel whose queue ran it, at the step the record stands', () => {
    expect(at(state(record({ notification: chainOf('webpush', 'gotify'), step: 1 })), 'gotify')).toMatchObject({
      kind: 'send',
      chain: ['webpush', 'gotify'],
      move: { step: 1, channel: 'gotify', round: 0, newRound: false },
    });
  });

  it("resends only a delivered notification's owed browsers, on the Web Push queue of a process that can send them", () => {
    const owed = state(record({ status: 'delivered' }), recipient(), ['sub-b']);
    expect(at(owed, 'webpush')).toEqual({ kind: 'resend' });
    expect(at(owed, 'gotify')).toEqual({ kind: 'stale' });
    expect(at(owed, 'webpush', { sendable: new Set(['gotify']) })).toEqual({ kind: 'stale' });
  });

  it('hands on a delivery whose chain is in a new round, rather than sending it before the round is due', () => {
    const r = record({ notification: chainOf('gotify'), status: 'delivering', step: 1, retrySteps: [0] });
    expect(at(state(r), 'gotify')).toMatchObject({ kind: 'elsewhere', move: { step: 0, round: 1, newRound: true } });
  });
});

describe("the recipient's preferences and presence", () => {
  const NIGHT = { timezone: 'Europe/Paris', start: '22:00', end: '07:00' };

  /**
   * A delivery of `n` to a recipient with `preferences`, routed and decided at `now` on the Gotify
   * queue as the processor would (a send, if routed to one, delivers).
   */
  function deliverAt(
    now: string,
    options: {
      notification?: Partial<Notification>;
      preferences?: RecipientView['preferences'];
      view?: Partial<RecipientView>;
      record?: Partial<StoredRecord>;
    } = {},
  ): Decision {
    const at = Date.parse(now);
    const r = record({
      notification: notification({ channels: ['gotify', 'email'], ...options.notification }),
      createdAt: at - 10_000,
      updatedAt: at - 10_000,
      expiresAt: at + 24 * HOUR,
      ...options.record,
    });
    const view = recipient([], { preferences: options.preferences, ...options.view });
    const s = state(r, view);
    const rs = rules();
    const to = route(s, 'gotify', at, rs);
    if (to.kind === 'send')
      return decide({
        state: s,
        channel: 'gotify',
        happened: { kind: 'sent', chain: to.chain, move: to.move, results: [ok(to.move.channel)], aborted: false },
        now: at,
        rules: rs,
      });
    if (to.kind === 'resend') throw new Error('not a resend');
    return decide({ state: s, channel: 'gotify', happened: to, now: at, rules: rs });
  }

  interface QuietRow {
    name: string;
    now: string;
    timezone?: string;
    priority?: number;
    /** How long the delivery is held, or null: it is sent now. */
    heldForMs: number | null;
  }

  const quietRows: QuietRow[] = [
    { name: 'inside the window, before midnight: held until 07:00 the next morning', now: '2026-06-10T21:30:00Z', heldForMs: 7.5 * HOUR },
    { name: 'inside the window, after midnight: held until 07:00 that morning', now: '2026-06-11T01:00:00Z', heldForMs: 4 * HOUR },
    { name: 'outside the window: sent', now: '2026-06-11T10:00:00Z', heldForMs: null },
    { name: 'at the end of the window: sent', now: '2026-06-11T05:00:00Z', heldForMs: null },
    { name: 'Europe/Paris, the night the clocks go forward: 22:00 to 07:00 is 8 h', now: '2026-03-28T21:00:00Z', heldForMs: 8 * HOUR },
    { name: 'Europe/Paris, the night the clocks go back: 22:00 to 07:00 is 10 h', now: '2026-10-24T20:00:00Z', heldForMs: 10 * HOUR },
    {
      name: 'America/New_York, the night the clocks go forward: 22:00 to 07:00 is 8 h',
      timezone: 'America/New_York',
      now: '2026-03-08T03:00:00Z',
      heldForMs: 8 * HOUR,
    },
    {
      name: 'America/New_York, the night the clocks go back: 22:00 to 07:00 is 10 h',
      timezone: 'America/New_York',
      now: '2026-11-01T02:00:00Z',
      heldForMs: 10 * HOUR,
    },
    { name: 'priority 8, the default bypass: a call rings through', now: '2026-06-10T21:30:00Z', priority: 8, heldForMs: null },
    { name: 'priority 7, under the bypass: held', now: '2026-06-10T21:30:00Z', priority: 7, heldForMs: 7.5 * HOUR },
  ];

  it.each(quietRows)('quiet hours: $name', ({ now, timezone = NIGHT.timezone, priority, heldForMs }) => {
    const decision = deliverAt(now, { notification: priority === undefined ? {} : { priority }, preferences: { quietHours: { ...NIGHT, timezone } } });
    if (heldForMs === null) {
      expect(decision.outcome).toBe('delivered');
      return;
    }
    expect(decision.outcome).toBe('held');
    // Nothing recorded but a new token: the notification waits as `scheduled`, on the same queue.
    expect(decision.change).toEqual({ set: { token: 'T1', updatedAt: String(Date.parse(now)), status: 'scheduled' } });
    expect(decision.next).toEqual({ channel: 'gotify', item: item('T1'), delayMs: heldForMs });
  });

  it('quiet hours: a ttl that runs out before the window ends holds the delivery only until just after its expiry, where it ends expired', () => {
    const now = '2026-06-10T21:30:00Z';
    const expiresAt = Date.parse(now) + HOUR;
    const held = deliverAt(now, { preferences: { quietHours: NIGHT }, record: { expiresAt } });
    expect(held.next?.delayMs).toBe(HOUR + EXPIRY_WAKE_MS);
    const woken = deliverAt(new Date(expiresAt + EXPIRY_WAKE_MS).toISOString(), { preferences: { quietHours: NIGHT }, record: { expiresAt } });
    expect(woken.outcome).toBe('expired');
    expect(woken.change?.set).toMatchObject({ status: 'expired' });
    expect(woken.next).toBeUndefined();
  });

  it('quiet hours: a retry held in the window stays delivering (it was tried) and keeps its tries', () => {
    const decision = deliverAt('2026-06-10T21:30:00Z', { preferences: { quietHours: NIGHT }, record: { status: 'delivering', tries: 2 } });
    expect(decision.outcome).toBe('held');
    expect(decision.change?.set).toEqual({ token: 'T1', updatedAt: String(Date.parse('2026-06-10T21:30:00Z')) });
  });

  it('quiet hours: a chain with nowhere to go is dead-lettered at once, not at the end of the window', () => {
    const decision = deliverAt('2026-06-10T21:30:00Z', {
      preferences: { quietHours: NIGHT },
      view: { addresses: { email: 'a@example.org' } },
      notification: { channels: ['gotify'] },
    });
    expect(decision.outcome).toBe('dead-lettered');
  });

  it('a muted category ends skipped (HERALD_MUTED), counted as a skip by that reason; quiet hours do not matter then', () => {
    const decision = deliverAt('2026-06-10T21:30:00Z', {
      notification: { category: 'chat' },
      preferences: { muteCategories: ['file', 'chat'], quietHours: NIGHT },
    });
    expect(decision.outcome).toBe('skipped');
    expect(decision.change).toMatchObject({
      set: { status: 'skipped' },
      attempts: [{ channel: 'gotify', outcome: 'skipped', code: 'HERALD_MUTED' }],
      stats: { 'gotify:outcome:skipped': 1, 'skip:HERALD_MUTED': 1, 'ended:skipped': 1 },
    });
    expect(deliverAt('2026-06-11T10:00:00Z', { notification: { category: 'call' }, preferences: { muteCategories: ['chat'] } }).outcome).toBe('delivered');
  });

  it('a muted channel is left out of the chain even when the notification names it: recorded as skipped, the chain goes on', () => {
    const decision = deliverAt('2026-06-11T10:00:00Z', { preferences: { muteChannels: ['gotify'] } });
    expect(decision.outcome).toBe('handed-off');
    expect(decision.next).toMatchObject({ channel: 'email', delayMs: 0 });
    expect(decision.change).toMatchObject({
      set: { status: 'queued', step: '1', channel: 'email' },
      attempts: [{ channel: 'gotify', outcome: 'skipped', code: 'HERALD_CHANNEL_MUTED', error: 'the recipient muted gotify' }],
      stats: { 'gotify:outcome:skipped': 1, 'skip:HERALD_CHANNEL_MUTED': 1 },
    });
  });

  it('every channel of the chain muted: skipped with HERALD_CHANNEL_MUTED, not a dead letter', () => {
    const decision = deliverAt('2026-06-11T10:00:00Z', { preferences: { muteChannels: ['email', 'gotify'] } });
    expect(decision.outcome).toBe('skipped');
    expect(decision.change).toMatchObject({
      set: { status: 'skipped' },
      attempts: [{ outcome: 'skipped', code: 'HERALD_CHANNEL_MUTED', error: 'the recipient muted every channel of the chain (gotify, email)' }],
    });
    expect(decision.change?.deadLetter).toBeUndefined();
  });

  it('skipIfPresentIn skips only a recipient with a live presence in that context (HERALD_RECIPIENT_PRESENT)', () => {
    const now = '2026-06-11T10:00:00Z';
    const inRoom = deliverAt(now, { notification: { skipIfPresentIn: 'room:42' }, view: { online: true, presentIn: new Set(['room:7', 'room:42']) } });
    expect(inRoom.outcome).toBe('skipped');
    expect(inRoom.change).toMatchObject({ attempts: [{ code: 'HERALD_RECIPIENT_PRESENT' }], stats: { 'skip:HERALD_RECIPIENT_PRESENT': 1 } });
    expect(deliverAt(now, { notification: { skipIfPresentIn: 'room:42' }, view: { online: true, presentIn: new Set(['room:7']) } }).outcome).toBe('delivered');
    // Online without a context (or on a release without devices): not present in the room.
    expect(deliverAt(now, { notification: { skipIfPresentIn: 'room:42' }, view: { online: true } }).outcome).toBe('delivered');
    // skipIfOnline is about any device, whatever its context.
    expect(deliverAt(now, { notification: { skipIfOnline: true }, view: { online: true, presentIn: new Set(['room:7']) } }).outcome).toBe('skipped');
  });
});
