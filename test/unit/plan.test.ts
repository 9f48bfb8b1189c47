import { describe, expect, it } from 'vitest';
import {
  afterFailure,
  categoryMuted,
  nextStep,
  quietHoursHold,
  recipientProblem,
  resolveChain,
  targetsFor,
  type ChannelEnvironment,
  type RecipientView,
} from '../../src/delivery/plan.js';
import { subscriptionId } from '../../src/store/recipients.js';
import type { ChannelName, Notification } from '../../src/types.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');
const ALL: ReadonlySet<ChannelName> = new Set(['gotify', 'webpush', 'email']);

function env(extra: Partial<ChannelEnvironment> = {}): ChannelEnvironment {
  return { enabled: ALL, defaultChannels: ['gotify', 'webpush', 'email'], ...extra };
}

function notification(extra: Partial<Notification> = {}): Notification {
  return { id: 'n-1', to: 'u-1', message: 'hi', priority: 5, ttlSeconds: 60, ...extra };
}

/** A recipient view: registered with the given addresses, or unknown when `addresses` is null. */
function recipient(addresses: RecipientView['addresses']): RecipientView {
  return { addresses, registered: addresses !== null, subscriptions: new Map(), online: false, pushAccepted: new Set() };
}

describe('whom a Gotify notification goes to, and with which token', () => {
  const cases: [string, Notification, RecipientView, ChannelEnvironment, unknown[]][] = [
    [
      'explicit token first',
      notification({ targets: { gotify: { token: 'Aexplicit' } } }),
      recipient({ gotifyToken: 'Aown' }),
      env({ gotifySharedToken: 'Ashared' }),
      [{ token: 'Aexplicit', tokenKind: 'explicit' }],
    ],
    [
      "then the recipient's own",
      notification(),
      recipient({ gotifyToken: 'Aown' }),
      env({ gotifySharedToken: 'Ashared' }),
      [{ token: 'Aown', tokenKind: 'recipient' }],
    ],
    [
      'the shared token for a registered recipient, when shared',
      notification(),
      recipient({ email: 'a@example.org' }),
      env({ gotifySharedToken: 'Ashared' }),
      [{ token: 'Ashared', tokenKind: 'shared' }],
    ],
    ['no Gotify address when the token is not shared', notification(), recipient({ email: 'a@example.org' }), env(), []],
    ['never the shared token for an unknown recipient', notification(), recipient(null), env({ gotifySharedToken: 'Ashared' }), []],
    [
      'never the shared token without a recipient',
      notification({ to: undefined, targets: { email: 'a@example.org' } }),
      { ...recipient(null), registered: false },
      env({ gotifySharedToken: 'Ashared' }),
      [],
    ],
    [
      'an explicit token for an unknown recipient',
      notification({ targets: { gotify: { token: 'Aexplicit' } } }),
      recipient(null),
      env({ gotifySharedToken: 'Ashared' }),
      [{ token: 'Aexplicit', tokenKind: 'explicit' }],
    ],
  ];
  it.each(cases)('%s', (_name, n, r, e, expected) => {
    expect(targetsFor('gotify', n, r, e)).toEqual(expected);
  });

  it('an email-only recipient reaches email when Gotify comes first and the token is not shared', () => {
    const next = nextStep(
      ['gotify', 'webpush', 'email'],
      { step: 0, round: 0, retrySteps: [] },
      notification(),
      recipient({ email: 'a@example.org' }),
      env(),
      NOW,
    );
    expect(next).toMatchObject({ kind: 'deliver', channel: 'email', step: 2 });
    if (next.kind === 'deliver')
      expect(next.skipped.map((a) => [a.channel, a.code])).toEqual([
        ['gotify', 'HERALD_NO_ADDRESS'],
        ['webpush', 'HERALD_NO_ADDRESS'],
      ]);
  });
});

