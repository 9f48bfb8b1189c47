/**
 * When an SMTP connection must be encrypted. An `smtp://` URL starts in clear text; if it carries
 * a user or password, those credentials may go out only after STARTTLS, so Herald requires the
 * upgrade (nodemailer's `requireTLS`) and a server that does not offer it fails the send before
 * AUTH. `smtps://` is TLS from the first byte and needs nothing more.
 *
 * nodemailer lets the URL's query override transport options, so a query that would switch the
 * requirement off (`requireTLS=false`, `ignoreTLS`, `opportunisticTLS`) is refused outright rather
 * than silently obeyed or silently ignored.
 */

const TLS_QUERY_KEYS = ['requireTLS', 'ignoreTLS', 'opportunisticTLS'] as const;

/** True when the URL is `smtp:` (not `smtps:`) and holds a user name or a password. */
export function credentialsNeedStartTls(smtpUrl: string): boolean {
  const url = new URL(smtpUrl);
  return url.protocol === 'smtp:' && (url.username !== '' || url.password !== '');
}

/**
 * Why this URL cannot be used as it is, or null. The message names query keys only, never the
 * URL, which holds the password.
 */
export function smtpTlsProblem(smtpUrl: string): string | null {
  if (!credentialsNeedStartTls(smtpUrl)) return null;
  const query = new URL(smtpUrl).searchParams;
  const weakening = TLS_QUERY_KEYS.filter((key) => query.has(key) && !(key === 'requireTLS' && query.getAll(key).every((v) => v === 'true')));
  if (weakening.length === 0) return null;
  return `SMTP_URL carries credentials, which Herald sends only over TLS: remove ${weakening.join(', ')} from its query (or use smtps://)`;
}
