/**
 * The code registry (src/codes.ts), the docs and the sources agree: every code is documented where
 * a reader looks for it, every code the docs name exists, and every code is given out somewhere.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ATTEMPT_CODE_FAMILIES, ATTEMPT_CODES, attemptCode, HTTP_ERRORS, STARTUP_ERRORS, type AttemptCodeInfo } from '../../src/codes.js';

const read = (path: string) => readFileSync(path, 'utf8');
const docFiles = readdirSync('docs')
  .filter((name) => name.endsWith('.md'))
  .map((name) => join('docs', name));

/** Every source file but the registry itself, as one text. */
function sourcesOutsideRegistry(dir = 'src'): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return sourcesOutsideRegistry(path);
      return entry.name.endsWith('.ts') && path !== join('src', 'codes.ts') ? read(path) : '';
    })
    .join('\n');
}

/**
 * Environment variable names share the `HERALD_` prefix with attempt codes (`HERALD_ERR_` is only
 * for error codes). They come from the modules that read the environment: whole names, and
 * prefixes of names built in a template (`HERALD_CONCURRENCY_${channel}`).
 */
function environmentNames(): { names: Set<string>; prefixes: string[] } {
  const text = ['src/config.ts', 'src/defaults.ts'].filter(existsSync).map(read).join('\n');
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const match of text.matchAll(/HERALD_[A-Z0-9_]*/g)) {
    if (match[0].startsWith('HERALD_ERR_')) continue;
    if (match[0].endsWith('_') && text.startsWith('${', match.index + match[0].length)) prefixes.push(match[0]);
    else names.add(match[0]);
  }
  return { names, prefixes };
}

function outcomesCell(info: AttemptCodeInfo): string {
  return info.outcomes.length > 0 ? info.outcomes.join(', ') : '—';
}

describe('the code registry', () => {
  it('documents every HTTP error code with its status in docs/api.md', () => {
    const api = read('docs/api.md');
    const missing = Object.entries(HTTP_ERRORS).filter(([code, { status }]) => !api.includes(`| \`${code}\` | ${status} |`));
    expect(missing).toEqual([]);
  });

  it('documents every start-up error code with its meaning in docs/api.md', () => {
    const api = read('docs/api.md');
    const missing = Object.entries(STARTUP_ERRORS).filter(([code, { meaning }]) => !api.includes(`| \`${code}\` | ${meaning} |`));
    expect(missing).toEqual([]);
  });

  it('documents every attempt code and family with its outcomes and meaning in docs/channels.md', () => {
    const channels = read('docs/channels.md');
    const rows = [
      ...Object.entries(ATTEMPT_CODES).map(([code, info]) => `| \`${code}\` | ${outcomesCell(info)} | ${info.meaning} |`),
      ...Object.values(ATTEMPT_CODE_FAMILIES).map((family) => `| \`${family.pattern}\` | ${outcomesCell(family)} | ${family.meaning} |`),
    ];
    expect(rows.filter((row) => !channels.includes(row))).toEqual([]);
  });

  it('names in README.md and docs/*.md no HERALD_ code outside the registry', () => {
    const env = environmentNames();
    const codes = new Set<string>([...Object.keys(HTTP_ERRORS), ...Object.keys(STARTUP_ERRORS), ...Object.keys(ATTEMPT_CODES)]);
    const families = Object.values(ATTEMPT_CODE_FAMILIES);
    const known = (token: string, next: string): boolean => {
      if (next === '<') return families.some((family) => family.pattern.startsWith(`${token}<`));
      // `HERALD_ERR_…`: a prefix of codes, not a code.
      if (next === '…') return [...codes].some((code) => code.startsWith(token));
      return (
        codes.has(token) ||
        families.some((family) => family.match.test(token)) ||
        env.names.has(token) ||
        env.prefixes.some((prefix) => token.startsWith(prefix) && token.length > prefix.length)
      );
    };
    const unknown: string[] = [];
    for (const file of ['README.md', ...docFiles]) {
      const text = read(file);
      for (const match of text.matchAll(/HERALD_[A-Z0-9_]*/g)) {
        const next = text.charAt(match.index + match[0].length);
        if (!known(match[0], next)) unknown.push(`${file}: ${match[0]}${next === '<' || next === '…' ? next : ''}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('gives out every code from somewhere in src/', () => {
    const sources = sourcesOutsideRegistry();
    const unused = [
      ...[...Object.keys(HTTP_ERRORS), ...Object.keys(STARTUP_ERRORS)].filter((code) => !sources.includes(`'${code}'`)),
      ...Object.keys(ATTEMPT_CODES).filter((code) => !sources.includes(`attemptCode.${code}`)),
      ...Object.keys(ATTEMPT_CODE_FAMILIES).filter((name) => !sources.includes(`attemptCode.${name}`)),
    ];
    expect(unused).toEqual([]);
  });

  it('builds each family code from its constructor, matching that family alone', () => {
    const built = {
      net: attemptCode.net('ECONNREFUSED'),
      gotifyHttp: attemptCode.gotifyHttp(401),
      webpushHttp: attemptCode.webpushHttp(410),
      ntfyHttp: attemptCode.ntfyHttp(403),
      webhookHttp: attemptCode.webhookHttp(410),
      smtpReply: attemptCode.smtpReply(550),
    } satisfies Record<keyof typeof ATTEMPT_CODE_FAMILIES, string>;
    expect(built).toEqual({
      net: 'HERALD_NET_ECONNREFUSED',
      gotifyHttp: 'HERALD_GOTIFY_HTTP_401',
      webpushHttp: 'HERALD_WEBPUSH_HTTP_410',
      ntfyHttp: 'HERALD_NTFY_HTTP_403',
      webhookHttp: 'HERALD_WEBHOOK_HTTP_410',
      smtpReply: 'HERALD_SMTP_550',
    });
    for (const [name, code] of Object.entries(built)) {
      const matching = Object.entries(ATTEMPT_CODE_FAMILIES).filter(([, family]) => family.match.test(code));
      expect([code, matching.map(([family]) => family)]).toEqual([code, [name]]);
    }
  });

  it('keeps codes and environment variable names apart, and every fixed code its own string', () => {
    const env = environmentNames();
    const all = [...Object.keys(HTTP_ERRORS), ...Object.keys(STARTUP_ERRORS), ...Object.keys(ATTEMPT_CODES)];
    expect(all.filter((code) => (code.startsWith('HERALD_ERR_') ? false : env.names.has(code)))).toEqual([]);
    expect([...Object.keys(HTTP_ERRORS), ...Object.keys(STARTUP_ERRORS)].filter((code) => !code.startsWith('HERALD_ERR_'))).toEqual([]);
    expect(new Set(all).size).toBe(all.length);
    expect(Object.keys(ATTEMPT_CODES).filter((code) => attemptCode[code as keyof typeof ATTEMPT_CODES] !== code)).toEqual([]);
  });
});
