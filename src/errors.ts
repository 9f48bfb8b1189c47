/**
 * HeraldError: the error an HTTP answer, an SDK exception and a CLI message carry. Its code comes
 * from HTTP_ERRORS (codes.ts), which gives the status and the default message; callers match on
 * `code`, never on message text.
 */
import { HTTP_ERRORS, type HttpErrorCode } from './codes.js';

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `targets.webpush.0.endpoint`; `` for the whole body. */
  field: string;
  message: string;
}

export class HeraldError extends Error {
  readonly code: HttpErrorCode;
  readonly details: ErrorDetail[];
  readonly statusCode: number;

  constructor(code: HttpErrorCode, message?: string, details: ErrorDetail[] = []) {
    super(message ?? HTTP_ERRORS[code].message);
    this.name = 'HeraldError';
    this.code = code;
    this.details = details;
    this.statusCode = HTTP_ERRORS[code].status;
  }

  toJSON(): { error: { code: HttpErrorCode; message: string; details: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function validationError(details: ErrorDetail[]): HeraldError {
  const fields = details.map((d) => d.field || '(body)').join(', ');
  return new HeraldError('HERALD_ERR_VALIDATION', `Invalid fields: ${fields}`, details);
}
