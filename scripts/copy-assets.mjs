/**
 * Copies the files Herald ships beside its compiled modules into dist/src/: tsc compiles only
 * TypeScript. They are the Redis scripts (every .lua file under src/) and every file of the asset
 * folders (the Web Push client kit in src/client/, served at /sdk/ and exported as `herald/push`; the
 * operator console in src/console/, served at /console/).
 * `npm run build` runs it after tsc, and so do prepare, test, the benchmarks and the fault suite,
 * which all run dist. Stale copies in dist/src are removed first, so dist holds exactly the files
 * of src.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src');
const target = join(root, 'dist', 'src');
/** Folders under src/ whose files are shipped as they are, whatever their kind. */
const ASSET_FOLDERS = ['client', 'console'];

/** Every file under `dir` that `keep` accepts, as full paths. */
function files(dir, keep) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path, keep);
    return entry.isFile() && keep(path) ? [path] : [];
  });
}

const isLua = (path) => path.endsWith('.lua');

if (!existsSync(target)) throw new Error(`${target} does not exist: run tsc first`);
for (const stale of files(target, isLua)) rmSync(stale);
for (const folder of ASSET_FOLDERS) rmSync(join(target, folder), { recursive: true, force: true });

const scripts = files(source, isLua);
if (scripts.length === 0) throw new Error(`no .lua files under ${source}`);
const assets = ASSET_FOLDERS.flatMap((folder) => files(join(source, folder), () => true));
if (assets.length === 0) throw new Error(`no files under ${ASSET_FOLDERS.map((folder) => join(source, folder)).join(', ')}`);
for (const file of [...scripts, ...assets]) {
  const copy = join(target, relative(source, file));
  mkdirSync(dirname(copy), { recursive: true });
  copyFileSync(file, copy);
}
