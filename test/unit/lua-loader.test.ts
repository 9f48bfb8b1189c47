import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LUA_DIR, loadScript } from '../../src/store/lua-loader.js';
import { RECORD_FIELDS } from '../../src/store/record.js';
import { TERMINAL_STATUSES } from '../../src/types.js';
import { SCRIPTS } from '../../src/store/scripts.js';
import { ScriptCall, scriptLayout, upperSnake } from '../../src/store/script-layout.js';
import { HOUR_BUCKET_TTL_SECONDS, MINUTE_BUCKET_TTL_SECONDS } from '../../src/store/stats-counters.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ONE_ITEM = scriptLayout({ keys: ['stats'], itemKeys: ['record'], args: ['now'], itemArgs: ['token'] });

/** A lua/ folder of its own, with `files` (path → text), for the loader's refusals. */
let dir: string | undefined;
function luaDir(files: Record<string, string>): URL {
  dir = mkdtempSync(join(tmpdir(), 'herald-lua-'));
  mkdirSync(join(dir, 'includes'));
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return pathToFileURL(`${dir}/`);
}
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const HEADER = '-- t.lua: a test script\n-- KEYS: stats, then per item: record\n-- ARGV: now, then per item: token\n-- Returns: the status\n';

describe('the Lua script loader', () => {
  it('loads from src/store/lua when run from source, and every .lua file there is a script Herald registers', () => {
    expect(fileURLToPath(LUA_DIR)).toBe(join(REPO, 'src/store/lua/'));
    const files = readdirSync(LUA_DIR).filter((name) => name.endsWith('.lua'));
    expect(files.sort()).toEqual(
      Object.values(SCRIPTS)
        .map((s) => s.file)
        .sort(),
    );
  });

  it('gives every script its header, its includes in place, and the locals of its layout and of the record fields', () => {
    const recordTable = `local RECORD = {${RECORD_FIELDS.map((f) => `${f} = '${f}'`).join(', ')}}`;
    const endedList = `local ENDED_STATUSES = {${TERMINAL_STATUSES.map((status) => `'${status}'`).join(', ')}}`;
    for (const { file, layout } of Object.values(SCRIPTS)) {
      const source = loadScript(file, layout);
      for (const line of [`-- ${file}:`, '-- KEYS:', '-- ARGV:', '-- Returns:']) expect(source, file).toMatch(new RegExp(`^${line}`, 'm'));
      expect(source, file).not.toMatch(/^--!include/m);
      expect(source, file).toContain(recordTable);
      expect(source, file).toContain(endedList);
      expect(source, file).toContain(`local KEYS_FIXED = ${layout.keys.length}\nlocal KEYS_PER_ITEM = ${layout.itemKeys.length}`);
      expect(source, file).toContain(`local ARGV_FIXED = ${layout.args.length}\nlocal ARGV_PER_ITEM = ${layout.itemArgs.length}`);
      const slots: [string, readonly string[]][] = [
        ['KEY_', layout.keys],
        ['ITEM_KEY_', layout.itemKeys],
        ['ARG_', layout.args],
        ['ITEM_ARG_', layout.itemArgs],
      ];
      for (const [prefix, names] of slots) {
        for (const [i, name] of names.entries()) expect(source, file).toContain(`\nlocal ${prefix}${upperSnake(name)} = ${i + 1}\n`);
      }
      // A layout's constants are written into the script, not sent with each call.
      for (const [name, value] of Object.entries(layout.constants ?? {})) expect(source, file).toContain(`\nlocal ${upperSnake(name)} = ${value}\n`);
    }
    expect(SCRIPTS.heraldTransition.layout.constants).toEqual({
      minuteTtl: MINUTE_BUCKET_TTL_SECONDS,
      hourTtl: HOUR_BUCKET_TTL_SECONDS,
      attemptsKept: 50,
      attemptsKeptHead: 10,
    });
    // The statistics bump is one fragment, included by every script that writes statistics.
    for (const name of ['heraldClaim', 'heraldTransition', 'heraldAcceptTopic', 'heraldFanOutPage'] as const) {
      const { file, layout } = SCRIPTS[name];
      expect(loadScript(file, layout).match(/local function bump\(/g), file).toHaveLength(1);
    }
  });

  it('includes a fragment once however often it is named, and fragments may include fragments', () => {
    const dir = luaDir({
      't.lua': `${HEADER}--!include a.lua\n--!include b.lua\nreturn KEYS[KEYS_FIXED + ITEM_KEY_RECORD]\n`,
      'includes/a.lua': '-- a.lua: fragment a\n--!include b.lua\nlocal a = 1\n',
      'includes/b.lua': '-- b.lua: fragment b\nlocal b = 2\n',
    });
    const source = loadScript('t.lua', ONE_ITEM, dir);
    expect(source.match(/local b = 2/g)).toHaveLength(1);
    expect(source.indexOf('local b = 2')).toBeLessThan(source.indexOf('local a = 1'));
  });

  it.each([
    ['a header line', `-- t.lua: a test script\n-- KEYS: stats\n-- ARGV: now\nreturn 1\n`, /lacks header lines starting "-- Returns:"/],
    ['the header at the top', `return 1\n${HEADER}`, /lacks header lines starting "-- t.lua:", "-- KEYS:", "-- ARGV:", "-- Returns:"/],
    ['a record field', `${HEADER}return redis.call('HGET', KEYS[1], RECORD.stauts)\n`, /unknown record fields: stauts/],
    ['a slot of the layout', `${HEADER}return ARGV[ARGV_FIXED + ITEM_ARG_TOKENS]\n`, /names nothing defines: ITEM_ARG_TOKENS/],
    ['a fragment', `${HEADER}--!include missing.lua\nreturn 1\n`, /cannot read the Redis script .*missing\.lua/],
  ])('refuses a script that lacks %s', (_what, text, message) => {
    const dir = luaDir({ 't.lua': text });
    expect(() => loadScript('t.lua', ONE_ITEM, dir)).toThrow(message);
  });

  it('refuses a fragment without its header line', () => {
    const dir = luaDir({ 't.lua': `${HEADER}--!include a.lua\nreturn 1\n`, 'includes/a.lua': 'local a = 1\n' });
    expect(() => loadScript('t.lua', ONE_ITEM, dir)).toThrow(/fragment a\.lua lacks its header line/);
  });

  it('does not take names in comments or strings for names the script reads', () => {
    const dir = luaDir({ 't.lua': `${HEADER}-- NOT_A_NAME here\nreturn redis.call('HGET', KEYS[KEY_STATS], "OTHER")\n` });
    expect(loadScript('t.lua', ONE_ITEM, dir)).toContain('redis.call(\'HGET\', KEYS[KEY_STATS], "OTHER")');
  });

  it('is what the build copies into dist (run `npm run build` after changing a script)', () => {
    const copied = fileURLToPath(new URL('../../dist/src/store/lua/', import.meta.url));
    for (const { file } of Object.values(SCRIPTS)) expect(readFileSync(join(copied, file), 'utf8'), file).toBe(readFileSync(new URL(file, LUA_DIR), 'utf8'));
    const fragments = readdirSync(new URL('includes/', LUA_DIR));
    for (const file of fragments)
      expect(readFileSync(join(copied, 'includes', file), 'utf8'), file).toBe(readFileSync(new URL(`includes/${file}`, LUA_DIR), 'utf8'));
  });
});

describe('a script call', () => {
  it('lays out keys and arguments in the order of its layout, item after item', () => {
    // A layout of its own, so the scripts' layouts may grow without this test changing.
    const layout = scriptLayout({
      keys: ['statsMinute', 'statsHour', 'statsTotals'],
      itemKeys: ['record', 'recipient', 'subscriptions'],
      args: ['now', 'acceptedField', 'minuteTtl', 'hourTtl'],
      itemArgs: ['notification', 'status', 'expiresAt', 'token', 'recordTtl'],
    });
    const call = new ScriptCall(layout, { statsTotals: 'T', statsHour: 'H', statsMinute: 'M' }, { hourTtl: 4, minuteTtl: 3, acceptedField: 'acc', now: 1 });
    call.item({ subscriptions: 's1', recipient: 'r1', record: 'n1' }, { recordTtl: 9, token: 't1', expiresAt: 8, status: 'queued', notification: '{1}' });
    call.item({ record: 'n2', recipient: 'r2', subscriptions: 's2' }, { notification: '{2}', status: 'queued', expiresAt: 8, token: 't2', recordTtl: 9 });
    expect(call.keys).toEqual(['M', 'H', 'T', 'n1', 'r1', 's1', 'n2', 'r2', 's2']);
    expect(call.args).toEqual([1, 'acc', 3, 4, '{1}', 'queued', 8, 't1', 9, '{2}', 'queued', 8, 't2', 9]);
  });

  it('names slots in camelCase, which the Lua reads in upper snake case', () => {
    expect(upperSnake('attemptsKeptHead')).toBe('ATTEMPTS_KEPT_HEAD');
    expect(() => scriptLayout({ keys: ['stats-minute'], itemKeys: ['record'], args: [], itemArgs: [] })).toThrow(/not camelCase/);
    expect(() => scriptLayout({ keys: [], itemKeys: [], args: [], itemArgs: ['token'] })).toThrow(/at least one key per item/);
  });
});
