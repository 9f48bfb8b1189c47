/**
 * Turns the errors Fastify, Node's HTTP parser and Fastify plugins (the docs' static files) raise
 * on their own into Herald answers. A client error (4xx) keeps its status and gets the Herald code
 * for that status, so a malformed path or an unsatisfiable range is never a 500 with a stack trace
 * in the log; only what is left over is an internal error.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError } from 'fastify';
import type { HttpErrorCode } from '../codes.js';
import { HeraldError } from '../errors.js';

/** The Herald code of each client error status Fastify, Node or a plugin may answer with. */
const CODE_BY_STATUS: ReadonlyMap<number, HttpErrorCode> = new Map([
  [400, 'HERALD_ERR_BAD_REQUEST'],
  [401, 'HERALD_ERR_UNAUTHORIZED'],
  [403, 'HERALD_ERR_FORBIDDEN'],
  [404, 'HERALD_ERR_NOT_FOUND'],
  [405, 'HERALD_ERR_METHOD_NOT_ALLOWED'],
  [408, 'HERALD_ERR_REQUEST_TIMEOUT'],
  [409, 'HERALD_ERR_CONFLICT'],
  [412, 'HERALD_ERR_PRECONDITION_FAILED'],
  [413, 'HERALD_ERR_PAYLOAD_TOO_LARGE'],
  [414, 'HERALD_ERR_URI_TOO_LONG'],
  [415, 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE'],
  [416, 'HERALD_ERR_RANGE_NOT_SATISFIABLE'],
  [431, 'HERALD_ERR_HEADERS_TOO_LARGE'],
] satisfies [number, HttpErrorCode][]);

/** Messages that say more than the code's own for errors a client can cause by itself. */
const MESSAGE_BY_FASTIFY_CODE: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'The request path is not valid percent-encoded UTF-8',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty; send a JSON object',
  FST_STATIC_FORBIDDEN_PATH: 'This path is not allowed',
};

/**
 * A client error status's Herald error; null for anything else (a bug: the caller logs it). An
 * unlisted 4xx becomes HERALD_ERR_BAD_REQUEST, so every client error still gets a Herald code.
 */
export function clientErrorFor(statusCode: number | undefined, fastifyCode?: string): HeraldError | null {
  if (statusCode === undefined || statusCode < 400 || statusCode > 499) return null;
  const code = CODE_BY_STATUS.get(statusCode) ?? 'HERALD_ERR_BAD_REQUEST';
  return new HeraldError(code, fastifyCode ? MESSAGE_BY_FASTIFY_CODE[fastifyCode] : undefined);
}

/** Maps Fastify's own request errors (body parsing, limits, routing, static files) to Herald errors. */
export function fromFastifyError(error: FastifyError, bodyLimitBytes: number): HeraldError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('HERALD_ERR_PAYLOAD_TOO_LARGE', `The request body is larger than ${bodyLimitBytes} bytes, this route's limit`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('HERALD_ERR_UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HeraldError('HERALD_ERR_INVALID_JSON', MESSAGE_BY_FASTIFY_CODE[error.code]);
    default:
      break;
  }
  // JSON.parse's own error, from the body parser.
  if (error instanceof SyntaxError) return new HeraldError('HERALD_ERR_INVALID_JSON');
  return clientErrorFor(error.statusCode, error.code);
}

/**
 * Answers an error Node's HTTP parser raised before Fastify saw a request (a broken request line,
 * headers too large, a request that took too long), in Herald's error shape, then closes: the
 * connection's framing can no longer be trusted.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const herald = clientErrorFor(status)!;
  const body = JSON.stringify(herald.toJSON());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