describe('a recipient missing from the registry', () => {
  it('is unknown when it was not registered at acceptance, deleted when it was', () => {
    expect(recipientProblem(notification(), recipient(null), false)?.code).toBe('HERALD_UNKNOWN_RECIPIENT');
    expect(recipientProblem(notification(), recipient(null), true)?.code).toBe('HERALD_RECIPIENT_DELETED');
  });

  it('is no problem when the notification names explicit targets, or has no recipient, or the recipient is registered', () => {
    expect(recipientProblem(notification({ targets: { email: 'a@example.org' } }), recipient(null), true)).toBeNull();
    expect(recipientProblem(notification({ to: undefined, targets: { email: 'a@example.org' } }), recipient(null), false)).toBeNull();
    expect(recipientProblem(notification(), recipient({}), false)).toBeNull();
    expect(recipientProblem(notification({ targets: { webpush: [] } }), recipient(null), false)?.code).toBe('HERALD_UNKNOWN_RECIPIENT');
  });
});

describe('where the chain goes after a failure', () => {
  const chain: ChannelName[] = ['gotify', 'webpush', 'email'];
  // Gotify and email reachable; no Web Push subscription, so Web Push is passed over.
  const reachable = recipient({ gotifyToken: 'Aown', email: 'a@example.org' });
  const failed = (position: { step: number; round: number; retrySteps: number[]; tries: number }, transient: boolean, maxAttempts = 3, r = reachable) =>
    afterFailure(chain, position, transient, maxAttempts, notification(), r, env(), NOW);

  it('retries a transient failure on the same channel while the first pass has tries left', () => {
    expect(failed({ step: 0, round: 0, retrySteps: [], tries: 1 }, true)).toEqual({ kind: 'retry' });
  });

  it('moves on at once when the tries are spent, remembering the channel for later', () => {
    expect(failed({ step: 0, round: 0, retrySteps: [], tries: 2 }, true)).toMatchObject({
      kind: 'deliver',
      step: 2,
      channel: 'email',
      round: 0,
      retrySteps: [0],
      newRound: false,
    });
  });

  it('moves on at once after a permanent failure, without remembering the channel', () => {
    expect(failed({ step: 0, round: 0, retrySteps: [], tries: 0 }, false)).toMatchObject({
      kind: 'deliver',
      step: 2,
      round: 0,
      retrySteps: [],
      newRound: false,
    });
  });

  it('at the chain end, opens a round over the channels that failed transiently, in chain order', () => {
    expect(failed({ step: 2, round: 0, retrySteps: [0], tries: 2 }, true)).toMatchObject({
      kind: 'deliver',
      step: 0,
      channel: 'gotify',
      round: 1,
      retrySteps: [0, 2],
      newRound: true,
    });
    // The last channel refused for good: the first, which only had an outage, is tried again.
    expect(failed({ step: 2, round: 0, retrySteps: [0], tries: 0 }, false)).toMatchObject({
      kind: 'deliver',
      step: 0,
      round: 1,
      retrySteps: [0],
      newRound: true,
    });
  });

  it('dead-letters only when no channel failed transiently', () => {
    expect(failed({ step: 2, round: 0, retrySteps: [], tries: 0 }, false)).toMatchObject({ kind: 'exhausted' });
  });

  it('keeps retrying the only channel, one try per round', () => {
    expect(afterFailure(['gotify'], { step: 0, round: 0, retrySteps: [], tries: 2 }, true, 3, notification(), reachable, env(), NOW)).toMatchObject({
      kind: 'deliver',
      step: 0,
      round: 1,
      retrySteps: [0],
      newRound: true,
    });
    expect(afterFailure(['gotify'], { step: 0, round: 4, retrySteps: [0], tries: 0 }, true, 3, notification(), reachable, env(), NOW)).toMatchObject({
      kind: 'deliver',
      step: 0,
      round: 5,
      newRound: true,
    });
  });

  it('in a round, tries each channel once and goes to the next at once', () => {
    expect(failed({ step: 0, round: 1, retrySteps: [0, 2], tries: 0 }, true)).toMatchObject({
      kind: 'deliver',
      step: 2,
      round: 1,
      retrySteps: [0, 2],
      newRound: false,
    });
    // A permanent failure in a round takes the channel out of the rounds.
    expect(failed({ step: 0, round: 1, retrySteps: [0, 2], tries: 0 }, false)).toMatchObject({
      kind: 'deliver',
      step: 2,
      round: 1,
      retrySteps: [2],
      newRound: false,
    });
    expect(failed({ step: 2, round: 1, retrySteps: [2], tries: 0 }, false)).toMatchObject({ kind: 'exhausted' });
  });

  it('drops a channel from the rounds when it can no longer be tried, and says why', () => {
    const emailOnly = recipient({ email: 'a@example.org' });
    const next = failed({ step: 2, round: 1, retrySteps: [0, 2], tries: 0 }, true, 3, emailOnly);
    expect(next).toMatchObject({ kind: 'deliver', step: 2, round: 2, retrySteps: [2], newRound: true });
    if (next.kind === 'deliver') expect(next.skipped.map((a) => [a.channel, a.code])).toEqual([['gotify', 'HERALD_NO_ADDRESS']]);
  });
});

