/**
 * How secrets look in answers (the recipient of `GET`/`PUT /v1/recipients/:userId` and of the
 * SDK's `recipients.get`/`set`): enough of the end to tell two apart, never enough to use one.
 * A publish key reads recipients; it must not read the tokens and endpoints that let anyone post
 * to them.
 */

const HIDDEN = '****';
/** A secret shows its last 4 characters only when at least this many others stay hidden. */
const MIN_HIDDEN_CHARACTERS = 8;

/** `AbCdEfGh12345` → `****2345`; a short secret shows nothing of itself. */
export function maskSecret(secret: string): string {
  return secret.length >= MIN_HIDDEN_CHARACTERS + 4 ? `${HIDDEN}${secret.slice(-4)}` : HIDDEN;
}

/**
 * A URL with its path (and query) masked like a secret: the path of a Web Push endpoint or a
 * webhook URL is the capability, the origin says which service it is.
 * `https://fcm.googleapis.com/fcm/send/dX1…Yk9` → `https://fcm.googleapis.com/****dYk9`.
 */
export function maskUrlPath(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return HIDDEN;
  }
  return `${parsed.origin}/${maskSecret(`${parsed.pathname.slice(1)}${parsed.search}`)}`;
}
