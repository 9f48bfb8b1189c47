/**
 * What `herald start` prints on a terminal instead of JSON lines: where the API and the console
 * are, which channels are on (and what turns on the others), which keys guard the API, and, the
 * one time they are made, the first run's keys. JSON lines stay the output when stdout is not a
 * terminal (a pipe, a file, a log collector) and in production, where logs are read by machines.
 */
import type { ChannelOffNote, Config } from '../config.js';
import { enabledChannels } from '../config.js';
import { CHANNEL_NAMES, type ChannelName } from '../types.js';
import type { DevKeys } from './first-run.js';

export type StartOutput = 'summary' | 'json';

export function startOutput(stdoutIsTerminal: boolean | undefined, production: boolean): StartOutput {
  return stdoutIsTerminal === true && !production ? 'summary' : 'json';
}

export interface ChannelState {
  name: ChannelName;
  on: boolean;
  /** Why it is off and what turns it on, or a word on how it is on. */
  note?: string;
}

export interface StartSummary {
  /** `http://host:port`. */
  apiUrl: string;
  /** Which Redis, in words (never its URL, which may hold a password). */
  redis: string;
  channels: readonly ChannelState[];
  /** Which keys guard the API. */
  keys: { kind: 'configured'; count: number } | { kind: 'none' } | { kind: 'dev'; file: string; made: DevKeys | null };
  /** Warnings of the configuration not shown elsewhere in the summary. */
  warnings: readonly string[];
}

/** The console's address under the API's. */
export function consoleUrl(apiUrl: string): string {
  return `${apiUrl}/console/`;
}

/** Every channel, on or off, from the configuration and loadConfig's notes on the ones left off. */
export function channelStates(config: Config, channelsOff: Partial<Record<ChannelName, ChannelOffNote>>, devVapid: boolean): ChannelState[] {
  const on = new Set(enabledChannels(config));
  return CHANNEL_NAMES.map((name) => {
    if (on.has(name)) return name === 'webpush' && devVapid ? { name, on: true, note: 'with the dev VAPID pair' } : { name, on: true };
    return { name, on: false, note: channelsOff[name]?.remedy ?? 'not configured' };
  });
}

/** Rows of `[label, value]` with the values lined up. */
function rows(entries: readonly (readonly [string, string])[], indent: string): string[] {
  const width = Math.max(...entries.map(([label]) => label.length)) + 2;
  return entries.map(([label, value]) => `${indent}${label.padEnd(width)}${value}`.trimEnd());
}

export function renderStartSummary(summary: StartSummary): string {
  const { apiUrl, keys } = summary;
  const lines = ['', 'Herald is running.', ''];
  const keysLine =
    keys.kind === 'configured'
      ? `${keys.count} from HERALD_API_KEYS`
      : keys.kind === 'dev'
        ? `the dev keys in ${keys.file}${keys.made ? '' : ' (made on the first run)'}`
        : 'none: every route but /healthz, /readyz, /sdk/ and the VAPID key answers 401 (set HERALD_API_KEYS)';
  lines.push(
    ...rows(
      [
        ['API', `${apiUrl}   (reference: ${apiUrl}/docs)`],
        ['Console', consoleUrl(apiUrl)],
        ['Redis', summary.redis],
        ['API keys', keysLine],
      ],
      '  ',
    ),
  );
  lines.push('', '  Channels');
  lines.push(
    ...rows(
      summary.channels.map(({ name, on, note }) => [name, `${on ? 'on ' : 'off'}  ${note ?? ''}`] as const),
      '    ',
    ),
  );
  if (keys.kind === 'dev' && keys.made) {
    lines.push('', '  First run: Herald made these keys for this machine. They are shown this once,', `  and kept in ${keys.file} (readable by you only).`);
    lines.push(
      ...rows(
        [
          ['admin key', `${keys.made.adminKey}   sign in to the console with it`],
          ['publish key', `${keys.made.publishKey}   for your app's backend`],
          ['VAPID public key', keys.made.vapid.publicKey],
        ],
        '    ',
      ),
    );
  }
  if (summary.warnings.length > 0) {
    lines.push('', '  Warnings', ...summary.warnings.map((warning) => `    - ${warning}`));
  }
  lines.push('', '  Logs follow. Ctrl-C stops Herald.', '');
  return `${lines.join('\n')}\n`;
}
