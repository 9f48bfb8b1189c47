/**
 * What `npm run docs:config` writes from ENV (src/defaults.ts): config/herald.env.example and the
 * configuration table of docs/operations.md (between CONFIG_TABLE_START and CONFIG_TABLE_END).
 * Pure functions of ENV, so the docs test can compare the files with what they would be now.
 */
import { ENV, type EnvGroup, type EnvName, type EnvSpec } from './defaults.js';

export const CONFIG_TABLE_START = '<!-- config:start -->';
export const CONFIG_TABLE_END = '<!-- config:end -->';

const EXAMPLE_WIDTH = 100;

const entries = Object.entries(ENV) as [EnvName, EnvSpec][];

/** A value as it is written in the environment. */
function envValue(value: NonNullable<EnvSpec['default']>): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** A duration in the next larger unit when it is a whole number of it, e.g. "(7 days)", "(5 min)". */
function readableDuration(value: number, unit: 'ms' | 'seconds'): string {
  const seconds = unit === 'ms' ? value / 1000 : value;
  const steps: [number, string][] = [
    [86_400, 'days'],
    [3600, 'h'],
    [60, 'min'],
    [1, 's'],
  ];
  for (const [size, name] of steps) {
    if (seconds >= size && Number.isInteger(seconds / size) && !(unit === 'seconds' && size === 1)) {
      const count = seconds / size;
      return ` (${count} ${name === 'days' && count === 1 ? 'day' : name})`;
    }
  }
  return '';
}

function defaultText(spec: EnvSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === null) return 'none';
  const readable = spec.kind === 'integer' && spec.unit ? readableDuration(spec.default, spec.unit) : '';
  return `\`${envValue(spec.default)}\`${readable}`;
}

function allowedText(spec: EnvSpec): string {
  switch (spec.kind) {
    case 'integer':
      return `${spec.min} to ${spec.max}${spec.unit ? ` ${spec.unit}` : ''}`;
    case 'flag':
      return '`1` or `0`';
    case 'url':
      return `${spec.protocols.map((p) => `\`${p}//\``).join(' or ')} URL`;
    case 'text':
      return spec.rule ?? 'text';
    case 'list':
      return `comma-separated ${spec.items}`;
    case 'choice':
      return spec.values.map((v) => `\`${v}\``).join(', ');
  }
}

function tableCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** The Markdown table of every variable, one row each, in ENV's order. */
export function renderConfigTable(): string {
  const rows = entries.map(([name, spec]) => {
    const variable = `\`${name}\`${spec.secret ? ' (secret)' : ''}`;
    const meaning = spec.details ? `${spec.doc}. ${spec.details}` : spec.doc;
    return `| ${[variable, defaultText(spec), allowedText(spec), meaning].map(tableCell).join(' | ')} |`;
  });
  return ['| variable | default | allowed | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** `text` as `# ` comment lines of at most EXAMPLE_WIDTH characters (a longer word gets a line of its own). */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length > 1 && line.length + 1 + word.length > EXAMPLE_WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/**
 * config/herald.env.example: every variable under its group, with its doc, default and range.
 * A sample or placeholder (`example`) replaces the default where one is given; a variable whose
 * default is worked out at start (defaultText) or that has none is left empty, which Herald
 * reads as unset.
 */
export function renderEnvExample(): string {
  const out = [
    ...comment("Herald's environment: copy to .env and adapt. An empty value means unset, so the default applies."),
    ...comment('Generated from src/defaults.ts by `npm run docs:config`; docs/operations.md explains each variable.'),
    ...comment('Replace the change-me placeholders: Herald refuses to start with them.'),
  ];
  let group: EnvGroup | undefined;
  for (const [name, spec] of entries) {
    if (spec.group !== group) {
      group = spec.group;
      out.push('', `# ---- ${group} ----`);
    }
    const value = spec.example ?? (spec.defaultText !== undefined || spec.default === null ? '' : envValue(spec.default));
    out.push('', ...comment(`${spec.doc}. Default: ${defaultText(spec)}; allowed: ${allowedText(spec)}.`), `${name}=${value}`);
  }
  return `${out.join('\n')}\n`;
}

/** `document` with the table between its markers replaced by `table`; throws when the markers are missing. */
export function withConfigTable(document: string, table: string): string {
  const start = document.indexOf(CONFIG_TABLE_START);
  const end = document.indexOf(CONFIG_TABLE_END);
  if (start < 0 || end < start) throw new Error(`the document has no ${CONFIG_TABLE_START} … ${CONFIG_TABLE_END} markers`);
  return `${document.slice(0, start + CONFIG_TABLE_START.length)}\n${table}\n${document.slice(end)}`;
}
