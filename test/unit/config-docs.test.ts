import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigTable, renderEnvExample, withConfigTable } from '../../src/config-docs.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ENV, type EnvName, type EnvSpec } from '../../src/defaults.js';

const entries = Object.entries(ENV) as [EnvName, EnvSpec][];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Where src/ reads a variable: process.env.X, env.X / env['X'] (loadConfig's argument), reader.method('X'). */
const READS = [
  /process\.env(?:\.([A-Z][A-Z0-9_]*)|\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\])/g,
  /\benv(?:\.([A-Z][A-Z0-9_]*)|\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\])/g,
  /\breader\.\w+\(\s*['"`]([A-Z][A-Z0-9_]*)['"`]/g,
];

function variablesRead(source: string): string[] {
  return READS.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => (m[1] ?? m[2])!));
}

/** The Config that loadConfig makes of `env`, without the field that only says whether REDIS_URL was set. */
function configOf(env: Record<string, string>) {
  const { redisUrlExplicit: _, ...config } = loadConfig(env).config;
  return config;
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
}

describe('the generated configuration docs', () => {
  it('config/herald.env.example is what `npm run docs:config` writes from src/defaults.ts', () => {
    expect(readFileSync('config/herald.env.example', 'utf8')).toBe(renderEnvExample());
  });

  it("docs/operations.md's configuration table is what `npm run docs:config` writes", () => {
    const operations = readFileSync('docs/operations.md', 'utf8');
    expect(operations).toBe(withConfigTable(operations, renderConfigTable()));
  });

  it('the env example and the table name every variable of src/defaults.ts, once each', () => {
    const example = renderEnvExample();
    const table = renderConfigTable();
    for (const [name] of entries) {
      expect(example.match(new RegExp(`^${name}=`, 'gm'))).toHaveLength(1);
      expect(table.match(new RegExp(`^\\| \`${name}\``, 'gm'))).toHaveLength(1);
    }
  });

  it('replacing the table needs both markers', () => {
    expect(() => withConfigTable('# Operating Herald\n', '| table |')).toThrow(/config:start/);
    expect(withConfigTable('a\n<!-- config:start -->\nold\n<!-- config:end -->\nb\n', 'new')).toBe('a\n<!-- config:start -->\nnew\n<!-- config:end -->\nb\n');
  });
});

describe('src/defaults.ts against the code', () => {
  const files = sourceFiles('src');

  it('lists every variable that src/ reads, and src/ reads every variable it lists', () => {
    const read = new Set(files.flatMap((file) => variablesRead(readFileSync(file, 'utf8'))));
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((name) => !Object.hasOwn(ENV, name))).toEqual([]);
    // The per-channel concurrency variables are read through a typed map, so look for the name itself.
    const config = readFileSync('src/config.ts', 'utf8');
    expect(entries.map(([name]) => name).filter((name) => !read.has(name) && !config.includes(`'${name}'`))).toEqual([]);
  });

  it('config.ts is the only file of src/ that touches process.env', () => {
    expect(files.filter((file) => readFileSync(file, 'utf8').includes('process.env')).map((file) => file.replaceAll('\\', '/'))).toEqual(['src/config.ts']);
  });

  it('each documented default is the one loadConfig uses when the variable is unset', () => {
    const unset = configOf({});
    const fixed = entries.filter(([, spec]) => spec.default !== null && spec.defaultText === undefined);
    expect(fixed.length).toBeGreaterThanOrEqual(20);
    for (const [name, spec] of fixed) {
      const value = spec.default === false ? '0' : Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
      expect({ name, config: configOf({ [name]: value }) }).toEqual({ name, config: unset });
    }
  });

  it("each whole-number variable's documented range is the one loadConfig enforces", () => {
    const integers = entries.filter((entry): entry is [EnvName, Extract<EnvSpec, { kind: 'integer' }>] => entry[1].kind === 'integer');
    for (const [name, { min, max }] of integers) {
      const rangeProblem = `${name} must be a whole number from ${min} to ${max}`;
      for (const outside of [min - 1, max + 1]) expect(problemsOf({ [name]: String(outside) }).join('\n')).toContain(rangeProblem);
      for (const inside of [min, max]) expect(problemsOf({ [name]: String(inside) }).join('\n')).not.toContain(rangeProblem);
    }
  });

  it('a variable marked secret never appears in an error or a warning, though they name it', () => {
    const SENTINEL = 'sentinel-3f9c2a7e1b';
    // What makes loadConfig look at the value (GOTIFY_TOKEN is read only with a Gotify server).
    const context: Partial<Record<EnvName, Record<string, string>>> = {
      GOTIFY_TOKEN: { GOTIFY_URL: 'https://gotify.example.org' },
      NTFY_TOKEN: { NTFY_URL: 'https://ntfy.example.org' },
    };
    const secrets = entries.filter(([, spec]) => spec.secret).map(([name]) => name);
    expect(secrets).toEqual(
      expect.arrayContaining(['HERALD_API_KEYS', 'GOTIFY_TOKEN', 'VAPID_PRIVATE_KEY', 'SMTP_URL', 'REDIS_URL', 'NTFY_TOKEN', 'HERALD_WEBHOOK_SECRET']),
    );
    for (const name of secrets) {
      let said: string;
      try {
        said = loadConfig({ ...context[name], [name]: `:: ${SENTINEL} ::` }).warnings.join('\n');
      } catch (err) {
        said = (err as Error).message;
      }
      expect(said).toContain(name);
      expect(said).not.toContain(SENTINEL);
    }
  });
});
