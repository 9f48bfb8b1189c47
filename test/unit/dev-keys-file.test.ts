import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DevKeysFileError, readOrMakeDevKeys } from '../../src/run/dev-keys-file.js';
import { newDevKeys, type DevKeys } from '../../src/run/first-run.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh working directory and the dev keys file's path in it (its `data` folder not made yet). */
function place(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-dev-keys-'));
  dirs.push(dir);
  return { dir, file: join(dir, 'data', 'herald-dev.json') };
}

const mode = (path: string) => statSync(path).mode & 0o777;

function errorOf(run: () => unknown): DevKeysFileError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(DevKeysFileError);
    return err as DevKeysFileError;
  }
  throw new Error('expected a DevKeysFileError');
}

describe('the dev keys file', () => {
  it('is made on the first call, private (0600 in a 0700 folder), and read back on the next', () => {
    const { file } = place();
    const first = readOrMakeDevKeys(file);
    expect(first.made).toBe(true);
    expect(first.file).toBe(file);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(file, '..'))).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as DevKeys & { about: string };
    expect({ publishKey: stored.publishKey, adminKey: stored.adminKey, vapid: stored.vapid }).toEqual(first.keys);
    expect(stored.about).toMatch(/herald start/);

    const second = readOrMakeDevKeys(file, () => {
      throw new Error('must not make keys when the file exists');
    });
    expect(second).toEqual({ keys: first.keys, made: false, file });
    // Nothing but the file: no temporary file left behind.
    expect(readdirSync(join(file, '..'))).toEqual(['herald-dev.json']);
  });

  it('tightens a folder and a file that a copy left readable to others', () => {
    const { file } = place();
    readOrMakeDevKeys(file);
    chmodSync(file, 0o644);
    chmodSync(join(file, '..'), 0o755);
    expect(readOrMakeDevKeys(file).made).toBe(false);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(file, '..'))).toBe(0o700);
  });

  it('uses the keys of a start that made the file first when two first starts race', () => {
    const { file } = place();
    const winner = newDevKeys();
    const result = readOrMakeDevKeys(file, () => {
      // The other start writes its file after this one found none, before this one links its own.
      readOrMakeDevKeys(file, () => winner);
      return newDevKeys();
    });
    expect(result).toEqual({ keys: winner, made: false, file });
    expect(readdirSync(join(file, '..'))).toEqual(['herald-dev.json']);
  });

  it('refuses a file it cannot use, naming the fields and never their values, and leaves it as it was', () => {
    const { file } = place();
    const keys = newDevKeys();
    mkdirSync(join(file, '..'), { recursive: true });
    const cases: [object | string, RegExp][] = [
      ['{not json', /it is not JSON/],
      [[], /a JSON object/],
      [{ ...keys, publishKey: 'short' }, /publishKey must be at least 16 characters/],
      [{ ...keys, adminKey: 42 }, /adminKey must be a string/],
      [{ ...keys, adminKey: keys.publishKey }, /must differ/],
      [{ ...keys, vapid: undefined }, /vapid must be an object/],
      [{ ...keys, vapid: { ...keys.vapid, publicKey: newDevKeys().vapid.publicKey } }, /vapid.publicKey is not the public half of vapid.privateKey/],
      [{ ...keys, vapid: { ...keys.vapid, privateKey: 'x' } }, /vapid.privateKey must be a P-256 private key/],
      [{ ...keys, vapid: { ...keys.vapid, subject: 'admin@localhost' } }, /vapid.subject must be a mailto: or https: URL/],
    ];
    for (const [content, problem] of cases) {
      const text = typeof content === 'string' ? content : JSON.stringify(content);
      writeFileSync(file, text);
      const error = errorOf(() => readOrMakeDevKeys(file, newDevKeys));
      expect(error.message).toMatch(problem);
      expect(error.message).toContain(file);
      expect(error.message).toMatch(/delete it to make new keys/);
      expect(error.code).toBe('HERALD_ERR_DEV_KEYS');
      for (const secret of [keys.publishKey, keys.adminKey, keys.vapid.privateKey]) expect(error.message).not.toContain(secret);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  it('refuses a path that is not a regular file (a folder, a symbolic link)', () => {
    const { dir, file } = place();
    mkdirSync(file, { recursive: true });
    expect(errorOf(() => readOrMakeDevKeys(file)).message).toMatch(/not a regular file/);
    rmSync(file, { recursive: true });
    const elsewhere = join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, JSON.stringify(newDevKeys()), { mode: 0o644 });
    symlinkSync(elsewhere, file);
    expect(errorOf(() => readOrMakeDevKeys(file)).message).toMatch(/not a regular file/);
    expect(mode(elsewhere)).toBe(0o644);
  });
});
