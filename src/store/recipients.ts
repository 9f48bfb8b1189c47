/**
 * The recipient registry: addresses per user id (email, Gotify token, ntfy topic, webhook URL), the
 * user's Web Push subscriptions (one per browser) and presence. A subscription's id is derived from its endpoint, so subscribing the same
 * browser twice yields the same id and one stored subscription.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isChannelName, type ChannelName, type PushSubscriptionJSON, type Recipient, type WebPushSubscriptionInfo } from '../types.js';
import { execResult, execResults } from '../redis/failures.js';
import type { Keys } from './keys.js';
import { maskSecret, maskUrlPath } from './mask.js';

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
}

/**
 * The fields of a recipient's hash (keys.ts `recipient`), one per address. The transition script
 * removes an address by its field name (a webhook URL whose endpoint answered 410).
 */
export const RECIPIENT_FIELDS = {
  email: 'email',
  gotifyToken: 'gotifyToken',
  ntfyTopic: 'ntfyTopic',
  webhookUrl: 'webhookUrl',
  channels: 'channels',
  updatedAt: 'updatedAt',
} as const;

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

export function parseSubscriptions(hash: Record<string, string>): Map<string, StoredSubscription> {
  const subscriptions = new Map<string, StoredSubscription>();
  for (const [id, json] of Object.entries(hash)) subscriptions.set(id, JSON.parse(json) as StoredSubscription);
  return subscriptions;
}

export class RecipientRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly maxSubscriptions: number,
  ) {}

  /** Replaces a recipient's addresses; subscriptions are managed separately and kept. Answers as `get` does. */
  async set(userId: string, input: RecipientInput): Promise<Recipient> {
    const field = RECIPIENT_FIELDS;
    const fields: Record<string, string> = { [field.updatedAt]: new Date().toISOString() };
    if (input.email !== undefined) fields[field.email] = input.email;
    if (input.gotify !== undefined) fields[field.gotifyToken] = input.gotify.token;
    if (input.ntfy !== undefined) fields[field.ntfyTopic] = input.ntfy.topic;
    if (input.webhook !== undefined) fields[field.webhookUrl] = input.webhook.url;
    if (input.channels !== undefined) fields[field.channels] = JSON.stringify(input.channels);
    const key = this.keys.recipient(userId);
    execResults(await this.redis.multi().del(key).hset(key, fields).exec(), 'The transaction saving a recipient');
    return (await this.get(userId))!;
  }

  /**
   * The recipient as answers show it: the Gotify token, the webhook URL's path and each
   * subscription's endpoint path masked (mask.ts), subscriptions without their keys. Deliveries read the stored addresses
   * (parseAddresses), never this.
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
    recipient.webpush = [...subs]
      .map(([id, sub]): WebPushSubscriptionInfo => ({ id, endpoint: maskUrlPath(sub.endpoint), createdAt: sub.createdAt }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return recipient;
  }

  /** Forgets the recipient: addresses, tokens, subscriptions and presence. */
  async delete(userId: string): Promise<boolean> {
    const removed = await this.redis.del(this.keys.recipient(userId), this.keys.subscriptions(userId), this.keys.presence(userId));
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

  async setOnline(userId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.keys.presence(userId), '1', 'EX', ttlSeconds);
  }

  async setOffline(userId: string): Promise<void> {
    await this.redis.del(this.keys.presence(userId));
  }

  async isOnline(userId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.presence(userId))) === 1;
  }
}
