/**
 * Files shipped in the package (the Web Push kit, the console), served as they are.
 *
 * The files are read once, when the app is built: the set is fixed, so no request path ever
 * reaches the file system (nothing to traverse), a missing file stops the start instead of
 * answering 404 later, and each answer is a buffer already in memory. Every answer carries its
 * exact Content-Type with `nosniff`, a strong ETag (a conditional request gets 304), the
 * Cache-Control the caller chose and the caller's headers (a Content-Security-Policy, CORS).
 * HEAD is answered too (Fastify adds it to every GET route). No route here needs an API key.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The types of the files Herald ships; a file of another kind is refused when the app is built. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

export type Headers = Readonly<Record<string, string>>;

export interface StaticFilesOptions {
  /** The URL path the files are served under, starting and ending with `/` (`/sdk/`). */
  prefix: string;
  /** The folder that holds them, as a file: URL (`new URL('../client/', import.meta.url)`). */
  directory: URL;
  /** The files to serve, by name; default every file directly in `directory`. */
  files?: readonly string[];
  /** The file also served at `prefix` itself (`index.html`). */
  index?: string;
  /** Cache-Control of every answer; `no-cache` (revalidate with the ETag) by default. */
  cacheControl?: string;
  /** Headers of every answer. */
  headers?: Headers;
  /** Headers of one file's answers, by name, on top of `headers`. */
  fileHeaders?: Readonly<Record<string, Headers>>;
}

interface LoadedFile {
  body: Buffer;
  etag: string;
  headers: Headers;
}

/** The Content-Type of a file name, or null when Herald does not serve that kind of file. */
export function contentTypeOf(name: string): string | null {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? null;
}

/** Registers a GET route per file (HEAD included); resolves once every file is read. */
export async function serveStaticFiles(app: FastifyInstance, options: StaticFilesOptions): Promise<void> {
  const { prefix, directory } = options;
  if (!/^\/(.*\/)?$/.test(prefix)) throw new Error(`static files: the prefix "${prefix}" must start and end with /`);
  const names = options.files ?? (await readdir(directory, { withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
  for (const name of names) {
    const file = await load(name, options);
    const answer = (request: FastifyRequest, reply: FastifyReply) => send(file, request, reply);
    // Static files are not part of the API: the OpenAPI document leaves them out.
    app.get(`${prefix}${name}`, { schema: { hide: true } }, answer);
    if (name === options.index) app.get(prefix, { schema: { hide: true } }, answer);
  }
}

async function load(name: string, options: StaticFilesOptions): Promise<LoadedFile> {
  if (name.includes('/') || name.startsWith('.')) throw new Error(`static files: "${name}" must be a plain file name`);
  const contentType = contentTypeOf(name);
  if (!contentType) throw new Error(`static files: no content type for "${name}"`);
  const body = await readFile(new URL(name, options.directory));
  return {
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    headers: {
      'content-type': contentType,
      'x-content-type-options': 'nosniff',
      'cache-control': options.cacheControl ?? 'no-cache',
      ...options.headers,
      ...options.fileHeaders?.[name],
    },
  };
}

function send(file: LoadedFile, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.headers(file.headers).header('etag', file.etag);
  const wanted = request.headers['if-none-match'];
  // RFC 9110 §13.1.2: a weak comparison, and `*` matches any current file.
  if (wanted?.split(',').some((tag) => tag.trim() === '*' || tag.trim().replace(/^W\//, '') === file.etag)) {
    return reply.status(304).send();
  }
  return reply.send(file.body);
}
