/**
 * The fan-out of topic notifications, in the workers. A job of the fan-out queue is one page of a
 * topic notification's recipient list (the members copied at acceptance): its run reads the members
 * after the record's cursor, derives each one's own notification, and commits in one MULTI the
 * page script (the recipients' records, a new token, the cursor), their first delivery jobs and
 * the next page's job. Only the job holding the record's current token acts, and each commit
 * hands the token to the next page's job, so a page is written once however often its job runs
 * (a worker killed mid-page, a second job for the same id): see store/lua/fan-out-page.lua.
 */
import { execResult } from '../redis/failures.js';
import type { ChannelName } from '../types.js';
import { firstStatusOf, recipientNotification, type TopicStore } from '../store/topics.js';
import { newTokens } from '../store/tokens.js';
import { deliveryItem, firstChannel, type ChannelQueues, type FanOutJobData } from '../queue/queues.js';

export interface FanOutDeps {
  topics: TopicStore;
  queues: ChannelQueues;
  defaultChannels: readonly ChannelName[];
  statusRetentionSeconds: number;
  /** Recipients written per page (HERALD_FANOUT_PAGE_SIZE). */
  pageSize: number;
}

/** What one page job did: `stale` when another run already wrote its page (or the notification is gone). */
export interface FanOutReport {
  id: string;
  outcome: 'stale' | 'page' | 'last-page';
  /** Recipients' notifications written by this page. */
  written: number;
}

export class FanOutRunner {
  constructor(private readonly deps: FanOutDeps) {}

  async runPage(job: FanOutJobData): Promise<FanOutReport> {
    const { topics, queues, pageSize } = this.deps;
    const parent = await topics.topicRecord(job.id);
    // A canceled topic notification has a token no job holds; it is checked as well, so that no
    // page can follow a cancel whatever token it carries.
    if (!parent || parent.token !== job.token || parent.canceledAt !== undefined) return { id: job.id, outcome: 'stale', written: 0 };
    // One member more than a page tells whether this page is the last.
    const members = await topics.recipientsAfter(job.id, parent.fanOutCursor ?? '', pageSize + 1);
    const page = members.slice(0, pageSize);
    const lastPage = members.length <= pageSize;
    const tokens = newTokens(page.length + 1);
    const nextToken = tokens[page.length]!;
    const { notification } = parent;
    const children = page.map((member, i) => ({ notification: recipientNotification(notification, member), token: tokens[i]! }));
    const now = Date.now();
    const delayMs = notification.sendAt ? Math.max(0, Date.parse(notification.sendAt) - now) : 0;

    const tx = await queues.multi();
    topics.queueFanOutPage(
      tx,
      {
        parentId: job.id,
        notification,
        token: job.token,
        nextToken,
        nextCursor: page.at(-1) ?? parent.fanOutCursor ?? '',
        lastPage,
        status: firstStatusOf(notification),
        expiresAt: parent.expiresAt,
        // Like a notification accepted directly: kept for the retention after its lifetime.
        recordTtlSeconds: Math.max(1, Math.ceil((parent.expiresAt - now) / 1000)) + this.deps.statusRetentionSeconds,
        children,
      },
      now,
    );
    queues.queueDeliveries(
      tx,
      children.map(({ notification: child, token }) => ({
        channel: firstChannel(child, this.deps.defaultChannels),
        item: deliveryItem(child.id, token, child.to),
        delayMs,
      })),
    );
    if (!lastPage) queues.queueFanOutPage(tx, { id: job.id, token: nextToken });
    const [applied, written] = execResult<[number, number]>(await tx.exec(), 0, 'The fan-out page transaction');
    if (applied !== 1) return { id: job.id, outcome: 'stale', written: 0 };
    return { id: job.id, outcome: lastPage ? 'last-page' : 'page', written };
  }
}
