/** What every worker does with its channel adapters, whichever channels it runs. */
import type { ChannelAdapter, ChannelAdapters } from './types.js';

export async function closeAdapters(adapters: ChannelAdapters): Promise<void> {
  await Promise.all(Object.values(adapters).map((adapter) => (adapter as ChannelAdapter).close()));
}
