/**
 * ./data/herald-dev.json: where the first run's keys (first-run.ts) are kept, so that every later
 * start of the same checkout uses the same API keys and, above all, the same VAPID pair (browsers
 * subscribed with a public key accept only pushes signed with its private half).
 *
 * The file holds secrets: it is made 0600 in a 0700 directory (both tightened when an earlier
 * start or a copy left them laxer). It is written whole or not at all: the keys go to a temporary
 * file first, which is then linked to the final name; linking fails when the name exists, so two
 * first starts racing end up with the same keys (the loser reads the winner's). A file that is
 * there but cannot be used stops the start with the reason, naming fields and never values; it is
 * never replaced silently, which would cut off every browser subscribed with its VAPID key.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { StartupErrorCode } from '../codes.js';
import { VAPID_PRIVATE_KEY_PATTERN, VAPID_PUBLIC_KEY_PATTERN, VAPID_SUBJECT_PATTERN, weakSecretProblem } from '../config.js';
import { vapidKeysMatch } from '../channels/webpush/vapid.js';
import { newDevKeys, type DevKeys } from './first-run.js';

/** Relative to the working directory, like every path of `herald start`. */
export const DEV_KEYS_FILE = 'data/herald-dev.json';
const PRIVATE_DIR_MODE = 0o700;
const PRIVATE_FILE_MODE = 0o600;

/** A dev keys file that exists but cannot be used. */
export class DevKeysFileError extends Error {
  readonly code: StartupErrorCode = 'HERALD_ERR_DEV_KEYS';
  constructor(file: string, problem: string) {
    super(
      `${file} (the keys of the first run) cannot be used: ${problem}.\n` +
        '  Fix it, or delete it to make new keys (browsers subscribed with its VAPID key then subscribe again),\n' +
        '  or configure Herald yourself with HERALD_API_KEYS and the VAPID variables.',
    );
    this.name = 'DevKeysFileError';
  }
}

export interface DevKeysFromFile {
  keys: DevKeys;
  /** True when this start made them (and wrote the file); false when they were read. */
  made: boolean;
  /** The file's absolute path. */
  file: string;
}

/** The keys kept in `file`, made and written there first when there is no such file. */
export function readOrMakeDevKeys(file = resolve(DEV_KEYS_FILE), make: () => DevKeys = newDevKeys): DevKeysFromFile {
  const directory = dirname(file);
  mkdirSync(directory, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(directory, PRIVATE_DIR_MODE);
  const existing = readDevKeys(file);
  if (existing) return { keys: existing, made: false, file };

  const keys = make();
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, fileText(keys), { mode: PRIVATE_FILE_MODE, flag: 'wx' });
    linkSync(temporary, file);
  } catch (err) {
    // Another start made the file between the read and the link: its keys are the ones to use.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { keys: readDevKeys(file)!, made: false, file };
  } finally {
    rmSync(temporary, { force: true });
  }
  return { keys, made: true, file };
}

/** The keys in `file`, or null when there is no such file. Throws DevKeysFileError when it cannot be used. */
export function readDevKeys(file: string): DevKeys | null {
  let text: string;
  try {
    const stat = lstatSync(file);
    if (!stat.isFile()) throw new DevKeysFileError(file, 'it is not a regular file');
    chmodSync(file, PRIVATE_FILE_MODE);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof DevKeysFileError) throw err;
    throw new DevKeysFileError(file, `it cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DevKeysFileError(file, 'it is not JSON');
  }
  const problems = devKeysProblems(value);
  if (problems.length > 0) throw new DevKeysFileError(file, problems.join('; '));
  const { publishKey, adminKey, vapid } = value as DevKeys;
  return { publishKey, adminKey, vapid: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: vapid.subject } };
}

/** What is wrong with a parsed dev keys file, field by field; the messages never quote a value. */
export function devKeysProblems(value: unknown): string[] {
  if (!isObject(value)) return ['it must hold a JSON object'];
  const problems: string[] = [];
  for (const field of ['publishKey', 'adminKey'] as const) {
    const secret = value[field];
    const weakness = typeof secret === 'string' ? weakSecretProblem(secret) : 'must be a string';
    if (weakness) problems.push(`${field} ${weakness}`);
  }
  if (problems.length === 0 && value.publishKey === value.adminKey) problems.push('publishKey and adminKey must differ');
  const vapid = value.vapid;
  if (!isObject(vapid)) return [...problems, 'vapid must be an object with publicKey, privateKey and subject'];
  const { publicKey, privateKey, subject } = vapid;
  const publicOk = typeof publicKey === 'string' && VAPID_PUBLIC_KEY_PATTERN.test(publicKey);
  const privateOk = typeof privateKey === 'string' && VAPID_PRIVATE_KEY_PATTERN.test(privateKey);
  if (!publicOk) problems.push('vapid.publicKey must be a P-256 public key in base64url (87 characters)');
  if (!privateOk) problems.push('vapid.privateKey must be a P-256 private key in base64url (43 characters)');
  if (publicOk && privateOk && !vapidKeysMatch(publicKey, privateKey)) problems.push('vapid.publicKey is not the public half of vapid.privateKey');
  if (typeof subject !== 'string' || !VAPID_SUBJECT_PATTERN.test(subject)) problems.push('vapid.subject must be a mailto: or https: URL');
  return problems;
}

function fileText(keys: DevKeys): string {
  const about =
    'Keys made by the first `herald start` outside production (docs/operations.md, "First run"). Secret: keep this file to yourself. ' +
    'Delete it to make new ones; set HERALD_API_KEYS or the VAPID variables and Herald no longer reads it.';
  return `${JSON.stringify({ about, createdAt: new Date().toISOString(), ...keys }, null, 2)}\n`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
