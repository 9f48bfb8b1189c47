import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

describe('error codes', () => {
  it('are each documented in docs/api.md with their status', () => {
    const doc = readFileSync('docs/api.md', 'utf8');
    const undocumented = Object.entries(ERROR_CODES).filter(([code, { status }]) => !doc.includes(`| \`${code}\` | ${status} |`));
    expect(undocumented).toEqual([]);
  });
});
