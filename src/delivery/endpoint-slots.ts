/**
 * Per-endpoint request slots of one worker process: at most `limit` requests to one endpoint at a
 * time. A delivery that finds its endpoint's slots taken waits for one, briefly, only while the
 * endpoint answers quickly; otherwise it is told to come back later and gives its worker slot to
 * another endpoint's delivery. So a fast endpoint is kept busy from this process's queue, and a
 * hanging one holds `limit` worker slots (plus, for at most `waitMs` after its requests start,
 * `limit × WAITING_PER_SLOT` waiting deliveries).
 */

/** Deliveries that may wait per slot of an endpoint: enough to keep a fast endpoint's slots busy. */
const WAITING_PER_SLOT = 4;

interface EndpointState {
  /** When each running request started (ms), keyed by a ticket number. */
  running: Map<number, number>;
  /** Deliveries waiting for a slot, oldest first: each is handed a ticket, or null at its deadline. */
  waiting: ((ticket: number | null) => void)[];
}

/** Gives the slot back. */
export type Release = () => void;

export class EndpointSlots {
  private readonly endpoints = new Map<string, EndpointState>();
  private nextTicket = 0;

  constructor(
    /** Requests to one endpoint at once. */
    private readonly limit: number,
    /** Longest wait for a slot, in ms; also how old a running request may be before the endpoint counts as slow. */
    private readonly waitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Requests running to `id`. */
  running(id: string): number {
    return this.endpoints.get(id)?.running.size ?? 0;
  }

  /** A slot for a request to endpoint `id`, or null when there is none to be had soon. */
  async acquire(id: string): Promise<Release | null> {
    let state = this.endpoints.get(id);
    if (!state) this.endpoints.set(id, (state = { running: new Map(), waiting: [] }));
    if (state.running.size < this.limit) return this.take(id, state);
    const oldest = Math.min(...state.running.values());
    if (state.waiting.length >= this.limit * WAITING_PER_SLOT || this.now() - oldest >= this.waitMs) return null;
    const current = state;
    const ticket = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        const index = current.waiting.indexOf(handOver);
        if (index >= 0) current.waiting.splice(index, 1);
        resolve(null);
      }, this.waitMs);
      const handOver = (given: number | null) => {
        clearTimeout(timer);
        resolve(given);
      };
      current.waiting.push(handOver);
    });
    return ticket === null ? null : this.releaser(id, current, ticket);
  }

  private take(id: string, state: EndpointState): Release {
    const ticket = this.nextTicket++;
    state.running.set(ticket, this.now());
    return this.releaser(id, state, ticket);
  }

  private releaser(id: string, state: EndpointState, ticket: number): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.running.delete(ticket);
      const next = state.waiting.shift();
      if (next) {
        // The slot goes straight to the oldest waiting delivery.
        const handed = this.nextTicket++;
        state.running.set(handed, this.now());
        next(handed);
      } else if (state.running.size === 0) {
        this.endpoints.delete(id);
      }
    };
  }
}
