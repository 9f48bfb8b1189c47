/**
 * The recipient registry: addresses (email, Gotify token, ntfy topic, webhook URL) and
 * preferences per user id, the user's Web Push subscriptions (one per browser) and presence per
 * device. A subscription's id is derived from its endpoint, so subscribing the same browser twice
 * yields the same id and one stored subscription.
 * Preferences are a field of the recipient's hash, so the delivery load script, which reads that
 * hash anyway, gets them at no cost.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import {
  isChannelName,
  type ChannelName,
  type Preferences,
  type PresenceDevice,
  type PushSubscriptionJSON,
  type Recipient,
  type WebPushSubscriptionInfo,
} from '../types.js';
import { execResult, execResults } from '../redis/failures.js';
import type { Keys } from './keys.js';
import { maskSecret, maskUrlPath } from './mask.js';
import { defineScripts, PRESENCE_OFFLINE_LAYOUT, PRESENCE_ONLINE_LAYOUT, REMOVE_ADDRESS_LAYOUT, scripts } from './scripts.js';
import { ScriptCall } from './script-layout.js';

export interface StoredSubscription extends PushSubscriptionJSON {
  createdAt: string;
}

export interface RecipientAddresses {
  email?: string;
  gotifyToken?: string;
  ntfyTopic?: string;
  webhookUrl?: string;
  channels?: ChannelName[];
}

export interface RecipientInput {
  email?: string;
  gotify?: { token: string };
  ntfy?: { topic: string };
  webhook?: { url: string };
  channels?: ChannelName[];
  preferences?: Preferences;
}

/** The device a presence call without `device` is about. */
export const DEFAULT_DEVICE = 'default';

/**
 * The fields of a recipient's hash (keys.ts `recipient`) that hold its addresses and channel
 * order. The transition script removes an address by its field name (a webhook URL whose
 * endpoint answered 410).
 */
export const RECIPIENT_FIELDS = {
  email: 'email',
  gotifyToken: 'gotifyToken',
  ntfyTopic: 'ntfyTopic',
  webhookUrl: 'webhookUrl',
  channels: 'channels',
  updatedAt: 'updatedAt',
} as const;

/** The recipient hash's field that holds its preferences as JSON (absent when it has none). */
const PREFERENCES_FIELD = 'preferences';

/**
 * The recipient hash's fields that `set` replaces: all but the preferences, which are kept unless
 * the call gives new ones (they have their own route, as subscriptions do).
 */
const ADDRESS_FIELDS = Object.values(RECIPIENT_FIELDS);
type AddressField = (typeof ADDRESS_FIELDS)[number];

export function subscriptionId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22);
}

export function parseAddresses(hash: Record<string, string>): RecipientAddresses | null {
  if (Object.keys(hash).length === 0) return null;
  const addresses: RecipientAddresses = {};
  const { email, gotifyToken, ntfyTopic, webhookUrl, channels } = RECIPIENT_FIELDS;
  if (hash[email]) addresses.email = hash[email];
  if (hash[gotifyToken]) addresses.gotifyToken = hash[gotifyToken];
  if (hash[ntfyTopic]) addresses.ntfyTopic = hash[ntfyTopic];
  if (hash[webhookUrl]) addresses.webhookUrl = hash[webhookUrl];
  if (hash[channels]) addresses.channels = (JSON.parse(hash[channels]) as string[]).filter(isChannelName);
  return addresses;
}

/** A recipient hash's preferences; null when it has none (or they cannot be read). */
export function parsePreferences(hash: Record<string, string>): Preferences | null {
  const json = hash[PREFERENCES_FIELD];
  if (!json) return null;
  try {
    return JSON.parse(json) as Preferences;
  } catch {
    return null;
  }
}

/** Preferences that say something, or undefined: `{}` and empty lists are no preferences. */
function meaningful(preferences: Preferences): Preferences | undefined {
  const kept: Preferences = {};
  if (preferences.muteCategories?.length) kept.muteCategories = preferences.muteCategories;
  if (preferences.muteChannels?.length) kept.muteChannels = preferences.muteChannels;
  if (preferences.quietHours) kept.quietHours = preferences.quietHours;
  return Object.keys(kept).length > 0 ? kept : undefined;
}

export function parseSubscriptions(hash: Record<string, string>): Map<string, StoredSubscription> {
  const subscriptions = new Map<string, StoredSubscription>();
  for (const [id, json] of Object.entries(hash)) subscriptions.set(id, JSON.parse(json) as StoredSubscription);
  return subscriptions;
}

