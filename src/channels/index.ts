/**
 * Builds the adapters of the channels a worker process runs, from the configuration.
 * A channel without settings gets no adapter; the processor skips it in every chain.
 */
import type { Config } from '../config.js';
import type { ChannelName } from '../types.js';
import { EmailChannel } from './email.js';
import { GotifyChannel } from './gotify.js';
import { WebPushChannel } from './webpush.js';
import { createPushEncryptor } from './webpush-encryptor.js';
import type { ChannelAdapter, ChannelAdapters } from './types.js';

export function createAdapters(config: Config, channels: readonly ChannelName[], connections: number): ChannelAdapters {
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
  return adapters;
}

export async function closeAdapters(adapters: ChannelAdapters): Promise<void> {
  await Promise.all(Object.values(adapters).map((adapter) => (adapter as ChannelAdapter).close()));
}
