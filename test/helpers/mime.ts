/**
 * Just enough of MIME (RFC 2045–2047) to read back what the email channel sends: header
 * unfolding, encoded words, multipart bodies, base64 and quoted-printable. Tests use it instead of
 * a mail parser library; anything it does not understand makes the test fail, not pass.
 */
export interface MimePart {
  /** Lower-case name → unfolded raw value of the first occurrence. */
  headers: Map<string, string>;
  /** Lower-case `type/subtype`, `text/plain` when absent. */
  contentType: string;
  /** Decoded body with `\n` line ends; empty for a multipart. */
  body: string;
  parts: MimePart[];
}

export function parseMime(raw: string): MimePart {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const head = split === -1 ? text : text.slice(0, split);
  const rest = split === -1 ? '' : text.slice(split + 2);
  const headers = parseHeaders(head);
  const contentTypeValue = headers.get('content-type') ?? 'text/plain';
  const contentType = contentTypeValue.split(';')[0]!.trim().toLowerCase();

  if (contentType.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(contentTypeValue)?.[1];
    if (!boundary) throw new Error('multipart without a boundary');
    const sections = rest.split(`--${boundary}`);
    if (sections.length < 3) throw new Error(`multipart body without parts for boundary ${boundary}`);
    // sections[0] is the preamble; the last one starts with `--` (the close delimiter).
    const parts = sections.slice(1, -1).map((section) => parseMime(section.replace(/^\n/, '').replace(/\n$/, '')));
    return { headers, contentType, body: '', parts };
  }
  const body = decodeBody(rest, headers.get('content-transfer-encoding') ?? '7bit');
  return { headers, contentType, body, parts: [] };
}

/** The first leaf part of `contentType`, searching depth first. */
export function findPart(part: MimePart, contentType: string): MimePart | undefined {
  if (part.contentType === contentType && part.parts.length === 0) return part;
  for (const child of part.parts) {
    const found = findPart(child, contentType);
    if (found) return found;
  }
  return undefined;
}

/** A header value with RFC 2047 encoded words decoded. */
export function decodedHeader(part: MimePart, name: string): string | undefined {
  const value = part.headers.get(name.toLowerCase());
  return value === undefined ? undefined : decodeWords(value);
}

function parseHeaders(head: string): Map<string, string> {
  const headers = new Map<string, string>();
  // Unfolding (RFC 5322 2.2.3): a line that starts with white space continues the one before.
  const unfolded = head.replace(/\n(?=[ \t])/g, '');
  for (const line of unfolded.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

function decodeBody(body: string, encoding: string): string {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8').replace(/\r\n/g, '\n');
    case 'quoted-printable':
      return decodeQuotedPrintable(body.replace(/=\n/g, '')).replace(/\r\n/g, '\n');
    case '7bit':
    case '8bit':
      return body;
    default:
      throw new Error(`unknown Content-Transfer-Encoding ${encoding}`);
  }
}

/** `=XX` escapes to bytes, then the bytes read as UTF-8 (a character may span several escapes). */
function decodeQuotedPrintable(text: string): string {
  return Buffer.from(quotedPrintableBytes(text)).toString('utf8');
}

function quotedPrintableBytes(text: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === '=' ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return bytes;
}

/**
 * RFC 2047 encoded words. White space between two encoded words is dropped, and the bytes of
 * neighbouring words are decoded together, since an encoder may split a character across them.
 */
export function decodeWords(value: string): string {
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  let out = '';
  let pending: number[] = [];
  let last = 0;
  const flush = () => {
    out += Buffer.from(pending).toString('utf8');
    pending = [];
  };
  for (const match of value.matchAll(word)) {
    const between = value.slice(last, match.index);
    if (pending.length === 0 || between.trim() !== '') {
      flush();
      out += between;
    }
    const [, , encoding, data] = match;
    if (encoding!.toUpperCase() === 'B') pending.push(...Buffer.from(data!, 'base64'));
    else pending.push(...quotedPrintableBytes(data!.replace(/_/g, ' ')));
    last = match.index + match[0].length;
  }
  flush();
  return out + value.slice(last);
}
