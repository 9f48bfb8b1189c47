import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { Herald } from '../../src/sdk/herald.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

const STRONG = '3c9f1a7e5b2d8c4f6a0e';

describe('HERALD_API_KEYS', () => {
  it('refuses weak, example, spaced and repeated secrets, by position and without echoing them', () => {
    const weak = [
      'aaaaaaaaaaaaaaaa', // one character
      'abababababababab', // two
      'abcdefabcdefabcdef', // a short pattern repeated
      'change-me-publish-0123456789', // the example file's placeholder
      'CHANGEME_admin_0123456789',
      'your-api-key-goes-here-1',
      'has a space in it 0123',
      'short-0123456',
    ];
    const problems = problemsOf({ HERALD_API_KEYS: weak.map((secret) => `${secret}:publish`).join(',') });
    expect(problems).toEqual([
      'HERALD_API_KEYS entry #1: the secret uses fewer than 6 different characters; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #2: the secret uses fewer than 6 different characters; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #3: the secret repeats a short pattern; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #4: the secret is a placeholder from an example; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #5: the secret is a placeholder from an example; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #6: the secret is a placeholder from an example; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #7: the secret must be visible ASCII characters without spaces; make one with `openssl rand -hex 24`',
      'HERALD_API_KEYS entry #8: the secret must be at least 16 characters; make one with `openssl rand -hex 24`',
    ]);
    for (const secret of weak) expect(problems.join('\n')).not.toContain(secret);
  });

  it('refuses one secret listed twice, whatever the scopes', () => {
    expect(problemsOf({ HERALD_API_KEYS: `${STRONG}:publish,0d8e2b6f4a1c9e3b7d5f:admin,${STRONG}:admin` })).toEqual([
      'HERALD_API_KEYS entry #3 repeats the secret of entry #1; give each secret one scope',
    ]);
    expect(problemsOf({ HERALD_API_KEYS: `${STRONG}:publish,${STRONG}:publish` })).toHaveLength(1);
  });

  it('accepts generated secrets', () => {
    const { config } = loadConfig({ HERALD_API_KEYS: `${STRONG}:publish,0d8e2b6f4a1c9e3b7d5f2a4c6e8b0d1f3a5c7e9b:admin,Zr8_kQ2-vX5mN9pL3wT7:publish` });
    expect(config.apiKeys.map((k) => k.scope)).toEqual(['publish', 'admin', 'publish']);
  });
});

describe('HERALD_APP_SCHEMES', () => {
  it('lists app schemes, lower-cased, without duplicates; https is always allowed', () => {
    expect(loadConfig({}).config.appSchemes).toEqual([]);
    expect(loadConfig({ HERALD_APP_SCHEMES: 'mesh, Mesh,com.example.app,https' }).config.appSchemes).toEqual(['mesh', 'com.example.app']);
  });

  it('refuses what is not a scheme, and web, browser and system schemes, naming each', () => {
    expect(problemsOf({ HERALD_APP_SCHEMES: 'mesh://,http,javascript,intent,content,file,smb,ms-settings,search-ms,data,blob,1app' })).toEqual([
      'HERALD_APP_SCHEMES entry "mesh://" is not a URL scheme: a letter, then letters, digits, + . or -, written without ":"',
      'HERALD_APP_SCHEMES entry "http" cannot be an app scheme: click targets must be https:',
      'HERALD_APP_SCHEMES entry "javascript" cannot be an app scheme: it runs or shows content in the browser instead of opening an app',
      'HERALD_APP_SCHEMES entry "intent" cannot be an app scheme: it starts Android components or reads their data rather than opening one app',
      'HERALD_APP_SCHEMES entry "content" cannot be an app scheme: it starts Android components or reads their data rather than opening one app',
      'HERALD_APP_SCHEMES entry "file" cannot be an app scheme: it opens files or network shares (and may hand over credentials)',
      'HERALD_APP_SCHEMES entry "smb" cannot be an app scheme: it opens files or network shares (and may hand over credentials)',
      'HERALD_APP_SCHEMES entry "ms-settings" cannot be an app scheme: Windows handlers (search-ms, ms-*) have been used to run code from a click',
      'HERALD_APP_SCHEMES entry "search-ms" cannot be an app scheme: Windows handlers (search-ms, ms-*) have been used to run code from a click',
      'HERALD_APP_SCHEMES entry "data" cannot be an app scheme: it runs or shows content in the browser instead of opening an app',
      'HERALD_APP_SCHEMES entry "blob" cannot be an app scheme: it runs or shows content in the browser instead of opening an app',
      'HERALD_APP_SCHEMES entry "1app" is not a URL scheme: a letter, then letters, digits, + . or -, written without ":"',
    ]);
  });

  it('applies the same rule to the SDK option, before any connection is opened', () => {
    expect(() => new Herald({ appSchemes: ['intent'], redis: 'redis://127.0.0.1:1' })).toThrow(
      new RangeError('appSchemes entry "intent" cannot be an app scheme: it starts Android components or reads their data rather than opening one app'),
    );
    expect(() => new Herald({ appSchemes: ['mesh://'], redis: 'redis://127.0.0.1:1' })).toThrow(RangeError);
  });
});
