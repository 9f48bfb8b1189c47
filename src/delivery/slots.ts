/**
 * A counting semaphore: at most `size` holders at once, later callers wait in arrival order. The
 * processor holds one slot per delivery being sent, so a channel's concurrency bounds provider
 * requests however many deliveries its jobs carry, and a delivery's deadline starts only once it
 * is really sent.
 *
 * The delivery path holds its slot with take() (or wait() when none is free) and give(), in a
 * try/finally: a free slot is then taken without a promise or a closure, once per delivery.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Takes a free slot now; false when none is free (then wait() for one). */
  take(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }

  /** Resolves once a slot is handed to the caller, after those already waiting. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Gives back a slot held through take() or wait(): exactly once per slot held. */
  give(): void {
    // The slot passes straight to the next waiter, so none can be overtaken.
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }

  /** Resolves with the function that gives the slot back (call it exactly once; later calls do nothing). */
  async acquire(): Promise<() => void> {
    if (!this.take()) await this.wait();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.give();
    };
  }
}
