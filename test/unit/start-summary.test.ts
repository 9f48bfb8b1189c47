import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { newDevKeys, withDevKeys } from '../../src/run/first-run.js';
import { channelStates, renderStartSummary, startOutput, type StartSummary } from '../../src/run/start-summary.js';
import { StartupQuietDestination } from '../../src/run/terminal-log.js';

describe('the output of herald start', () => {
  it.each([
    [true, false, 'summary'],
    [false, false, 'json'],
    [undefined, false, 'json'],
    [true, true, 'json'],
    [false, true, 'json'],
  ] as const)('stdout a terminal: %s, production: %s → %s', (terminal, production, output) => {
    expect(startOutput(terminal, production)).toBe(output);
  });
});

describe('the start summary', () => {
  const base: StartSummary = {
    apiUrl: 'http://127.0.0.1:8080',
    redis: 'a private redis-server on 127.0.0.1:6379 (data in data/redis)',
    channels: [],
    keys: { kind: 'none' },
    warnings: [],
  };

  it('shows the URLs, every channel on or off with what turns it on, and the first run keys once', () => {
    const loaded = loadConfig({ GOTIFY_URL: 'https://gotify.example.org' });
    const keys = newDevKeys();
    const config = withDevKeys(loaded.config, keys);
    const text = renderStartSummary({
      ...base,
      channels: channelStates(config, { ...loaded.channelsOff, webpush: undefined }, true),
      keys: { kind: 'dev', file: 'data/herald-dev.json', made: keys },
    });
    const lines = text.split('\n');
    expect(lines).toContain('Herald is running.');
    expect(lines).toContain('  API       http://127.0.0.1:8080   (reference: http://127.0.0.1:8080/docs)');
    expect(lines).toContain('  Console   http://127.0.0.1:8080/console/');
    expect(lines).toContain('  Redis     a private redis-server on 127.0.0.1:6379 (data in data/redis)');
    expect(lines).toContain('  API keys  the dev keys in data/herald-dev.json');
    expect(lines).toContain('    gotify   on');
    expect(lines).toContain('    webpush  on   with the dev VAPID pair');
    expect(lines).toContain('    email    off  set SMTP_URL and MAIL_FROM');
    expect(text).toContain('First run: Herald made these keys for this machine. They are shown this once,\n  and kept in data/herald-dev.json');
    expect(lines).toContain(`    admin key         ${keys.adminKey}   sign in to the console with it`);
    expect(lines).toContain(`    publish key       ${keys.publishKey}   for your app's backend`);
    expect(lines).toContain(`    VAPID public key  ${keys.vapid.publicKey}`);
    // The private half of the VAPID pair is never printed.
    expect(text).not.toContain(keys.vapid.privateKey);
    expect(text).not.toMatch(/^\{/m);
  });

  it('does not show keys it did not make this time, and says where they are', () => {
    const keys = newDevKeys();
    const text = renderStartSummary({ ...base, keys: { kind: 'dev', file: 'data/herald-dev.json', made: null } });
    expect(text).toContain('  API keys  the dev keys in data/herald-dev.json (made on the first run)');
    expect(text).not.toContain('First run:');
    expect(text).not.toContain(keys.adminKey);
  });

  it('says why the API answers 401 without keys, counts configured ones, and lists the other warnings', () => {
    const loaded = loadConfig({});
    const none = renderStartSummary({ ...base, channels: channelStates(loaded.config, loaded.channelsOff, false), warnings: ['GOTIFY_TOKEN is not used'] });
    expect(none).toContain('  API keys  none: every route but /healthz, /readyz, /sdk/ and the VAPID key answers 401 (set HERALD_API_KEYS)');
    expect(none).toContain('    gotify   off  set GOTIFY_URL (recipients register their own Gotify tokens)');
    expect(none).toContain('    webpush  off  set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT (`herald vapid` makes a key pair)');
    expect(none).toContain('  Warnings\n    - GOTIFY_TOKEN is not used\n');
    const configured = renderStartSummary({ ...base, keys: { kind: 'configured', count: 2 } });
    expect(configured).toContain('  API keys  2 from HERALD_API_KEYS');
    expect(configured).not.toContain('Warnings');
  });
});

describe('terminal logs during start-up', () => {
  it('let only warnings and errors through until the summary is out, then every line', () => {
    const written: string[] = [];
    const destination = new StartupQuietDestination({ write: (line: string) => written.push(line) });
    const line = (level: number, msg: string) => `${JSON.stringify({ level, msg })}\n`;
    destination.write(line(30, 'API listening'));
    destination.write(line(40, 'Redis does not answer yet'));
    destination.write(line(50, 'failed'));
    destination.write('not json\n');
    destination.open();
    destination.write(line(30, 'retries scheduled'));
    expect(written.map((text) => text.trim())).toEqual([
      JSON.stringify({ level: 40, msg: 'Redis does not answer yet' }),
      JSON.stringify({ level: 50, msg: 'failed' }),
      'not json',
      JSON.stringify({ level: 30, msg: 'retries scheduled' }),
    ]);
  });
});
