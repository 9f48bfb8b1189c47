/**
 * The console's one connection to the event stream, shared by its pages while the operator is
 * signed in: it counts throughput for the chart (starting ten minutes back, so the chart is full
 * from the first look) and tells the pages that listen about each event.
 */
import { authHeaders } from './api.js';
import { Throughput } from './chart.js';
import { eventTime, follow, idAgo } from './events.js';

const CHART_SPAN_MS = 10 * 60_000;

export class Live {
  constructor({ onState }) {
    this.throughput = new Throughput({ spanMs: CHART_SPAN_MS });
    this.listeners = new Set();
    this.onState = onState;
    this.controller = null;
    this.count = 0;
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    follow({
      headers: authHeaders,
      since: idAgo(CHART_SPAN_MS),
      signal: this.controller.signal,
      onState: this.onState,
      onEvent: (event) => {
        this.count += 1;
        this.throughput.add(event.type, eventTime(event));
        for (const listener of this.listeners) listener(event);
      },
    });
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
  }

  /** Calls `listener(event)` for every event until the returned function is called. */
  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
