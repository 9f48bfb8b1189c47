/**
 * Gathers the calls made during one turn of the event loop and runs them as one batch: the batch
 * runs in the check phase of the same turn (setImmediate), so nothing waits for a timer, yet all
 * that concurrent callers submitted meanwhile (requests answered in the same poll, a loop of calls)
 * shares one Redis round trip. Each caller gets its own item's result; if the batch fails, every
 * caller in it gets the error.
 *
 * With a linger, a batch that follows a small shared batch (2 to LINGER_BELOW - 1 items) within
 * `lingerMs` waits for the rest of that interval, gathering what arrives meanwhile (as a message
 * producer's linger does). Callers that arrive together are concurrent callers; under their
 * sustained traffic this trades a few milliseconds for fewer, larger batches, which cost Redis and
 * the workers much less per item. A lone caller awaiting each call in turn makes batches of one
 * and never waits; callers numerous enough to fill batches on their own do not wait either, and
 * a lingering batch stops waiting as soon as it has LINGER_BELOW items: at a high arrival rate the
 * linger shortens by itself to the time that gathers them.
 */

/** A batch this large already spreads the fixed cost of a batch thinly: no linger after it. */
export const LINGER_BELOW = 20;
interface Pending<I, O> {
  item: I;
  resolve(result: O): void;
  reject(err: unknown): void;
}

export class TurnBatcher<I, O> {
  private pending: Pending<I, O>[] = [];
  private scheduled = false;
  /** The timer of a lingering batch, while it waits for company. */
  private lingering: NodeJS.Timeout | undefined;
  /** When the last small shared batch started (performance.now()). */
  private lastSharedAt = -Infinity;

  constructor(
    /** Runs a batch; resolves with one result per item, in order. */
    private readonly run: (items: I[]) => Promise<O[]>,
    /** A batch this large runs at once rather than at the end of the turn. */
    private readonly maxSize: number,
    /** Least time, in ms, from a small shared batch to the next batch; 0 never waits. */
    private readonly lingerMs = 0,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxSize) this.flush();
      else if (this.lingering !== undefined && this.pending.length >= LINGER_BELOW) {
        // Company enough: a batch this large needs no more (as after one, no linger follows), so
        // waiting longer would only add latency. It runs at the end of this turn, with the rest of it.
        clearTimeout(this.lingering);
        this.lingering = undefined;
        setImmediate(() => this.flush());
      } else if (!this.scheduled) {
        this.scheduled = true;
        const wait = this.lastSharedAt + this.lingerMs - performance.now();
        if (wait > 0) this.lingering = setTimeout(() => this.flush(), wait);
        else setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.lingering !== undefined) {
      clearTimeout(this.lingering);
      this.lingering = undefined;
    }
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.lastSharedAt = batch.length > 1 && batch.length < LINGER_BELOW ? performance.now() : -Infinity;
    let running: Promise<O[]>;
    try {
      running = this.run(batch.map((p) => p.item));
    } catch (err) {
      // A batch that throws before it starts fails its callers like one that rejects.
      running = Promise.reject(err);
    }
    running
      .then((results) => {
        if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${results.length} results`);
        for (const [i, p] of batch.entries()) p.resolve(results[i]!);
      })
      .catch((err: unknown) => {
        for (const p of batch) p.reject(err);
      });
  }
}
