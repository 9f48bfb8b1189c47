/**
 * Pure decisions of the delivery processor: whom a notification may reach, each channel's
 * addresses, and where its chain goes next. No I/O here, so every rule is unit-tested directly.
 *
 * The chain is walked in passes. The first pass goes down the chain: a channel gets up to
 * maxAttempts tries while its failures are transient, then the next channel is tried at once.
 * A channel whose tries all failed transiently (an outage) is remembered in `retrySteps`. At the
 * chain's end, instead of giving up, the notification comes back to those channels, in chain
 * order, one try each per round, each round after a longer backoff, until one delivers or the
 * notification's ttl runs out. Only when no channel is left that failed transiently (every one
 * refused for good, or has no address) is the notification dead-lettered. So an outage shorter
 * than the ttl costs a delay, never a dead letter, and a channel that recovers first is the one
 * that delivers, whatever its place in the chain.
 */
import type { Attempt, ChannelName, GotifyTokenKind, Notification, Preferences, PushSubscriptionJSON } from '../types.js';
import type { TargetOf, WebPushTarget } from '../channels/types.js';
import { subscriptionId, type RecipientAddresses, type StoredSubscription } from '../store/recipients.js';
import { attemptCode } from '../codes.js';
import { quietHoursEnd } from '../quiet-hours.js';
import { isoTime } from '../iso-time.js';

/** Everything the processor read about a notification's recipient, in one round trip. */
export interface RecipientView {
  addresses: RecipientAddresses | null;
  /** The notification's `to` is in the registry now: it has addresses or Web Push subscriptions. */
  registered: boolean;
  subscriptions: ReadonlyMap<string, StoredSubscription>;
  online: boolean;
  /** Web Push subscription ids that already accepted this notification. */
  pushAccepted: ReadonlySet<string>;
  /** The contexts of the recipient's devices whose presence lives (`skipIfPresentIn`); absent when none. */
  presentIn?: ReadonlySet<string>;
  /** What the recipient asked of Herald, read at delivery time; absent when nothing. */
  preferences?: Preferences;
}

export interface ChannelEnvironment {
  /** Channels whose settings are present (the same in every process of a deployment). */
  enabled: ReadonlySet<ChannelName>;
  defaultChannels: readonly ChannelName[];
  /**
   * GOTIFY_TOKEN when HERALD_GOTIFY_SHARED=1, else absent: the token of a registered recipient
   * that has none of its own. Never used for an unknown or deleted recipient.
   */
  gotifySharedToken?: string;
}

/** Attempt codes of a notification whose recipient has no registry record. */
export const UNKNOWN_RECIPIENT = attemptCode.HERALD_UNKNOWN_RECIPIENT;
export const RECIPIENT_DELETED = attemptCode.HERALD_RECIPIENT_DELETED;

export interface RecipientProblem {
  code: typeof UNKNOWN_RECIPIENT | typeof RECIPIENT_DELETED;
  error: string;
}

function hasExplicitTargets(notification: Notification): boolean {
  const targets = notification.targets;
  return Boolean(targets && (targets.gotify || targets.email || (targets.webpush && targets.webpush.length > 0)));
}

/**
 * Why a notification for `to` has nowhere to go, before any channel is looked at: its recipient
 * has no registry record and the notification names no explicit target. `knownAtAcceptance`
 * tells a recipient deleted while the notification waited from one that was never registered.
 * Null when the notification may go on (explicit targets still work for an unknown recipient).
 */
export function recipientProblem(notification: Notification, recipient: RecipientView, knownAtAcceptance: boolean): RecipientProblem | null {
  if (notification.to === undefined || recipient.registered || hasExplicitTargets(notification)) return null;
  return knownAtAcceptance
    ? { code: RECIPIENT_DELETED, error: 'the recipient was deleted after the notification was accepted' }
    : { code: UNKNOWN_RECIPIENT, error: 'the recipient is not registered' };
}

/** Whether the recipient muted the notification's category (compared exactly). */
export function categoryMuted(notification: Notification, recipient: RecipientView): boolean {
  const { category } = notification;
  return category !== undefined && recipient.preferences?.muteCategories?.includes(category) === true;
}