export class RecipientRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly maxSubscriptions: number,
  ) {
    defineScripts(redis);
  }

  /**
   * Replaces a recipient's addresses, and its preferences when `input` has them; subscriptions and
   * preferences not given are kept. Answers as `get` does.
   */
  async set(userId: string, input: RecipientInput): Promise<Recipient> {
    const fields: Partial<Record<AddressField | typeof PREFERENCES_FIELD, string>> = { updatedAt: new Date().toISOString() };
    if (input.email !== undefined) fields.email = input.email;
    if (input.gotify !== undefined) fields.gotifyToken = input.gotify.token;
    if (input.ntfy !== undefined) fields.ntfyTopic = input.ntfy.topic;
    if (input.webhook !== undefined) fields.webhookUrl = input.webhook.url;
    if (input.channels !== undefined) fields.channels = JSON.stringify(input.channels);
    const preferences = input.preferences && meaningful(input.preferences);
    if (preferences) fields.preferences = JSON.stringify(preferences);
    const key = this.keys.recipient(userId);
    const tx = this.redis.multi();
    if (input.preferences !== undefined) tx.del(key);
    else tx.hdel(key, ...ADDRESS_FIELDS);
    execResults(await tx.hset(key, fields).exec(), 'The transaction saving a recipient');
    return (await this.get(userId))!;
  }

  /**
   * Replaces a recipient's preferences (`{}` clears them); its addresses are kept. A user id the
   * registry does not know gets a record, as `set` would give it. Answers the preferences stored.
   */
  async setPreferences(userId: string, preferences: Preferences): Promise<Preferences> {
    const key = this.keys.recipient(userId);
    const kept = meaningful(preferences);
    const tx = this.redis.multi().hset(key, 'updatedAt', new Date().toISOString());
    if (kept) tx.hset(key, PREFERENCES_FIELD, JSON.stringify(kept));
    else tx.hdel(key, PREFERENCES_FIELD);
    execResults(await tx.exec(), 'The transaction saving preferences');
    return kept ?? {};
  }

  /**
   * The recipient as answers show it: the Gotify token, the webhook URL's path and each
   * subscription's endpoint path masked (mask.ts), subscriptions without their keys. Deliveries
   * read the stored addresses (parseAddresses), never this.
   */
  async get(userId: string): Promise<Recipient | null> {
    const replies = await this.redis.multi().hgetall(this.keys.recipient(userId)).hgetall(this.keys.subscriptions(userId)).exec();
    const hash = execResult<Record<string, string>>(replies, 0, 'The transaction reading a recipient');
    const subs = parseSubscriptions(execResult<Record<string, string>>(replies, 1, 'The transaction reading a recipient'));
    const addresses = parseAddresses(hash);
    if (!addresses && subs.size === 0) return null;
    const recipient: Recipient = { userId };
    if (addresses?.email) recipient.email = addresses.email;
    if (addresses?.gotifyToken) recipient.gotify = { token: maskSecret(addresses.gotifyToken) };
    if (addresses?.ntfyTopic) recipient.ntfy = { topic: addresses.ntfyTopic };
    if (addresses?.webhookUrl) recipient.webhook = { url: maskUrlPath(addresses.webhookUrl) };
    if (addresses?.channels) recipient.channels = addresses.channels;
    const preferences = parsePreferences(hash);
    if (preferences) recipient.preferences = preferences;
    recipient.webpush = [...subs]
      .map(([id, sub]): WebPushSubscriptionInfo => ({ id, endpoint: maskUrlPath(sub.endpoint), createdAt: sub.createdAt }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return recipient;
  }

  /** Forgets the recipient: addresses, tokens, preferences, subscriptions and presence. */
  async delete(userId: string): Promise<boolean> {
    const removed = await this.redis.del(
      this.keys.recipient(userId),
      this.keys.subscriptions(userId),
      this.keys.presence(userId),
      this.keys.presenceDevices(userId),
      this.keys.presenceContexts(userId),
      // The user's in-app inbox goes with them.
      this.keys.inboxItems(userId),
      this.keys.inboxOrder(userId),
      this.keys.inboxUnread(userId),
      this.keys.inboxReads(userId),
    );
    return removed > 0;
  }

  /**
   * Stores a subscription; the same endpoint again replaces its keys and keeps its id. Past the
   * per-user cap the oldest subscriptions are dropped: a browser that was not re-subscribed for
   * that long is the likeliest to be gone.
   */
  async addWebPush(userId: string, subscription: PushSubscriptionJSON): Promise<string> {
    const id = subscriptionId(subscription.endpoint);
    const key = this.keys.subscriptions(userId);
    const existing = await this.redis.hget(key, id);
    const createdAt = existing ? (JSON.parse(existing) as StoredSubscription).createdAt : new Date().toISOString();
    const stored: StoredSubscription = { endpoint: subscription.endpoint, keys: subscription.keys, createdAt };
    if (subscription.expirationTime != null) stored.expirationTime = subscription.expirationTime;
    await this.redis.hset(key, id, JSON.stringify(stored));
    const all = parseSubscriptions(await this.redis.hgetall(key));
    if (all.size > this.maxSubscriptions) {
      const oldest = [...all]
        .sort(([, a], [, b]) => a.createdAt.localeCompare(b.createdAt))
        .slice(0, all.size - this.maxSubscriptions)
        .map(([oldId]) => oldId)
        .filter((oldId) => oldId !== id);
      if (oldest.length > 0) await this.redis.hdel(key, ...oldest);
    }
    return id;
  }

  async removeWebPush(userId: string, subscriptionId: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.subscriptions(userId), subscriptionId)) > 0;
  }

  /** Deletes the address `field` of the recipient only while it is still `value` (a gone webhook URL); whether it did. */
  async removeAddressIf(userId: string, field: string, value: string): Promise<boolean> {
    const call = new ScriptCall(REMOVE_ADDRESS_LAYOUT, {}, {});
    call.item({ recipient: this.keys.recipient(userId) }, { field, value });
    const [removed] = await scripts(this.redis).heraldRemoveAddress(call.keys.length, ...call.keys, ...call.args);
    return removed === 1;
  }

  private presenceKeys(userId: string): { online: string; devices: string; contexts: string } {
    return { online: this.keys.presence(userId), devices: this.keys.presenceDevices(userId), contexts: this.keys.presenceContexts(userId) };
  }

  /** Marks one device of the user online for `ttlSeconds`, with `context` (none when absent); other devices keep theirs. */
  async setOnline(userId: string, ttlSeconds: number, device: string = DEFAULT_DEVICE, context?: string): Promise<void> {
    const call = new ScriptCall(PRESENCE_ONLINE_LAYOUT, {}, {});
    call.item(this.presenceKeys(userId), { device, ttlMs: ttlSeconds * 1000, context: context ?? '' });
    await scripts(this.redis).heraldPresenceOnline(call.keys.length, ...call.keys, ...call.args);
  }

  /** Ends one device's presence, or, without `device`, every device's. */
  async setOffline(userId: string, device?: string): Promise<void> {
    const call = new ScriptCall(PRESENCE_OFFLINE_LAYOUT, {}, {});
    call.item(this.presenceKeys(userId), { device: device ?? '' });
    await scripts(this.redis).heraldPresenceOffline(call.keys.length, ...call.keys, ...call.args);
  }

  async isOnline(userId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.presence(userId))) === 1;
  }

  /**
   * The user's devices whose presence lives, soonest to end first. A presence written by a release
   * without devices shows as the device `default`.
   */
  async devices(userId: string): Promise<PresenceDevice[]> {
    const keys = this.presenceKeys(userId);
    const replies = await this.redis
      .multi()
      .time()
      .get(keys.online)
      .pttl(keys.online)
      .zrange(keys.devices, '0', '-1', 'WITHSCORES')
      .hgetall(keys.contexts)
      .exec();
    const what = 'The transaction reading a presence';
    const [seconds, micros] = execResult<[string, string]>(replies, 0, what);
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const flag = execResult<string | null>(replies, 1, what);
    const flagTtlMs = execResult<number>(replies, 2, what);
    const scored = execResult<string[]>(replies, 3, what);
    const contexts = execResult<Record<string, string>>(replies, 4, what);
    const ends = new Map<string, number>();
    if (flag === '1' && flagTtlMs > 0) ends.set(DEFAULT_DEVICE, now + flagTtlMs);
    for (let i = 0; i < scored.length; i += 2) ends.set(scored[i]!, Number(scored[i + 1]));
    return [...ends]
      .filter(([, end]) => end > now)
      .sort(([, a], [, b]) => a - b)
      .map(([device, end]) => {
        const live: PresenceDevice = { device, expiresAt: new Date(end).toISOString() };
        if (contexts[device] !== undefined) live.context = contexts[device];
        return live;
      });
  }
}
