import { describe, expect, it } from 'vitest';
import { ntfyBody, ntfyPriority } from '../../src/channels/ntfy.js';

describe('the ntfy channel', () => {
  it("maps Herald's 0–10 priority to ntfy's 1–5", () => {
    const mapped = Array.from({ length: 11 }, (_, priority) => ntfyPriority(priority));
    expect(mapped).toEqual([1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5]);
  });

  it('publishes a bare message with the fields it has only, always as Markdown', () => {
    expect(ntfyBody({ id: 'n-1', message: 'hi', priority: 5, expiresAt: 0 }, 'alerts')).toEqual({
      topic: 'alerts',
      message: 'hi',
      priority: 3,
      markdown: true,
    });
  });

  it('turns url into the click action and the category into a tag', () => {
    const body = ntfyBody(
      { id: 'n-1', title: 'Build', message: '**failed**', priority: 9, url: 'mesh://build/7', category: 'ci', data: { run: 7 }, expiresAt: 0 },
      'team-ci',
    );
    expect(body).toEqual({ topic: 'team-ci', title: 'Build', message: '**failed**', priority: 5, click: 'mesh://build/7', tags: ['ci'], markdown: true });
  });
});
