/**
 * The delivery processor: runs one job of one channel queue (up to MAX_ITEMS_PER_JOB deliveries,
 * sent side by side), each delivery in three steps:
 *   load    (load.ts)    one script reads every record and recipient of the job
 *   send    (send.ts)    once a slot of the channel is free, to every target of the channel
 *   commit  (commit.ts)  one MULTI records the decisions of every delivery decided in the same
 *                        turn of the event loop, with the jobs that carry them on (and the token
 *                        checks of the deliveries sent in that turn, in the same round trip)
 * Between them, decide.ts (pure) says whether a loaded delivery is sent at all and what its send
 * means; plan.ts says where its chain goes. A delivery whose token is not the record's is stale and
 * sends nothing.
 */
import type { ChannelName } from '../types.js';
import type { ChannelAdapters } from '../channels/types.js';
import type { NotificationStore } from '../store/notifications.js';
import { newToken } from '../store/tokens.js';
import { itemsOf, type ChannelQueues, type DeliveryItem, type DeliveryJobData } from '../queue/queues.js';
import type { ChannelEnvironment } from './plan.js';
import { loadDeliveries, type DeliveryState } from './load.js';
import { Sender } from './send.js';
import { decide, route, staleDecision, type DecisionRules, type DeliveryPolicy, type DeliveryReport, type Happened } from './decide.js';
import { Committer, type RecipientCopies } from './commit.js';

export type { DeliveryPolicy, DeliveryReport, JobOutcome } from './decide.js';

export interface ProcessorDeps {
  store: NotificationStore;
  queues: ChannelQueues;
  adapters: ChannelAdapters;
  env: ChannelEnvironment;
  policy: DeliveryPolicy;
  /** Deliveries sent at once, per channel, across all the jobs this processor runs. */
  concurrency: Readonly<Record<ChannelName, number>>;
  /** The other shards' copies of the recipients (several shards only). */
  recipientCopies?: RecipientCopies;
}

export class DeliveryProcessor {
  private readonly rules: DecisionRules;
  private readonly sender: Sender;
  private readonly committer: Committer;

  constructor(private readonly deps: ProcessorDeps) {
    const sendable = new Set(Object.entries(deps.adapters).flatMap(([channel, adapter]) => (adapter ? [channel as ChannelName] : [])));
    this.rules = { policy: deps.policy, env: deps.env, sendable, newToken, random: Math.random };
    this.committer = new Committer(deps.store, deps.queues, deps.recipientCopies);
    this.sender = new Sender(deps.adapters, deps.env, deps.concurrency, (item) => this.committer.check(item));
  }

  /**
   * Runs the deliveries of one job; each is committed as soon as it is decided, together with the
   * other deliveries (of any job) decided in the same turn of the event loop. One report per delivery.
   */
  async process(channel: ChannelName, data: DeliveryJobData, signal?: AbortSignal): Promise<DeliveryReport[]> {
    const items = itemsOf(data);
    const states = await loadDeliveries(this.deps.store, items);
    return Promise.all(items.map((item, i) => this.deliver(channel, item, states[i] ?? null, signal)));
  }

  /**
   * The deliveries of a job BullMQ gave up on by itself (a worker kept dying while holding it):
   * their notifications are dead-lettered with an attempt that says so (see decide.ts).
   */
  async abandon(channel: ChannelName, data: DeliveryJobData, reason: string): Promise<DeliveryReport[]> {
    const items = itemsOf(data);
    const states = await loadDeliveries(this.deps.store, items);
    const now = Date.now();
    const happened: Happened = { kind: 'abandoned', reason };
    return Promise.all(
      items.map((item, i) => {
        const state = states[i];
        return this.committer.submit(state ? decide({ state, channel, happened, now, rules: this.rules }) : staleDecision(item));
      }),
    );
  }

  /**
   * Routes one loaded delivery, sends it if it is due here, decides what that means and commits
   * the decision (with the others of its turn).
   */
  private async deliver(channel: ChannelName, item: DeliveryItem, state: DeliveryState | null, signal?: AbortSignal): Promise<DeliveryReport> {
    if (!state) return this.committer.submit(staleDecision(item));
    const { rules } = this;
    const now = Date.now();
    const to = route(state, channel, now, rules);
    if (to.kind !== 'send' && to.kind !== 'resend') return this.committer.submit(decide({ state, channel, happened: to, now, rules }));

    const results = await this.sender.send(channel, state, signal);
    const aborted = signal?.aborted === true;
    const happened: Happened = to.kind === 'send' ? { kind: 'sent', chain: to.chain, move: to.move, results, aborted } : { kind: 'resent', results, aborted };
    // Awaited rather than returned: an async function that returns a promise takes extra turns of
    // the microtask queue to adopt it.
    return await this.committer.submit(decide({ state, channel, happened, now: Date.now(), rules }));
  }
}
