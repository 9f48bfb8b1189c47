/**
 * Builds the adapters of the channels a worker process runs, from the configuration. A channel
 * without settings gets no adapter; the processor skips it in every chain.
 */
import type { RedisClient } from '../redis/client.js';
import type { Config } from '../config.js';
import type { ChannelName } from '../types.js';
import { EmailChannel } from '../channels/email/channel.js';
import { GotifyChannel } from '../channels/gotify.js';
import { InboxChannel } from '../channels/inbox.js';
import { InboxStore } from '../store/inbox.js';
import type { Keys } from '../store/keys.js';
import { NtfyChannel } from '../channels/ntfy.js';
import { WebhookChannel } from '../channels/webhook.js';
import { WebPushChannel } from '../channels/webpush/channel.js';
import { createPushEncryptor } from '../channels/webpush/encryptor.js';
import type { ChannelAdapters } from '../channels/types.js';
import { eventsPerShard, shardOf } from '../shards.js';

/**
 * What the channels that write to Redis (the inbox) write with: the worker's connection and every
 * shard's key layout, shard 0 first. An inbox item goes to its notification's shard.
 */
export interface AdapterStores {
  redis: RedisClient;
  keys: readonly Keys[];
}

export function createAdapters(config: Config, channels: readonly ChannelName[], connections: number, stores?: AdapterStores): ChannelAdapters {
  const adapters: ChannelAdapters = {};
  if (channels.includes('gotify') && config.gotify) {
    adapters.gotify = new GotifyChannel({ settings: config.gotify, timeoutMs: config.providerTimeoutMs, connections });
  }
  if (channels.includes('webpush') && config.vapid) {
    adapters.webpush = new WebPushChannel({
      vapid: config.vapid,
      timeoutMs: config.providerTimeoutMs,
      connections,
      allowPrivateEndpoints: config.allowPrivateEndpoints,
      encryptor: createPushEncryptor(config.webpushCryptoThreads),
    });
  }
  if (channels.includes('email') && config.smtp) {
    adapters.email = new EmailChannel({ settings: config.smtp, timeoutMs: config.providerTimeoutMs, connections });
  }
  if (channels.includes('ntfy') && config.ntfy) {
    adapters.ntfy = new NtfyChannel({ settings: config.ntfy, timeoutMs: config.providerTimeoutMs, connections });
  }
  if (channels.includes('webhook') && config.webhook) {
    adapters.webhook = new WebhookChannel({
      settings: config.webhook,
      timeoutMs: config.providerTimeoutMs,
      connections,
      allowPrivateEndpoints: config.allowPrivateEndpoints,
    });
  }
  // The inbox needs only Redis; a caller that builds provider adapters alone (tests) gives none.
  if (channels.includes('inbox') && stores) {
    const inboxes = stores.keys.map(
      (keys) => new InboxStore(stores.redis, keys, config.inbox, { key: keys.events(), maxLen: eventsPerShard(config.eventsRetention, stores.keys.length) }),
    );
    adapters.inbox = new InboxChannel({ add: (userId, item) => inboxes[shardOf(item.id, inboxes.length)]!.add(userId, item) });
  }
  return adapters;
}
