/**
 * Every error code Herald answers with, its HTTP status and its meaning, in one table.
 * HTTP answers, SDK exceptions and CLI messages all use these codes; callers match on `code`,
 * never on message text.
 */
export const ERROR_CODES = {
  HERALD_ERR_VALIDATION: { status: 400, message: 'The request is invalid; see details for every bad field' },
  HERALD_ERR_INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  HERALD_ERR_BAD_REQUEST: { status: 400, message: 'The request is malformed (its path, query or headers)' },
  HERALD_ERR_UNAUTHORIZED: { status: 401, message: 'Missing or unknown API key' },
  HERALD_ERR_FORBIDDEN: { status: 403, message: 'This API key lacks the scope this route needs' },
  HERALD_ERR_NOT_FOUND: { status: 404, message: 'No such resource' },
  HERALD_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  HERALD_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  HERALD_ERR_CONFLICT: { status: 409, message: 'The resource is not in a state that allows this' },
  HERALD_ERR_PRECONDITION_FAILED: { status: 412, message: 'A precondition of the request does not hold' },
  HERALD_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than this route accepts' },
  HERALD_ERR_URI_TOO_LONG: { status: 414, message: 'The request path is too long' },
  HERALD_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  HERALD_ERR_RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range is not satisfiable' },
  HERALD_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  HERALD_ERR_CHANNEL_DISABLED: { status: 409, message: 'This channel is not configured' },
  HERALD_ERR_REDIS_UNAVAILABLE: { status: 503, message: 'Redis is unreachable; retry later' },
  HERALD_ERR_INTERNAL: { status: 500, message: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `targets.webpush.0.endpoint`; `` for the whole body. */
  field: string;
  message: string;
}

export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  readonly statusCode: number;

  constructor(code: ErrorCode, message?: string, details: ErrorDetail[] = []) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'HeraldError';
    this.code = code;
    this.details = details;
    this.statusCode = ERROR_CODES[code].status;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function validationError(details: ErrorDetail[]): HeraldError {
  const fields = details.map((d) => d.field || '(body)').join(', ');
  return new HeraldError('HERALD_ERR_VALIDATION', `Invalid fields: ${fields}`, details);
}

/** True for errors that mean "Redis did not answer", which the API turns into a 503. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) {
    return true;
  }
  // ioredis signals these conditions with dedicated error classes rather than codes.
  return (
    ['MaxRetriesPerRequestError', 'AbortError', 'ConnectionClosedError'].includes(err.name) ||
    err.message === 'Connection is closed.' ||
    err.message === 'Command timed out' ||
    err.message.startsWith("Stream isn't writeable")
  );
}