/**
 * When the recipient's quiet hours let a notification go (ms), or null when they do not hold it:
 * none are set, `now` is outside the window, or its priority is at or above `bypassPriority`.
 */
export function quietHoursHold(notification: Notification, recipient: RecipientView, bypassPriority: number, now: number): number | null {
  const quiet = recipient.preferences?.quietHours;
  if (!quiet || notification.priority >= bypassPriority) return null;
  return quietHoursEnd(quiet, now);
}

/** The notification's own order, else the recipient's, else the deployment default. */
export function resolveChain(notification: Notification, recipient: RecipientView, env: ChannelEnvironment): ChannelName[] {
  return [...(notification.channels ?? recipient.addresses?.channels ?? env.defaultChannels)];
}

export type Targets<C extends ChannelName> = TargetOf[C][];

function pushTarget(subscription: PushSubscriptionJSON): WebPushTarget {
  return { id: subscriptionId(subscription.endpoint), subscription };
}

/** The Gotify token to use and its kind: explicit, else the recipient's, else the shared one. */
function gotifyToken(notification: Notification, recipient: RecipientView, env: ChannelEnvironment): { token: string; tokenKind: GotifyTokenKind } | null {
  const explicit = notification.targets?.gotify?.token;
  if (explicit) return { token: explicit, tokenKind: 'explicit' };
  const own = recipient.addresses?.gotifyToken;
  if (own) return { token: own, tokenKind: 'recipient' };
  // Only a recipient the registry knows may share the deployment's inbox: an unknown or deleted
  // user id must never reach it (the shared token would show the message to every user).
  if (recipient.registered && env.gotifySharedToken) return { token: env.gotifySharedToken, tokenKind: 'shared' };
  return null;
}

/**
 * Where a channel can reach the recipient. Explicit `targets` win over the registry for Gotify
 * and email; Web Push reaches both the explicit subscriptions and the registered ones, except
 * those that already accepted this notification; ntfy and the webhook channel reach the
 * registered recipient's topic and URL only.
 */
export function targetsFor<C extends ChannelName>(channel: C, notification: Notification, recipient: RecipientView, env: ChannelEnvironment): Targets<C> {
  const explicit = notification.targets;
  switch (channel) {
    case 'gotify': {
      const token = gotifyToken(notification, recipient, env);
      return (token ? [token] : []) as Targets<C>;
    }
    case 'email': {
      const address = explicit?.email ?? recipient.addresses?.email;
      return (address ? [{ address }] : []) as Targets<C>;
    }
    case 'ntfy': {
      const topic = recipient.addresses?.ntfyTopic;
      return (topic ? [{ topic }] : []) as Targets<C>;
    }
    case 'webhook': {
      const url = recipient.addresses?.webhookUrl;
      return (url ? [{ url }] : []) as Targets<C>;
    }
    case 'inbox':
      return (notification.to !== undefined ? [{ userId: notification.to }] : []) as Targets<C>;
    case 'webpush': {
      const byId = new Map<string, WebPushTarget>();
      for (const [id, subscription] of recipient.subscriptions) byId.set(id, { id, subscription });
      for (const subscription of explicit?.webpush ?? []) {
        const target = pushTarget(subscription);
        byId.set(target.id, target);
      }
      return [...byId.values()].filter((t) => !recipient.pushAccepted.has(t.id)) as Targets<C>;
    }
    default:
      return [];
  }
}

/** Where a notification stands in its chain; kept in its status record. */
export interface ChainPosition {
  /** Index in the chain of the channel being tried. */
  step: number;
  /** 0 in the first pass down the chain; n in the n-th round over `retrySteps`. */
  round: number;
  /** Steps whose channel failed only transiently, ascending: where the next round goes. */
  retrySteps: readonly number[];
}

export type NextStep =
  | {
      kind: 'deliver';
      step: number;
      channel: ChannelName;
      round: number;
      retrySteps: number[];
      /** A round begins here: the processor waits the round's backoff before trying. */
      newRound: boolean;
      /** Channels passed over for lack of an address or settings, as `skipped` attempts. */
      skipped: Attempt[];
    }
  | { kind: 'exhausted'; skipped: Attempt[] };

