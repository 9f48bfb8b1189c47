/**
 * Loads Herald's Redis scripts from the lua/ folder beside this module (src/store/lua/ when run
 * from source, dist/src/store/lua/ once built: the build copies them there). It replaces each
 * `--!include name.lua` line with that fragment of lua/includes/ (once per script), and puts before
 * the script the Lua locals it reads: its KEYS/ARGV layout (script-layout.ts), RECORD, the status
 * record's field names (record.ts), ENDED_STATUSES, the statuses a notification ends in
 * (types.ts), and SUFFIX, the suffixes of derived keys (keys.ts). The .lua files therefore stay
 * plain Lua, and strides, field names and statuses are
 * written only in TypeScript.
 * It refuses a script without its KEYS/ARGV/Returns header or one that reads an upper-case name or
 * a RECORD field that nothing defines, so such a mistake fails when Herald starts, not on the first
 * delivery that reaches the line.
 */
import { readFileSync } from 'node:fs';
import { TERMINAL_STATUSES } from '../types.js';
import { RECORD_FIELDS } from './record.js';
import { KEY_SUFFIX } from './keys.js';
import { layoutLocals, type AnyScriptLayout, type LuaLocal } from './script-layout.js';

export const LUA_DIR = new URL('./lua/', import.meta.url);

const INCLUDE_LINE = /^--!include[ \t]+(\S+)[ \t]*$/gm;

/** Names a script may read without defining them: the script's arguments. */
const REDIS_GLOBALS = new Set(['KEYS', 'ARGV']);

/** RECORD as a Lua table of field name → field name. */
const RECORD_LOCAL: LuaLocal = ['RECORD', `{${RECORD_FIELDS.map((field) => `${field} = '${field}'`).join(', ')}}`];

/** ENDED_STATUSES: the statuses a notification ends in (types.ts), as a Lua list, in their order there. */
const ENDED_LOCAL: LuaLocal = ['ENDED_STATUSES', `{${TERMINAL_STATUSES.map((status) => `'${status}'`).join(', ')}}`];

/** SUFFIX: the suffixes of derived keys (keys.ts KEY_SUFFIX), as a Lua table. */
const SUFFIX_LOCAL: LuaLocal = [
  'SUFFIX',
  `{${Object.entries(KEY_SUFFIX)
    .map(([name, suffix]) => `${name} = '${suffix}'`)
    .join(', ')}}`,
];

/** The source to hand to Redis for lua/`file`, whose KEYS and ARGV follow `layout`. */
export function loadScript(file: string, layout: AnyScriptLayout, dir: URL = LUA_DIR): string {
  const text = readLua(dir, file);
  checkHeader(file, text);
  const body = resolveIncludes(text, new URL('includes/', dir), new Set());
  const locals = [...layoutLocals(layout), RECORD_LOCAL, ENDED_LOCAL, SUFFIX_LOCAL];
  checkNames(file, body, new Set(locals.map(([name]) => name)));
  return `-- ${file}, with the locals Herald's loader defines from its TypeScript definitions\n${locals
    .map(([name, expression]) => `local ${name} = ${expression}`)
    .join('\n')}\n${body}`;
}

function readLua(dir: URL, file: string): string {
  if (!/^[a-z][a-z0-9-]*\.lua$/.test(file)) throw new Error(`Lua script name ${JSON.stringify(file)} is not of the form name.lua`);
  const url = new URL(file, dir);
  try {
    return readFileSync(url, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the Redis script ${url.pathname} (a build copies src/**/*.lua into dist/)`, { cause: err });
  }
}

/** The leading comment block must name the script and give its KEYS, ARGV and Returns. */
function checkHeader(file: string, text: string): void {
  const header = leadingComment(text);
  const missing = [`-- ${file}:`, '-- KEYS:', '-- ARGV:', '-- Returns:'].filter((start) => !header.some((line) => line.startsWith(start)));
  if (missing.length > 0) throw new Error(`the Redis script ${file} lacks header lines starting ${missing.map((m) => `"${m}"`).join(', ')}`);
}

function leadingComment(text: string): string[] {
  const lines = text.split('\n');
  const end = lines.findIndex((line) => !line.startsWith('--'));
  return end === -1 ? lines : lines.slice(0, end);
}

/** Each fragment goes in once per script, at its first include; a fragment may include others. */
function resolveIncludes(text: string, dir: URL, included: Set<string>): string {
  return text.replace(INCLUDE_LINE, (_line, file: string) => {
    if (included.has(file)) return `-- (${file} is included above)`;
    included.add(file);
    const fragment = readLua(dir, file);
    if (!leadingComment(fragment)[0]?.startsWith(`-- ${file}:`)) throw new Error(`the Lua fragment ${file} lacks its header line "-- ${file}: …"`);
    return resolveIncludes(fragment, dir, included).trimEnd();
  });
}

/**
 * Upper-case names are ours (the loader's locals, KEYS, ARGV) and RECORD.x must be a record
 * field: a misspelt one would otherwise be nil at run time, and Redis would write or compare nil.
 */
function checkNames(file: string, body: string, defined: Set<string>): void {
  const code = body.replace(/--[^\n]*/g, '').replace(/'[^'\n]*'|"[^"\n]*"/g, "''");
  const fields = new Set<string>(RECORD_FIELDS);
  const unknownFields = [...code.matchAll(/\bRECORD\.([A-Za-z_]\w*)/g)].map((m) => m[1]!).filter((name) => !fields.has(name));
  if (unknownFields.length > 0) throw new Error(`the Redis script ${file} reads unknown record fields: ${[...new Set(unknownFields)].join(', ')}`);
  const unknownNames = [...code.matchAll(/\b[A-Z][A-Z0-9_]*\b/g)].map((m) => m[0]).filter((name) => !defined.has(name) && !REDIS_GLOBALS.has(name));
  if (unknownNames.length > 0) throw new Error(`the Redis script ${file} reads names nothing defines: ${[...new Set(unknownNames)].join(', ')}`);
}
