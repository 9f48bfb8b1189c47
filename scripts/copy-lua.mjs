/**
 * Copies Herald's Redis scripts (every .lua file under src/) into dist/src/, beside the compiled
 * modules that load them: tsc compiles only TypeScript. `npm run build` runs it after tsc, and so
 * do prepare, test, the benchmarks and the fault suite, which all run dist. Stale .lua files in
 * dist/src are removed first, so dist holds exactly the scripts of src.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src');
const target = join(root, 'dist', 'src');

/** Every .lua file under `dir`, as full paths. */
function luaFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return luaFiles(path);
    return entry.isFile() && entry.name.endsWith('.lua') ? [path] : [];
  });
}

if (!existsSync(target)) throw new Error(`${target} does not exist: run tsc first`);
for (const stale of luaFiles(target)) rmSync(stale);
const scripts = luaFiles(source);
if (scripts.length === 0) throw new Error(`no .lua files under ${source}`);
for (const script of scripts) {
  const copy = join(target, relative(source, script));
  mkdirSync(dirname(copy), { recursive: true });
  copyFileSync(script, copy);
}