describe('the chain, and the targets of email and Web Push', () => {
  it("takes the notification's order, else the recipient's, else the deployment default, as a copy", () => {
    const preferring = recipient({ channels: ['email', 'gotify'] });
    expect(resolveChain(notification({ channels: ['webpush'] }), preferring, env())).toEqual(['webpush']);
    expect(resolveChain(notification(), preferring, env())).toEqual(['email', 'gotify']);
    const defaults = env({ defaultChannels: ['gotify'] });
    const chain = resolveChain(notification(), recipient({}), defaults);
    expect(chain).toEqual(['gotify']);
    chain.push('email');
    expect(defaults.defaultChannels).toEqual(['gotify']);
  });

  it('sends email to an explicit address before the registered one', () => {
    const registered = recipient({ email: 'own@example.org' });
    expect(targetsFor('email', notification({ targets: { email: 'explicit@example.org' } }), registered, env())).toEqual([{ address: 'explicit@example.org' }]);
    expect(targetsFor('email', notification(), registered, env())).toEqual([{ address: 'own@example.org' }]);
  });

  it('sends Web Push to the registered and explicit browsers once each, except those that already accepted', () => {
    const keys = { p256dh: 'k', auth: 'a' };
    const registered = { endpoint: 'https://push.example.org/registered', keys, createdAt: '2026-11-01T00:00:00Z' };
    const explicit = { endpoint: 'https://push.example.org/explicit', keys };
    const view: RecipientView = {
      ...recipient({}),
      subscriptions: new Map([
        [subscriptionId(registered.endpoint), registered],
        ['accepted-already', { ...registered, endpoint: 'https://push.example.org/accepted' }],
      ]),
      pushAccepted: new Set(['accepted-already']),
    };
    // The registered browser named again explicitly is still one target.
    const targets = targetsFor('webpush', notification({ targets: { webpush: [explicit, registered] } }), view, env());
    expect(targets.map((t) => t.id).sort()).toEqual([subscriptionId(explicit.endpoint), subscriptionId(registered.endpoint)].sort());
  });
});

