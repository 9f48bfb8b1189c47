/**
 * Builds the adapters of the channels a worker process runs, from the configuration.
 * A channel without settings gets no adapter; the processor skips it in every chain.
 */
import type { Config } from '../config.js';
import type { ChannelName } from '../types.js';
import { GotifyChannel } from './gotify.js';
import type { ChannelAdapter, ChannelAdapters } from './types.js';

export function createAdapters(config: Config, channels: readonly ChannelName[], connections: number): ChannelAdapters {
  const adapters: ChannelAdapters = {};
  if (channels.includes('gotify') && config.gotify) {
    adapters.gotify = new GotifyChannel({ settings: config.gotify, timeoutMs: config.providerTimeoutMs, connections });
  }
  return adapters;
}

export async function closeAdapters(adapters: ChannelAdapters): Promise<void> {
  await Promise.all(Object.values(adapters).map((adapter) => (adapter as ChannelAdapter).close()));
}
