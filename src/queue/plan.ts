/**
 * Pure decisions of the delivery processor: the fallback chain, each channel's addresses, and the
 * next channel worth trying. No I/O here, so every rule is unit-tested directly.
 */
import type { Attempt, ChannelName, Notification, PushSubscriptionJSON } from '../types.js';
import type { TargetOf, WebPushTarget } from '../channels/types.js';
import { subscriptionId, type RecipientAddresses, type StoredSubscription } from '../registry/recipients.js';

/** Everything the processor read about a notification's recipient, in one round trip. */
export interface RecipientView {
  addresses: RecipientAddresses | null;
  subscriptions: Map<string, StoredSubscription>;
  online: boolean;
  /** Web Push subscription ids that already accepted this notification. */
  pushAccepted: Set<string>;
}

export interface ChannelEnvironment {
  /** Channels whose settings are present (the same in every process of a deployment). */
  enabled: ReadonlySet<ChannelName>;
  defaultChannels: readonly ChannelName[];
  gotifyDefaultToken?: string;
}

/** The notification's own order, else the recipient's, else the deployment default. */
export function resolveChain(notification: Notification, recipient: RecipientView, env: ChannelEnvironment): ChannelName[] {
  return [...(notification.channels ?? recipient.addresses?.channels ?? env.defaultChannels)];
}

export type Targets<C extends ChannelName> = TargetOf[C][];

function pushTarget(subscription: PushSubscriptionJSON): WebPushTarget {
  return { id: subscriptionId(subscription.endpoint), subscription };
}

/**
 * Where a channel can reach the recipient. Explicit `targets` win over the registry for Gotify
 * and email; Web Push reaches both the explicit subscriptions and the registered ones, except
 * those that already accepted this notification.
 */
export function targetsFor<C extends ChannelName>(channel: C, notification: Notification, recipient: RecipientView, env: ChannelEnvironment): Targets<C> {
  const explicit = notification.targets;
  switch (channel) {
    case 'gotify': {
      const token = explicit?.gotify?.token ?? recipient.addresses?.gotifyToken ?? env.gotifyDefaultToken;
      return (token ? [{ token }] : []) as Targets<C>;
    }
    case 'email': {
      const address = explicit?.email ?? recipient.addresses?.email;
      return (address ? [{ address }] : []) as Targets<C>;
    }
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

export type NextStep =
  | { kind: 'deliver'; step: number; channel: ChannelName; skipped: Attempt[] }
  | { kind: 'exhausted'; skipped: Attempt[] };

/**
 * The first channel at or after `fromStep` that is switched on and has an address. The channels
 * passed over are returned as `skipped` attempts, so the status record tells why.
 */
export function nextStep(chain: readonly ChannelName[], fromStep: number, notification: Notification, recipient: RecipientView, env: ChannelEnvironment, now: number): NextStep {
  const skipped: Attempt[] = [];
  // Formatted only when a channel is passed over (rarely; this runs once per delivery).
  let formatted: string | undefined;
  const at = () => (formatted ??= new Date(now).toISOString());
  for (let step = fromStep; step < chain.length; step++) {
    const channel = chain[step]!;
    if (!env.enabled.has(channel)) {
      skipped.push({ channel, at: at(), outcome: 'skipped', code: 'HERALD_CHANNEL_DISABLED', error: `${channel} is not configured`, durationMs: 0 });
    } else if (targetsFor(channel, notification, recipient, env).length === 0) {
      skipped.push({ channel, at: at(), outcome: 'skipped', code: 'HERALD_NO_ADDRESS', error: `the recipient has no ${channel} address`, durationMs: 0 });
    } else {
      return { kind: 'deliver', step, channel, skipped };
    }
  }
  return { kind: 'exhausted', skipped };
}
