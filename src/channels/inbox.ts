/**
 * Inbox channel: stores the notification as an InboxItem in its recipient's in-app inbox (Redis,
 * through the InboxWriter the process gives it) instead of calling a provider. Storing it is the
 * delivery: the browser reads the inbox with an inbox token (see http/routes/inbox.ts). The item's
 * id is the notification's id, so a delivery run again stores nothing twice. A Redis failure is
 * transient like a provider's outage; there is no permanent failure.
 */
import { attemptCode } from '../codes.js';
import type { InboxItem } from '../types.js';
import { DeliveryError, type ChannelAdapter, type InboxTarget, type OutgoingMessage, type Receipt } from './types.js';

/** Where the channel stores items (store/inbox.ts's InboxStore). */
export interface InboxWriter {
  add(userId: string, item: InboxItem): Promise<boolean>;
}

/** The item the inbox shows for `message`, stored at `now`. */
export function inboxItem(message: OutgoingMessage, now: number): InboxItem {
  const item: InboxItem = { id: message.id, notificationId: message.id, message: message.message, createdAt: new Date(now).toISOString(), readAt: null };
  if (message.title !== undefined) item.title = message.title;
  if (message.url !== undefined) item.url = message.url;
  if (message.category !== undefined) item.category = message.category;
  if (message.data !== undefined) item.data = message.data;
  return item;
}

export class InboxChannel implements ChannelAdapter<'inbox'> {
  readonly name = 'inbox' as const;

  constructor(private readonly writer: InboxWriter) {}

  async send(message: OutgoingMessage, target: InboxTarget): Promise<Receipt> {
    try {
      await this.writer.add(target.userId, inboxItem(message, Date.now()));
    } catch (err) {
      throw new DeliveryError('transient', attemptCode.HERALD_INBOX_UNAVAILABLE, 'the inbox could not be written', { cause: err });
    }
    return {};
  }

  async close(): Promise<void> {}
}
