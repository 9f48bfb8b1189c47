/**
 * The console's only way to Herald's API. The admin key lives in sessionStorage (gone when the tab
 * closes, never kept on disk by the browser) and travels only in the Authorization header, never in a
 * URL. Every answer that is not 2xx becomes an ApiError with Herald's error code.
 */

const KEY_ITEM = 'herald.console.key';

/** The window event fired when Herald answers 401 to the key held. */
export const KEY_REFUSED = 'herald-key-refused';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function key() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setKey(secret) {
  sessionStorage.setItem(KEY_ITEM, secret);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** The headers of an API call: the bearer key, and JSON when there is a body. */
export function authHeaders(extra = {}) {
  const secret = key();
  return { ...(secret ? { authorization: `Bearer ${secret}` } : {}), ...extra };
}

/** Calls the API and resolves with the parsed JSON answer (null for 204). */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: authHeaders(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy's error page. Reported below by status.
  }
  if (!response.ok) {
    // The key stopped working (rotated, removed): the shell sends the operator back to sign in.
    if (response.status === 401) window.dispatchEvent(new Event(KEY_REFUSED));
    const error = json?.error;
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${method} ${path} answered ${response.status}`,
      error?.details ?? [],
    );
  }
  return json;
}

/** A path segment from user input (an id, a user id), percent-encoded. */
export function segment(value) {
  return encodeURIComponent(value);
}

/** An ApiError as one line for the page: its message and the fields its details name. */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  const fields = (err.details ?? []).map((d) => (d.field ? `${d.field}: ${d.message}` : d.message)).filter(Boolean);
  return `${err.message}${fields.length ? ` (${fields.join('; ')})` : ''} [${err.code}]`;
}
