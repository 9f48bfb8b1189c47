/**
 * The last step of a delivery: recording its decision. Decisions wait for the end of the event
 * loop's turn and are committed together, whatever job they came from: one round trip for many
 * deliveries when they are many, yet a delivery is recorded as soon as it is decided rather than
 * when its whole job is, so a worker killed mid-job leaves only the deliveries of that last turn to
 * be sent again.
 * Invariant: every transition is guarded by the token of the delivery that decided it, and the
 * jobs that carry notifications on are queued in the same MULTI as the transitions that give them
 * their tokens, so a crash leaves either the old job (which redoes the step) or the new one, never
 * both live and never neither.
 */
import { transitionResult, type NotificationStore, type TransitionResult } from '../store/notifications.js';
import { execResult } from '../redis/failures.js';
import type { ChannelQueues } from '../queue/queues.js';
import { TurnBatcher } from '../turn-batcher.js';
import type { Decision, DeliveryReport } from './decide.js';

/**
 * With several shards, each shard keeps a copy of every recipient: what a provider said is gone
 * (a Web Push subscription, a webhook URL) and the transition removed in the notification's shard
 * is removed from the other shards' copies too, once the transition is applied.
 */
export interface RecipientCopies {
  removeGone(userId: string, gone: { subscriptions?: readonly string[] | undefined; address?: { field: string; value: string } | undefined }): Promise<void>;
}

/** Deliveries committed in one transaction at most. */
const MAX_COMMIT_BATCH = 500;

export class Committer {
  private readonly batcher = new TurnBatcher<Decision, DeliveryReport>((decisions) => this.commit(decisions), MAX_COMMIT_BATCH);

  constructor(
    private readonly store: NotificationStore,
    private readonly queues: ChannelQueues,
    private readonly copies?: RecipientCopies,
  ) {}

  /** Commits a decision with the others of this turn; resolves with what became of the delivery. */
  submit(decision: Decision): Promise<DeliveryReport> {
    return this.batcher.submit(decision);
  }

  /**
   * A delivery whose transition finds another token was overtaken (a duplicate job, a replay): it
   * reports `stale`, and the job queued for it carries a token the record never got, so it is
   * dropped when it runs.
   */
  private async commit(decisions: Decision[]): Promise<DeliveryReport[]> {
    const writes = decisions.filter((d) => d.change);
    const results = writes.length > 0 ? await this.write(writes) : [];
    const applied = new Map(writes.map((d, i) => [d, results[i] === 'applied']));
    if (this.copies) await this.removeGoneElsewhere(writes.filter((d) => applied.get(d)));
    return decisions.map((d) => {
      const report: DeliveryReport = { id: d.id, outcome: d.outcome, attempt: d.attempt };
      if (d.change && !applied.get(d)) report.outcome = 'stale';
      else {
        if (d.retry) report.retry = d.retry;
        if (d.code) report.code = d.code;
      }
      return report;
    });
  }

  /**
   * A failure here leaves a gone address in another shard's copy: a later delivery from that shard
   * finds it gone again and removes it then, so it is not worth failing the delivery for.
   */
  private async removeGoneElsewhere(applied: readonly Decision[]): Promise<void> {
    const copies = this.copies!;
    await Promise.all(
      applied.flatMap((d) => {
        const { removeSubscriptions, removeAddress } = d.change!;
        if ((!removeSubscriptions && !removeAddress) || d.item.to === undefined) return [];
        return [copies.removeGone(d.item.to, { subscriptions: removeSubscriptions, address: removeAddress }).catch(() => {})];
      }),
    );
  }

  /** Every transition in one script call and, in the same MULTI, the jobs that follow from them. */
  private async write(writes: Decision[]): Promise<TransitionResult[]> {
    const now = Date.now();
    const transitions = writes.map((d) => ({ id: d.item.id, userId: d.item.to, token: d.item.token, change: d.change! }));
    const next = writes.flatMap((d) => (d.next ? [d.next] : []));
    if (next.length === 0) return this.store.transitions(transitions, now);
    const tx = await this.queues.multi();
    this.store.queueTransitions(tx, transitions, now);
    this.queues.queueDeliveries(tx, next);
    return execResult<number[]>(await tx.exec(), 0, 'The transaction committing a delivery job').map(transitionResult);
  }
}
