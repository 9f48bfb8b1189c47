/**
 * How many jobs a worker holds at once. BullMQ's concurrency counts jobs, while Herald's limit (a
 * channel's slots, see slots.ts) counts deliveries, and a job carries 1 to MAX_ITEMS_PER_JOB of
 * them. Holding as many jobs as there are slots would, with full jobs, hold fifty times more
 * deliveries than can be sent at once; they only wait, and waiting costs worker CPU (figures in
 * docs/performance.md). So the worker holds enough jobs to keep its slots busy with deliveries to spare, from a running
 * average of deliveries per job: single-delivery jobs still get one job per slot.
 */

/** Deliveries held per slot, counting those being sent. */
const DELIVERIES_PER_SLOT = 4;
/** Weight of the latest job in the running average. */
const SMOOTHING = 0.1;

export class FetchLimit {
  private averageItems = 1;

  constructor(private readonly slots: number) {}

  /** Records the size of a job just started; returns how many jobs to hold from now on. */
  observe(items: number): number {
    this.averageItems += (items - this.averageItems) * SMOOTHING;
    const jobs = Math.ceil((DELIVERIES_PER_SLOT * this.slots) / this.averageItems);
    return Math.max(1, Math.min(this.slots, jobs));
  }
}