describe('the next channel to try', () => {
  const chain: ChannelName[] = ['gotify', 'webpush', 'email'];
  const reachable = recipient({ gotifyToken: 'Aown', email: 'a@example.org' });

  it('passes over a channel that is not configured, and says so', () => {
    const next = nextStep(chain, { step: 0, round: 0, retrySteps: [] }, notification(), reachable, env({ enabled: new Set(['email']) }), NOW);
    expect(next).toMatchObject({ kind: 'deliver', step: 2, channel: 'email', newRound: false });
    if (next.kind === 'deliver')
      expect(next.skipped.map((a) => [a.channel, a.code])).toEqual([
        ['gotify', 'HERALD_CHANNEL_DISABLED'],
        ['webpush', 'HERALD_CHANNEL_DISABLED'],
      ]);
  });

  it('in a round, goes only to the retry steps, passing the others without a word', () => {
    const next = nextStep(chain, { step: 1, round: 2, retrySteps: [0, 2] }, notification(), reachable, env(), NOW);
    expect(next).toMatchObject({ kind: 'deliver', step: 2, round: 2, newRound: false, skipped: [] });
  });

  it('passes over a channel the recipient muted, even one the notification names, and says so', () => {
    const muting: RecipientView = { ...reachable, preferences: { muteChannels: ['gotify'] } };
    const next = nextStep(chain, { step: 0, round: 0, retrySteps: [] }, notification({ channels: chain }), muting, env(), NOW);
    expect(next).toMatchObject({ kind: 'deliver', step: 2, channel: 'email' });
    if (next.kind === 'deliver')
      expect(next.skipped.map((a) => [a.channel, a.outcome, a.code])).toEqual([
        ['gotify', 'skipped', 'HERALD_CHANNEL_MUTED'],
        ['webpush', 'skipped', 'HERALD_NO_ADDRESS'],
      ]);
  });

  it('drops a channel muted meanwhile from the rounds', () => {
    const muting: RecipientView = { ...reachable, preferences: { muteChannels: ['gotify'] } };
    const next = afterFailure(chain, { step: 2, round: 1, retrySteps: [0, 2], tries: 0 }, true, 3, notification(), muting, env(), NOW);
    expect(next).toMatchObject({ kind: 'deliver', step: 2, round: 2, retrySteps: [2], newRound: true });
    if (next.kind === 'deliver') expect(next.skipped.map((a) => [a.channel, a.code])).toEqual([['gotify', 'HERALD_CHANNEL_MUTED']]);
  });

  it('leaves the position it was given as it was', () => {
    const position = { step: 0, round: 0, retrySteps: [2], tries: 2 };
    afterFailure(chain, position, true, 3, notification(), reachable, env(), NOW);
    expect(position).toEqual({ step: 0, round: 0, retrySteps: [2], tries: 2 });
  });
});

describe("what the recipient's preferences say", () => {
  const night = { timezone: 'Europe/Paris', start: '22:00', end: '07:00' };
  const withPreferences = (preferences: RecipientView['preferences']): RecipientView => ({ ...recipient({ email: 'a@example.org' }), preferences });

  it('mutes a category named exactly, and nothing without a category', () => {
    const muting = withPreferences({ muteCategories: ['chat'] });
    expect(categoryMuted(notification({ category: 'chat' }), muting)).toBe(true);
    expect(categoryMuted(notification({ category: 'Chat' }), muting)).toBe(false);
    expect(categoryMuted(notification({ category: 'call' }), muting)).toBe(false);
    expect(categoryMuted(notification(), muting)).toBe(false);
    expect(categoryMuted(notification({ category: 'chat' }), recipient({}))).toBe(false);
  });

  it('holds below the bypass priority inside quiet hours, until their end', () => {
    const quiet = withPreferences({ quietHours: night });
    const at23h = Date.parse('2026-06-10T21:00:00Z');
    expect(quietHoursHold(notification({ priority: 7 }), quiet, 8, at23h)).toBe(Date.parse('2026-06-11T05:00:00Z'));
    expect(quietHoursHold(notification({ priority: 8 }), quiet, 8, at23h)).toBeNull();
    expect(quietHoursHold(notification({ priority: 10 }), quiet, 11, at23h)).not.toBeNull();
    expect(quietHoursHold(notification({ priority: 0 }), quiet, 0, at23h)).toBeNull();
    expect(quietHoursHold(notification({ priority: 0 }), quiet, 8, Date.parse('2026-06-10T10:00:00Z'))).toBeNull();
    expect(quietHoursHold(notification({ priority: 0 }), recipient({}), 8, at23h)).toBeNull();
  });
});
