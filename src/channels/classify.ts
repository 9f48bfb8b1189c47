/**
 * Failure classification shared by the HTTP channels. Retry policy is data: which status codes are
 * worth retrying, which network errno values are passing faults, how to read `Retry-After`.
 * Classification looks at status codes and error codes only, never at message text.
 */
import { attemptCode, type HttpProvider } from '../codes.js';
import { DeliveryError } from './types.js';

/** Status codes a provider may answer differently to later. */
export const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Network-level error codes (Node errno and undici codes) that mean "try again later". */
export const TRANSIENT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
]);

/** Longest wait a provider's `Retry-After` may impose on one delivery. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Reads `Retry-After` as delta-seconds or an HTTP date, capped at MAX_RETRY_AFTER_MS.
 * Returns undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  let delayMs: number;
  if (/^\d+$/.test(raw.trim())) {
    delayMs = Number(raw.trim()) * 1000;
  } else {
    const date = Date.parse(raw);
    if (Number.isNaN(date)) return undefined;
    delayMs = date - now;
  }
  return Math.min(Math.max(delayMs, 0), MAX_RETRY_AFTER_MS);
}

/** Finds the errno-style code of a network failure, looking through `cause` chains. */
export function networkErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Each HTTP provider's family of status codes (`HERALD_GOTIFY_HTTP_<status>`, …). */
const HTTP_STATUS_CODE = {
  GOTIFY: attemptCode.gotifyHttp,
  WEBPUSH: attemptCode.webpushHttp,
  NTFY: attemptCode.ntfyHttp,
  WEBHOOK: attemptCode.webhookHttp,
} satisfies Record<HttpProvider, (status: number) => string>;

/**
 * Turns an HTTP answer into a DeliveryError for `provider`. Unknown 4xx are permanent, since
 * sending the same request again would get the same answer.
 */
export function httpFailure(provider: HttpProvider, statusCode: number, retryAfter?: string | string[]): DeliveryError {
  const code = HTTP_STATUS_CODE[provider](statusCode);
  if (statusCode === 429) {
    return new DeliveryError('rate_limited', code, `${provider.toLowerCase()} answered 429 Too Many Requests`, {
      statusCode,
      retryAfterMs: parseRetryAfter(retryAfter),
    });
  }
  if (TRANSIENT_STATUS.has(statusCode) || statusCode >= 500) {
    return new DeliveryError('transient', code, `${provider.toLowerCase()} answered ${statusCode}`, { statusCode });
  }
  return new DeliveryError('permanent', code, `${provider.toLowerCase()} answered ${statusCode}`, { statusCode });
}

/**
 * Turns a thrown network error into a DeliveryError; unknown failures count as transient.
 * `cutShort`: the request was stopped by its deadline (or by shutdown).
 */
export function networkFailure(provider: HttpProvider, err: unknown, cutShort = false): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (cutShort) {
    return new DeliveryError('transient', attemptCode.HERALD_TIMEOUT, `${provider.toLowerCase()} did not answer before the deadline`, { cause: err });
  }
  const errno = networkErrorCode(err);
  const code = errno ? attemptCode.net(errno) : attemptCode.HERALD_NET_ERROR;
  // An unknown failure is retried: giving up on a message that might have gone through on the
  // next try is worse than one extra attempt.
  return new DeliveryError('transient', code, `${provider.toLowerCase()} request failed (${errno ?? 'network error'})`, { cause: err });
}
