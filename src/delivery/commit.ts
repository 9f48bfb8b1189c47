/**
 * The last step of a delivery: recording its decision. Decisions wait for the end of the event
 * loop's turn and are committed together, whatever job they came from: one round trip for many
 * deliveries when they are many, yet a delivery is recorded as soon as it is decided rather than
 * when its whole job is, so a worker killed mid-job leaves only the deliveries of that last turn to
 * be sent again. The token checks of the deliveries about to be sent in the same turn (send.ts) go
 * in the same round trip.
 * Invariant: every transition is guarded by the token of the delivery that decided it, and the
 * jobs that carry notifications on are queued in the same MULTI as the transitions that give them
 * their tokens, so a crash leaves either the old job (which redoes the step) or the new one, never
 * both live and never neither.
 */
import { heldTokens, transitionResult, type NotificationStore, type Transition, type TransitionResult } from '../store/notifications.js';
import { execResult } from '../redis/failures.js';
import type { ChannelQueues, DeliveryItem, QueuedDelivery } from '../queue/queues.js';
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

/** Deliveries committed and checked in one round trip at most. */
const MAX_TURN_BATCH = 500;

/** What a turn gathers: decisions to commit, and token checks of deliveries about to be sent (send.ts). */
type TurnItem = { decision: Decision; check?: undefined } | { check: DeliveryItem; decision?: undefined };

export class Committer {
  private readonly batcher = new TurnBatcher<TurnItem, DeliveryReport | boolean>((items) => this.run(items), MAX_TURN_BATCH);

  constructor(
    private readonly store: NotificationStore,
    private readonly queues: ChannelQueues,
    private readonly copies?: RecipientCopies,
  ) {}

  /** Commits a decision with the others of this turn; resolves with what became of the delivery. */
  submit(decision: Decision): Promise<DeliveryReport> {
    return this.batcher.submit({ decision }) as Promise<DeliveryReport>;
  }

  /**
   * Whether `item` still holds its record's token, read in the same round trip as this turn's
   * commits: the turn in which a provider's answers free slots is the one in which their
   * deliveries are decided, so the checks of the deliveries that take those slots and the commits
   * of those that leave them go to Redis together.
   */
  check(item: DeliveryItem): Promise<boolean> {
    return this.batcher.submit({ check: item }) as Promise<boolean>;
  }

  /**
   * A delivery whose transition finds another token was overtaken (a duplicate job, a replay): it
   * reports `stale`, and the job queued for it carries a token the record never got, so it is
   * dropped when it runs.
   */
  private async run(items: TurnItem[]): Promise<(DeliveryReport | boolean)[]> {
    // Decisions with something to write, and the checks, in the order of the turn.
    const writes: Decision[] = [];
    const checks: DeliveryItem[] = [];
    for (const item of items) {
      if (!item.decision) checks.push(item.check);
      else if (item.decision.change) writes.push(item.decision);
    }
    const { results, held } = await this.write(writes, checks);
    if (this.copies) await this.removeGoneElsewhere(writes.filter((_, i) => results[i] === 'applied'));
    const reports: (DeliveryReport | boolean)[] = new Array(items.length);
    let nextWrite = 0;
    let nextCheck = 0;
    for (let i = 0; i < items.length; i++) {
      const d = items[i]!.decision;
      if (!d) {
        reports[i] = held[nextCheck++]!;
        continue;
      }
      const report: DeliveryReport = { id: d.id, outcome: d.outcome, attempt: d.attempt };
      // A decision's change is in `writes` at the place it took there (they keep the turn's order).
      if (d.change && results[nextWrite++] !== 'applied') report.outcome = 'stale';
      else {
        if (d.retry) report.retry = d.retry;
        if (d.code) report.code = d.code;
      }
      reports[i] = report;
    }
    return reports;
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

  /**
   * The turn's checks and transitions in one round trip: a MULTI when the transitions queue jobs
   * (the jobs that follow from them, committed with them), else the two script calls in one write.
   * In the MULTI the checks go first, so their reply's place does not depend on how many commands
   * the queued jobs take.
   */
  private async write(writes: Decision[], checks: DeliveryItem[]): Promise<{ results: TransitionResult[]; held: boolean[] }> {
    if (writes.length === 0 && checks.length === 0) return { results: [], held: [] };
    const now = Date.now();
    const transitions: Transition[] = new Array(writes.length);
    const next: QueuedDelivery[] = [];
    for (let i = 0; i < writes.length; i++) {
      const d = writes[i]!;
      transitions[i] = { id: d.item.id, userId: d.item.to, token: d.item.token, change: d.change! };
      if (d.next) next.push(d.next);
    }
    if (next.length === 0) return this.store.checkAndTransition(checks, transitions, now);
    const tx = await this.queues.multi();
    if (checks.length > 0) this.store.queueHoldsToken(tx, checks);
    this.store.queueTransitions(tx, transitions, now);
    this.queues.queueDeliveries(tx, next);
    const replies = await tx.exec();
    const what = 'The transaction committing a delivery job';
    const held = checks.length > 0 ? heldTokens(execResult<number[]>(replies, 0, what)) : [];
    const results = execResult<number[]>(replies, checks.length > 0 ? 1 : 0, what).map(transitionResult);
    return { results, held };
  }
}
