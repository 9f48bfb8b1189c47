import { describe, expect, it } from 'vitest';
import { parseWorkerArgs } from '../../src/run/worker-command.js';

describe('herald worker --channels', () => {
  it('serves every channel by default, or those named, ntfy, webhook and inbox among them', () => {
    expect(parseWorkerArgs([]).channels).toEqual(['gotify', 'webpush', 'email', 'ntfy', 'webhook', 'inbox']);
    expect(parseWorkerArgs(['--channels', 'webhook, ntfy,webhook']).channels).toEqual(['webhook', 'ntfy']);
  });

  it('refuses a name that is not a channel, listing the channels', () => {
    expect(() => parseWorkerArgs(['--channels', 'ntfy,sms'])).toThrow(
      '--channels takes a comma-separated list of gotify, webpush, email, ntfy, webhook, inbox (got "ntfy,sms")',
    );
  });
});
