import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

describe('error codes', () => {
  it('are each documented in the README with their status', () => {
    const readme = readFileSync('README.md', 'utf8');
    const undocumented = Object.entries(ERROR_CODES).filter(([code, { status }]) => !readme.includes(`| \`${code}\` | ${status} |`));
    expect(undocumented).toEqual([]);
  });
});
