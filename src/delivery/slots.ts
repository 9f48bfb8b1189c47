/**
 * A counting semaphore: at most `size` holders at once, later callers wait in arrival order. The
 * processor holds one slot per delivery being sent, so a channel's concurrency bounds provider
 * requests however many deliveries its jobs carry, and a delivery's deadline starts only once it
 * is really sent.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Resolves with the function that gives the slot back (call it exactly once). */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the next waiter, so none can be overtaken.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
