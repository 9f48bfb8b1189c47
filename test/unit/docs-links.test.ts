/**
 * Every relative link in README.md and docs/*.md reaches a file that exists, and every `#anchor`
 * a heading (or an `<a id>`) of the page it points to, with the anchors GitHub makes: the heading
 * in lower case, punctuation dropped, spaces turned into hyphens, `-1`, `-2`… for repeats.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

type Pages = Map<string, string>;

/** A page's text without fenced code blocks, where neither headings nor links count. */
function withoutFences(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** GitHub's anchor of a heading's text. */
function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutFences(text).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(match[1]!);
    const repeats = seen.get(base) ?? 0;
    seen.set(base, repeats + 1);
    anchors.add(repeats === 0 ? base : `${base}-${repeats}`);
  }
  for (const match of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  return anchors;
}

/** The relative links of every page that lead nowhere, as `page: target`. */
function brokenLinks(pages: Pages, fileExists: (path: string) => boolean): string[] {
  const broken: string[] = [];
  for (const [page, text] of pages) {
    const prose = withoutFences(text).replace(/`[^`\n]*`/g, '');
    for (const match of prose.matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
      const target = match[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const [path = '', anchor] = target.split('#');
      const resolved = path === '' ? page : normalize(join(dirname(page), decodeURI(path)));
      if (!pages.has(resolved) && !fileExists(resolved)) {
        broken.push(`${page}: ${target} (no file ${resolved})`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith('.md')) continue;
      const targetText = pages.get(resolved) ?? readFileSync(resolved, 'utf8');
      if (!anchorsOf(targetText).has(anchor)) broken.push(`${page}: ${target} (no heading #${anchor} in ${resolved})`);
    }
  }
  return broken;
}

function repositoryPages(): Pages {
  const names = [
    'README.md',
    ...readdirSync('docs')
      .filter((name) => name.endsWith('.md'))
      .map((name) => join('docs', name)),
  ];
  return new Map(names.map((name) => [name, readFileSync(name, 'utf8')]));
}

describe('links between the docs', () => {
  it('every relative link and #anchor in README.md and docs/*.md resolves', () => {
    const pages = repositoryPages();
    expect(pages.size).toBeGreaterThan(2);
    expect(brokenLinks(pages, existsSync)).toEqual([]);
  });

  it('finds a missing page, a missing anchor and a repeated heading', () => {
    const pages: Pages = new Map([
      ['README.md', '[a](docs/a.md#set-up-1) [b](docs/b.md) [c](docs/a.md#nope) [d](#herald) `[e](docs/e.md)` [f](https://example.org/x)'],
      ['docs/a.md', '## Set up\n\n## Set up\n\n```\n# not a heading\n```\n[back](../README.md#herald) [x](#not-a-heading)'],
    ]);
    const found = brokenLinks(pages, () => false);
    expect(found).toEqual([
      'README.md: docs/b.md (no file docs/b.md)',
      'README.md: docs/a.md#nope (no heading #nope in docs/a.md)',
      'README.md: #herald (no heading #herald in README.md)',
      'docs/a.md: ../README.md#herald (no heading #herald in README.md)',
      'docs/a.md: #not-a-heading (no heading #not-a-heading in docs/a.md)',
    ]);
  });

  it("makes GitHub's anchors of headings with code, punctuation and links", () => {
    expect([...anchorsOf('## `GET /v1/events`\n### Escalation: notify only absent users\n## [SDK](x.md) & more')]).toEqual([
      'get-v1events',
      'escalation-notify-only-absent-users',
      'sdk--more',
    ]);
  });
});
