/**
 * One try of one event webhook delivery: look the endpoint up (a deleted endpoint's deliveries
 * are dropped here), take one of its slots, POST the event signed as Standard Webhooks, and record
 * the outcome in the endpoint's health.
 *
 * Per-endpoint slots: a worker process runs at most `endpointConcurrency` requests to one endpoint
 * at a time. A try whose endpoint has no free slot is not sent (`busy`); the runtime puts its job
 * back for a moment without counting a try, so a hanging endpoint holds at most that many of the
 * worker's slots and every other endpoint's deliveries go on.
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
import type { WebhookStore } from '../store/webhooks.js';
import type { WebhookJobData } from '../queue/webhook-queue.js';

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

export class WebhookSender {
  private readonly http: GuardedHttpClient;
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly store: WebhookStore,
    private readonly options: WebhookSenderOptions,
    private readonly logger: Logger,
  ) {
    const guard = { allowPrivate: options.allowPrivateEndpoints, ...(options.resolver ? { resolver: options.resolver } : {}) };
    this.http = new GuardedHttpClient('WEBHOOK', options.endpointConcurrency, guard, refused);
  }

  /** Requests in flight to `endpointId` from this process. */
  busySlots(endpointId: string): number {
    return this.inFlight.get(endpointId) ?? 0;
  }

  /** One try; throws a DeliveryError when it failed (its `code` says why, its `kind` whether to retry). */
  async send(data: WebhookJobData, signal: AbortSignal): Promise<WebhookOutcome> {
    const { endpointId, event } = data;
    if (this.busySlots(endpointId) >= this.options.endpointConcurrency) return 'busy';
    this.inFlight.set(endpointId, this.busySlots(endpointId) + 1);
    try {
      const endpoint = await this.store.get(endpointId);
      if (!endpoint) return 'endpoint-deleted';
      const url = this.http.url(endpoint.url);
      const body = JSON.stringify(event);
      const headers = { 'content-type': 'application/json', ...sign(signingKey(endpoint.secret), event.id, Date.now() / 1000, body) };
      const response = await this.http.request({ url, method: 'POST', headers, body, timeoutMs: this.options.timeoutMs, signal });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await this.store.recordTry(endpointId);
        return 'delivered';
      }
      if (status === 410) {
        await this.store.delete(endpointId);
        this.logger.warn({ webhookId: endpointId, eventId: event.id }, 'webhook endpoint answered 410 Gone: it is deleted');
        return 'endpoint-gone';
      }
      throw httpFailure('WEBHOOK', status);
    } catch (err) {
      const failure =
        err instanceof DeliveryError ? err : new DeliveryError('transient', attemptCode.HERALD_CHANNEL_ERROR, 'webhook try failed', { cause: err });
      await this.store.recordTry(endpointId, failure.code).catch(() => {});
      throw failure;
    } finally {
      const left = this.busySlots(endpointId) - 1;
      if (left > 0) this.inFlight.set(endpointId, left);
      else this.inFlight.delete(endpointId);
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
