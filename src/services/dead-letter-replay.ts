/**
 * Dead-letter replay: sends a notification no channel could deliver again, under the same id. It
 * changes the record (the store) and queues the first delivery job (the queue layer) in one
 * transaction, so it sits above both.
 */
import { isGrouped, type ChannelName } from '../types.js';
import { HeraldError } from '../errors.js';
import { execResult } from '../redis/failures.js';
import type { DeadLetterQueue } from '../store/dead-letters.js';
import type { NotificationStore, RecordChange } from '../store/notifications.js';
import { newToken } from '../store/tokens.js';
import { deliveryItem, firstChannel, type ChannelQueues } from '../queue/queues.js';

export interface ReplayOptions {
  defaultChannels: readonly ChannelName[];
  statusRetentionSeconds: number;
}

export class DeadLetterReplay {
  constructor(
    private readonly deadLetters: DeadLetterQueue,
    private readonly store: NotificationStore,
    private readonly queues: ChannelQueues,
    private readonly options: ReplayOptions,
  ) {}

  /**
   * Sends a dead letter again under the same id: the channels start afresh, its lifetime
   * (`ttlSeconds`) counts from now, and `replays` goes one up. The record change and the new job
   * commit together.
   */
  async replay(id: string, now: number = Date.now()): Promise<void> {
    const record = await this.deadLetters.deadRecord(id);
    const token = newToken();
    const { notification } = record;
    const tx = await this.queues.multi();
    const change: RecordChange = {
      set: {
        status: 'queued',
        token,
        step: '0',
        tries: '0',
        round: '0',
        retrySteps: '',
        chain: '',
        channel: '',
        replays: String(record.replays + 1),
        expiresAt: String(now + notification.ttlSeconds * 1000),
        updatedAt: String(now),
      },
      clearHistory: true,
      deadLetter: 'remove',
      expireSeconds: notification.ttlSeconds + this.options.statusRetentionSeconds,
    };
    // Pending again, so its group's cancel reaches it again (it left the group when it failed).
    if (isGrouped(notification)) change.joinGroup = { groupKey: notification.groupKey, expiresAt: now + notification.ttlSeconds * 1000, now };
    this.store.queueTransitions(tx, [{ id, userId: notification.to, token: record.token, change }], now);
    this.queues.queueDeliveries(tx, [
      { channel: firstChannel(notification, this.options.defaultChannels), item: deliveryItem(id, token, notification.to), delayMs: 0 },
    ]);
    const [reply] = execResult<number[]>(await tx.exec(), 0, 'The replay transaction');
    if (reply !== 1) throw new HeraldError('HERALD_ERR_CONFLICT', 'The dead letter changed while it was being replayed; try again');
  }
}