/** Whether the recipient muted `channel`: it is left out of every chain, whatever the notification names. */
export function channelMuted(channel: ChannelName, recipient: RecipientView): boolean {
  return recipient.preferences?.muteChannels?.includes(channel) === true;
}

/**
 * Why `channel` cannot be tried at all for this notification, as a `skipped` attempt; null if it
 * can. `at` formats the attempt's time, called only for a channel passed over.
 */
function unusable(channel: ChannelName, notification: Notification, recipient: RecipientView, env: ChannelEnvironment, at: () => string): Attempt | null {
  if (channelMuted(channel, recipient)) {
    return { channel, at: at(), outcome: 'skipped', code: attemptCode.HERALD_CHANNEL_MUTED, error: `the recipient muted ${channel}`, durationMs: 0 };
  }
  if (!env.enabled.has(channel)) {
    return { channel, at: at(), outcome: 'skipped', code: attemptCode.HERALD_CHANNEL_DISABLED, error: `${channel} is not configured`, durationMs: 0 };
  }
  if (targetsFor(channel, notification, recipient, env).length === 0) {
    return { channel, at: at(), outcome: 'skipped', code: attemptCode.HERALD_NO_ADDRESS, error: `the recipient has no ${channel} address`, durationMs: 0 };
  }
  return null;
}

/**
 * The channel to try at or after `from.step` in the current pass: in the first pass any channel
 * that is switched on and has an address; in a later round only the steps in `retrySteps`. Past
 * the pass's end, the first of `retrySteps` opens the next round; with none left, the chain is
 * exhausted. Channels passed over are returned as `skipped` attempts, so the record tells why; a
 * retry step that can no longer be tried leaves `retrySteps`.
 */
export function nextStep(
  chain: readonly ChannelName[],
  from: ChainPosition,
  notification: Notification,
  recipient: RecipientView,
  env: ChannelEnvironment,
  now: number,
): NextStep {
  const skipped: Attempt[] = [];
  const retrySteps = [...from.retrySteps];
  // Formatted only when a channel is passed over (rarely; this runs once per delivery).
  let formatted: string | undefined;
  const at = () => (formatted ??= isoTime(now));
  const scan = (fromStep: number, retryOnly: boolean): number | undefined => {
    for (let step = fromStep; step < chain.length; step++) {
      if (retryOnly && !retrySteps.includes(step)) continue;
      const skip = unusable(chain[step]!, notification, recipient, env, at);
      if (!skip) return step;
      skipped.push(skip);
      if (retryOnly) retrySteps.splice(retrySteps.indexOf(step), 1);
    }
    return undefined;
  };
  const here = scan(from.step, from.round > 0);
  if (here !== undefined) return { kind: 'deliver', step: here, channel: chain[here]!, round: from.round, retrySteps, newRound: false, skipped };
  const again = retrySteps.length > 0 ? scan(0, true) : undefined;
  if (again !== undefined) return { kind: 'deliver', step: again, channel: chain[again]!, round: from.round + 1, retrySteps, newRound: true, skipped };
  return { kind: 'exhausted', skipped };
}

export type AfterFailure = { kind: 'retry' } | NextStep;

/**
 * Where a notification goes after a try on the channel at `position.step` failed (`transient`:
 * some target may accept later; otherwise every target refused for good or is gone). In the
 * first pass a transient failure retries the same channel while it has tries left; otherwise
 * the channel is remembered (transient) or forgotten (permanent) as a retry step, and the chain
 * moves on (see nextStep). `tries` counts the tries already made on this channel before this one.
 */
export function afterFailure(
  chain: readonly ChannelName[],
  position: ChainPosition & { tries: number },
  transient: boolean,
  maxAttempts: number,
  notification: Notification,
  recipient: RecipientView,
  env: ChannelEnvironment,
  now: number,
): AfterFailure {
  if (transient && position.round === 0 && position.tries + 1 < maxAttempts) return { kind: 'retry' };
  const retrySteps = position.retrySteps.filter((step) => step !== position.step);
  if (transient) retrySteps.push(position.step);
  retrySteps.sort((a, b) => a - b);
  return nextStep(chain, { step: position.step + 1, round: position.round, retrySteps }, notification, recipient, env, now);
}
