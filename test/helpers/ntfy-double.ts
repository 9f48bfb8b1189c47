/**
 * An ntfy server double: an HttpDouble whose wire format is ntfy's JSON publish API, as ntfy's
 * documentation describes it (docs.ntfy.sh/publish, "Publish as JSON"): a POST to the server's
 * root URL, not to a topic's, of a JSON object whose only required field is `topic`, each field of
 * the documented type; and, when the server has a token, `Authorization: Bearer <token>`.
 */
import { HttpDouble, type ReceivedRequest } from './http-double.js';

/** What ntfy accepts in a topic name. */
const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;

const isString = (value: unknown) => typeof value === 'string';
const isUrl = (value: unknown) => typeof value === 'string' && URL.canParse(value);

/** The fields of the JSON publish API and the type each must have. */
const FIELDS: Record<string, { type: string; valid: (value: unknown) => boolean }> = {
  topic: { type: 'a topic name', valid: (v) => typeof v === 'string' && TOPIC.test(v) },
  message: { type: 'a string', valid: isString },
  title: { type: 'a string', valid: isString },
  tags: { type: 'an array of strings', valid: (v) => Array.isArray(v) && v.every(isString) },
  priority: { type: 'one of 1, 2, 3, 4, 5', valid: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 5 },
  actions: { type: 'an array', valid: Array.isArray },
  click: { type: 'a URL', valid: isUrl },
  attach: { type: 'a URL', valid: isUrl },
  markdown: { type: 'a boolean', valid: (v) => typeof v === 'boolean' },
  icon: { type: 'a URL', valid: isUrl },
  filename: { type: 'a string', valid: isString },
  delay: { type: 'a string', valid: isString },
  email: { type: 'a string', valid: isString },
  call: { type: 'a string', valid: isString },
};

/** Every way `request` departs from the JSON publish API of a server whose token is `token`. */
export function ntfyProblems(request: ReceivedRequest, token: string | undefined): string[] {
  const problems: string[] = [];
  if (request.method !== 'POST') problems.push(`method ${request.method}, expected POST`);
  if (request.path !== '/') problems.push(`path ${request.path}: JSON is published to the root URL`);
  if (!String(request.headers['content-type']).startsWith('application/json')) problems.push('Content-Type is not application/json');
  const expected = token === undefined ? undefined : `Bearer ${token}`;
  if (request.headers.authorization !== expected)
    problems.push(token === undefined ? 'an Authorization header without a token' : 'Authorization is not "Bearer <NTFY_TOKEN>"');
  let body: unknown;
  try {
    body = JSON.parse(request.body.toString('utf8'));
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [...problems, 'the body is not a JSON object'];
  const fields = body as Record<string, unknown>;
  if (!('topic' in fields)) problems.push('topic is missing');
  for (const [name, value] of Object.entries(fields)) {
    const field = FIELDS[name];
    if (!field) problems.push(`${name} is not a field of the JSON publish API`);
    else if (!field.valid(value)) problems.push(`${name} is not ${field.type}`);
  }
  return problems;
}

/** A double of an ntfy server with access token `token` (none: a server open to publishers). */
export function ntfyDouble(token?: string): HttpDouble {
  return new HttpDouble({ status: 200, body: '{"id":"hK4sLdBs3Ox","time":1700000000,"event":"message"}' }, (request) => ntfyProblems(request, token));
}
