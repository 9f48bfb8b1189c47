/**
 * One try of one event webhook delivery: look the endpoint up (a deleted endpoint's deliveries
 * are dropped here), take one of its slots, POST the event signed as Standard Webhooks, and record
 * the outcome in the endpoint's health.
 *
 * Per-endpoint slots: a worker process runs at most `endpointConcurrency` requests to one endpoint
 * at a time (endpoint-slots.ts). A try whose endpoint has no free slot waits for one briefly while
 * the endpoint answers quickly; otherwise it is not sent (`busy`) and the runtime puts its job back
 * for a moment without counting a try, so a hanging endpoint holds only its own few slots and
 * every other endpoint's deliveries go on.
 *
 * Answers: 2xx delivered; 410 Gone deletes the endpoint (the receiver says it will never want
 * these again, as the webhook channel's 410 removes a recipient's URL); anything else, a network
 * error or the deadline is a failed try, retried with the queue's backoff. A URL the endpoint
 * guard refuses at send time (DNS now points at a private address) fails for good.
 */
import type { Logger } from '../logger.js';
import { attemptCode } from '../codes.js';
import { httpFailure } from '../channels/classify.js';
import type { Resolver } from '../channels/endpoint-guard.js';
import { GuardedHttpClient } from '../channels/guarded-http-client.js';
import { sign, signingKey } from '../channels/standard-webhooks.js';
import { DeliveryError } from '../channels/types.js';
import type { WebhookEndpoint, WebhookStore } from '../store/webhooks.js';
import type { WebhookJobData } from '../queue/webhook-queue.js';
import { EndpointSlots } from './endpoint-slots.js';

export interface WebhookSenderOptions {
  /** Deadline of one request, in ms (HERALD_PROVIDER_TIMEOUT_MS). */
  timeoutMs: number;
  /** Requests to one endpoint at once, per worker process (HERALD_EVENT_WEBHOOK_ENDPOINT_CONCURRENCY). */
  endpointConcurrency: number;
  /** HERALD_ALLOW_PRIVATE_ENDPOINTS: skip the scheme, port and address rules. */
  allowPrivateEndpoints: boolean;
  /** DNS resolver of the endpoint guard; tests inject one. */
  resolver?: Resolver;
}

/** What a try came to, when it did not fail. */
export type WebhookOutcome = 'delivered' | 'endpoint-deleted' | 'endpoint-gone' | 'busy';

function refused(reason: string, cause?: unknown): DeliveryError {
  return new DeliveryError('permanent', attemptCode.HERALD_WEBHOOK_URL_REFUSED, `webhook URL refused: ${reason}`, { cause });
}

/**
 * How long a worker keeps an endpoint it looked up, in ms: one lookup per endpoint per second
 * instead of one per delivery. So a deleted endpoint may get one more request within this long.
 */
export const ENDPOINT_CACHE_MS = 1000;
/**
 * How long a delivery may wait for one of its endpoint's slots, in ms, and how old the oldest
 * request to the endpoint may be for it to wait at all (endpoint-slots.ts).
 */
const SLOT_WAIT_MS = 1000;
/** A success is recorded in the endpoint's health at most this often per worker, in ms (failures every time). */
const HEALTH_WRITE_EVERY_MS = 1000;

export class WebhookSender {
  private readonly http: GuardedHttpClient;
  private readonly slots: EndpointSlots;
  private readonly endpoints = new Map<string, { endpoint: WebhookEndpoint | null; key?: Buffer; readAt: number }>();
  private readonly successWrittenAt = new Map<string, number>();

  constructor(
    private readonly store: WebhookStore,
    private readonly options: WebhookSenderOptions,
    private readonly logger: Logger,
  ) {
    const guard = { allowPrivate: options.allowPrivateEndpoints, ...(options.resolver ? { resolver: options.resolver } : {}) };
    this.http = new GuardedHttpClient('WEBHOOK', options.endpointConcurrency, guard, refused);
    this.slots = new EndpointSlots(options.endpointConcurrency, SLOT_WAIT_MS);
  }

  /** One try; throws a DeliveryError when it failed (its `code` says why, its `kind` whether to retry). */
  async send(data: WebhookJobData, signal: AbortSignal): Promise<WebhookOutcome> {
    const { endpointId, event } = data;
    const release = await this.slots.acquire(endpointId);
    if (!release) return 'busy';
    try {
      const { endpoint, key } = await this.endpoint(endpointId);
      if (!endpoint || !key) return 'endpoint-deleted';
      const url = this.http.url(endpoint.url);
      const body = JSON.stringify(event);
      const headers = { 'content-type': 'application/json', ...sign(key, event.id, Date.now() / 1000, body) };
      const response = await this.http.request({ url, method: 'POST', headers, body, timeoutMs: this.options.timeoutMs, signal });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await this.recordSuccess(endpointId);
        return 'delivered';
      }
      if (status === 410) {
        await this.store.delete(endpointId);
        this.endpoints.delete(endpointId);
        this.logger.warn({ webhookId: endpointId, eventId: event.id }, 'webhook endpoint answered 410 Gone: it is deleted');
        return 'endpoint-gone';
      }
      throw httpFailure('WEBHOOK', status);
    } catch (err) {
      const failure =
        err instanceof DeliveryError ? err : new DeliveryError('transient', attemptCode.HERALD_CHANNEL_ERROR, 'webhook try failed', { cause: err });
      // The next success is recorded whenever it comes: the health must show the recovery.
      this.successWrittenAt.delete(endpointId);
      await this.store.recordTry(endpointId, failure.code).catch(() => {});
      throw failure;
    } finally {
      release();
    }
  }

  /** The endpoint and its signing key, looked up at most once per ENDPOINT_CACHE_MS. */
  private async endpoint(id: string): Promise<{ endpoint: WebhookEndpoint | null; key?: Buffer }> {
    const cached = this.endpoints.get(id);
    if (cached && Date.now() - cached.readAt < ENDPOINT_CACHE_MS) return cached;
    const endpoint = await this.store.get(id);
    const entry = { endpoint, readAt: Date.now(), ...(endpoint ? { key: signingKey(endpoint.secret) } : {}) };
    // Entries of deleted endpoints and old ones go: the map holds only endpoints used lately.
    if (this.endpoints.size > 10_000) this.endpoints.clear();
    this.endpoints.set(id, entry);
    return entry;
  }

  /** Records a success, unless this worker recorded one for the endpoint within HEALTH_WRITE_EVERY_MS. */
  private async recordSuccess(id: string): Promise<void> {
    const writtenAt = this.successWrittenAt.get(id);
    if (writtenAt !== undefined && Date.now() - writtenAt < HEALTH_WRITE_EVERY_MS) return;
    this.successWrittenAt.set(id, Date.now());
    await this.store.recordTry(id);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
