/** Topics in tests: numbered user ids, joining them to a topic in batches, reading every recipient back. */
import type { TopicRecipient } from '../../src/types.js';
import type { Harness } from './harness.js';

/** `m-<n>` members, zero-padded so that their order by name is their order by number. */
export function memberIds(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `m-${String(from + i).padStart(5, '0')}`);
}

export async function joinTopic(h: Harness, topic: string, userIds: string[]): Promise<void> {
  await h.herald.connection();
  for (let i = 0; i < userIds.length; i += 500) await Promise.all(userIds.slice(i, i + 500).map((userId) => h.herald.topics.add(topic, userId)));
}

/** Every page of a topic notification's recipients, following `next`. */
export async function listRecipients(h: Harness, id: string, limit = 100): Promise<TopicRecipient[]> {
  const all: TopicRecipient[] = [];
  let cursor: string | undefined;
  do {
    const page = await h.herald.topics.recipients(id, { limit, ...(cursor ? { cursor } : {}) });
    if (!page) throw new Error(`${id} is not a topic notification`);
    all.push(...page.items);
    cursor = page.next ?? undefined;
  } while (cursor);
  return all;
}
