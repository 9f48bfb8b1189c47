/**
 * Herald's event stream (`GET /v1/events`) read with fetch, not EventSource: EventSource cannot
 * send an Authorization header, and the key must never go into a URL. So the stream's text is
 * parsed here, as the HTML standard's server-sent events parser does it (fields `id`, `event`,
 * `data`, `retry`; comment lines such as the server's `: ping` heartbeats; an event dispatched at
 * a blank line), and a dropped stream is reopened with `Last-Event-ID`, so no event is missed.
 */

/** Splits a server-sent events text into messages; feed it chunks as they arrive. */
export class SseParser {
  constructor() {
    this.buffer = '';
    this.afterCR = false;
    this.lastEventId = '';
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.sawData = false;
  }

  /**
   * Parses `chunk` (text, possibly ending mid-line) and returns the messages it completed, each
   * `{ id, type, data, retry? }`; comments come back as `{ comment }` so a heartbeat counts as life.
   */
  push(chunk) {
    // A line ends with CRLF, LF or CR. A chunk that ends with CR has ended its line; the LF that
    // may start the next chunk is the second half of that CRLF, not an empty line.
    const text = this.afterCR && chunk.startsWith('\n') ? chunk.slice(1) : chunk;
    this.afterCR = text.endsWith('\r');
    this.buffer += text;
    const out = [];
    const lines = this.buffer.split(/\r\n|\n|\r/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line, out);
    return out;
  }

  line(line, out) {
    if (line === '') {
      if (this.sawData) out.push({ id: this.lastEventId, type: this.type || 'message', data: this.data.join('\n') });
      this.reset();
      return;
    }
    if (line.startsWith(':')) {
      out.push({ comment: line.slice(1).trim() });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.sawData = true;
    } else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) out.push({ retry: Number(value) });
  }
}

/** How long a stream may stay silent (the server sends a comment every 15 s) before it is reopened. */
const SILENCE_MS = 45_000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 15_000;

/**
 * Follows the event stream until `signal` aborts. `headers()` gives the request's headers (the
 * bearer key); `onEvent(event)` gets each parsed Event (with its `id`); `onState(state)` hears
 * 'connecting', 'live', 'retrying' or 'refused' (401/403: the key no longer works; no retry).
 * `since` is where to start: an event id; the stream then resumes after it.
 */
export function follow({ headers, onEvent, onState, signal, since = null }) {
  let lastId = since;
  let retryMs = FIRST_RETRY_MS;
  let serverRetryMs = null;

  const once = async () => {
    const parser = new SseParser();
    const watchdog = new AbortController();
    const stop = () => watchdog.abort();
    signal.addEventListener('abort', stop, { once: true });
    let timer = setTimeout(stop, SILENCE_MS);
    try {
      onState('connecting');
      const response = await fetch('/v1/events', {
        headers: headers({ accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) }),
        cache: 'no-store',
        credentials: 'omit',
        signal: watchdog.signal,
      });
      if (response.status === 401 || response.status === 403) return 'refused';
      if (response.status === 400 && lastId === since && since !== null) {
        // A starting point the server does not take (older than its retention): start from now.
        lastId = null;
        return 'retry';
      }
      if (!response.ok || !response.body) return 'retry';
      onState('live');
      retryMs = FIRST_RETRY_MS;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'retry';
        clearTimeout(timer);
        timer = setTimeout(stop, SILENCE_MS);
        for (const message of parser.push(value)) {
          if (message.retry !== undefined) serverRetryMs = message.retry;
          if (message.data === undefined) continue;
          if (message.id) lastId = message.id;
          let event;
          try {
            event = JSON.parse(message.data);
          } catch {
            continue; // Not an Event: nothing to show.
          }
          onEvent({ ...event, id: message.id || event.id, type: event.type ?? message.type });
        }
      }
    } catch {
      return 'retry';
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
    }
  };

  const run = async () => {
    while (!signal.aborted) {
      const outcome = await once();
      if (signal.aborted) return;
      if (outcome === 'refused') {
        onState('refused');
        return;
      }
      onState('retrying');
      const wait = serverRetryMs ?? retryMs;
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, wait);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  };
  return run();
}

/** The stream id that starts `msAgo` milliseconds back: stream ids are `<unix ms>-<sequence>`. */
export function idAgo(msAgo, now = Date.now()) {
  return `${Math.max(0, now - msAgo)}-0`;
}

/** The time (unix ms) of an event, from its `at` or, failing that, its stream id. */
export function eventTime(event) {
  const at = Date.parse(event.at ?? '');
  if (!Number.isNaN(at)) return at;
  const fromId = Number(String(event.id ?? '').split('-')[0]);
  return Number.isFinite(fromId) && fromId > 0 ? fromId : Date.now();
}
