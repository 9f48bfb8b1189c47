/**
 * The contract between the delivery processor and a channel adapter. Adapters know their provider's
 * wire format and how to read its answers; they know nothing of queues, retries or HTTP routes.
 * An adapter either returns a receipt or throws a DeliveryError: the processor is the one place
 * that decides what a failure kind means (retry, next channel, dead letter).
 */
import type { AttemptCode } from '../codes.js';
import type { ChannelName, GotifyTokenKind, Notification, PushSubscriptionJSON } from '../types.js';

export type DeliveryErrorKind = 'transient' | 'permanent' | 'gone' | 'rate_limited';

export class DeliveryError extends Error {
  readonly kind: DeliveryErrorKind;
  /** Stable machine-readable code from the registry (codes.ts), e.g. `HERALD_GOTIFY_HTTP_401`, `HERALD_NET_ECONNREFUSED`. */
  readonly code: AttemptCode;
  readonly statusCode?: number;
  /** For `rate_limited`: how long the provider asked us to wait. */
  readonly retryAfterMs?: number;

  constructor(kind: DeliveryErrorKind, code: AttemptCode, message: string, extra: { statusCode?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    // The code leads the message because BullMQ stores only the message of a failed attempt.
    super(`${code}: ${message}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'DeliveryError';
    this.kind = kind;
    this.code = code;
    if (extra.statusCode !== undefined) this.statusCode = extra.statusCode;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }
}

/** The fields of a notification that channels render. */
export type RenderedFields = 'id' | 'title' | 'message' | 'priority' | 'url' | 'category' | 'data' | 'collapseKey';

/** What a provider receives: the notification reduced to what channels render. */
export type OutgoingMessage = Pick<Notification, RenderedFields> & {
  /** Absolute time (ms) after which the message must not be delivered. */
  expiresAt: number;
};

export interface SendContext {
  /** Aborted when the delivery must stop (deadline or shutdown). */
  signal?: AbortSignal;
}

export interface Receipt {
  statusCode?: number;
  /** Provider-side id, when the provider returns one (Gotify message id, SMTP message id). */
  providerId?: string;
}

export interface GotifyTarget {
  token: string;
  /** Where the token came from; recorded on the attempt, never sent. */
  tokenKind?: GotifyTokenKind;
}

export interface EmailTarget {
  address: string;
}

export interface WebPushTarget {
  /** Stable id of the subscription (derived from its endpoint). */
  id: string;
  subscription: PushSubscriptionJSON;
}

export interface NtfyTarget {
  /** The ntfy topic the recipient subscribes to. */
  topic: string;
}

export interface WebhookTarget {
  /** The recipient's endpoint, checked by the endpoint guard when registered and again when sent to. */
  url: string;
}

export interface InboxTarget {
  /** The recipient whose inbox gets the item. */
  userId: string;
}

export interface TargetOf {
  gotify: GotifyTarget;
  email: EmailTarget;
  webpush: WebPushTarget;
  ntfy: NtfyTarget;
  webhook: WebhookTarget;
  inbox: InboxTarget;
}

export interface ChannelAdapter<C extends ChannelName = ChannelName> {
  readonly name: C;
  send(message: OutgoingMessage, target: TargetOf[C], ctx: SendContext): Promise<Receipt>;
  close(): Promise<void>;
}

export type ChannelAdapters = { [C in ChannelName]?: ChannelAdapter<C> };
