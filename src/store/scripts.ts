/**
 * Herald's Redis scripts (the .lua files in lua/, each with a KEYS/ARGV/Returns header). Every
 * change to a status record is one of these scripts, so a change is applied whole or not at all,
 * and only by the holder of the record's current job token. The TypeScript side computes what
 * should change; the scripts only check the token and apply it. Each script's KEYS and ARGV are
 * laid out here, once: callers fill them by slot name (ScriptCall) and the loader hands the same
 * layout to the Lua.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/client.js';
import { loadScript } from './lua-loader.js';
import { scriptLayout } from './script-layout.js';
import { HOUR_BUCKET_TTL_SECONDS, MINUTE_BUCKET_TTL_SECONDS } from './stats-counters.js';
import { ATTEMPTS_KEPT, ATTEMPTS_KEPT_HEAD } from './record.js';

/*
 * A script that changes notifications emits their events (lua/includes/emit-event.lua): its layout
 * has the fixed key `events` (Keys.events()) and the fixed argument `eventsMaxLen`
 * (HERALD_EVENTS_RETENTION), which that fragment reads.
 */

/** The KEYS and ARGV of lua/claim.lua (its header says what each holds). */
export const CLAIM_LAYOUT = scriptLayout({
  keys: ['statsMinute', 'statsHour', 'statsTotals', 'events'],
  itemKeys: ['record', 'recipient', 'subscriptions', 'digestWindow', 'digestMembers', 'group'],
  args: ['now', 'acceptedField', 'mergedField', 'mergedStatus', 'minuteTtl', 'hourTtl', 'eventsMaxLen'],
  itemArgs: ['notification', 'status', 'expiresAt', 'token', 'recordTtl', 'digestMember', 'groupMember', 'id', 'to'],
});

/**
 * The KEYS and ARGV of lua/transition.lua. What each notification's transition carries beyond its
 * keys (token, id, recipient, change) travels in one JSON argument for the whole batch, `changes`:
 * a client pays for every argument (ioredis encodes each one apart), and five per notification
 * had cost more than the JSON they carried.
 */
export const TRANSITION_LAYOUT = scriptLayout({
  keys: ['statsMinute', 'statsHour', 'statsTotals', 'deadLetters', 'events'],
  itemKeys: ['record', 'recipient'],
  args: ['eventsMaxLen', 'eventAt', 'changes'],
  itemArgs: [],
  constants: {
    minuteTtl: MINUTE_BUCKET_TTL_SECONDS,
    hourTtl: HOUR_BUCKET_TTL_SECONDS,
    attemptsKept: ATTEMPTS_KEPT,
    attemptsKeptHead: ATTEMPTS_KEPT_HEAD,
  },
});

/** The KEYS and ARGV of lua/load.lua. */
export const LOAD_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['record', 'recipient'],
  args: [],
  itemArgs: ['token'],
});

/** The KEYS and ARGV of lua/accept-topic.lua. */
export const ACCEPT_TOPIC_LAYOUT = scriptLayout({
  keys: ['statsMinute', 'statsHour', 'statsTotals', 'events'],
  itemKeys: ['record', 'members', 'recipients', 'fanOuts'],
  args: ['now', 'topicAcceptedField', 'minuteTtl', 'hourTtl', 'eventsMaxLen'],
  itemArgs: ['notification', 'status', 'expiresAt', 'token', 'recordTtl', 'exclude', 'id', 'fanOutMember'],
});

/** The KEYS and ARGV of lua/fan-out-page.lua. */
export const FAN_OUT_PAGE_LAYOUT = scriptLayout({
  keys: ['parent', 'fanOuts', 'statsMinute', 'statsHour', 'statsTotals', 'events'],
  itemKeys: ['record', 'recipient', 'subscriptions', 'group', 'groupCanceled'],
  args: [
    'id',
    'token',
    'nextToken',
    'nextCursor',
    'lastPage',
    'now',
    'status',
    'expiresAt',
    'recordTtl',
    'acceptedField',
    'fannedOutField',
    'canceledField',
    'canceledStatus',
    'minuteTtl',
    'hourTtl',
    'eventsMaxLen',
  ],
  itemArgs: ['notification', 'token', 'groupMember', 'id', 'to'],
});

/** The KEYS and ARGV of lua/presence-online.lua. */
export const PRESENCE_ONLINE_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['online', 'devices', 'contexts'],
  args: [],
  itemArgs: ['device', 'ttlMs', 'context'],
});

/** The KEYS and ARGV of lua/presence-offline.lua. */
export const PRESENCE_OFFLINE_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['online', 'devices', 'contexts'],
  args: [],
  itemArgs: ['device'],
});

/** The KEYS and ARGV of lua/digest-close.lua. */
export const DIGEST_CLOSE_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['record', 'digestWindow', 'digestMembers'],
  args: [],
  itemArgs: ['id'],
});

/** The KEYS and ARGV of lua/cancel.lua. */
export const CANCEL_LAYOUT = scriptLayout({
  keys: ['statsMinute', 'statsHour', 'statsTotals', 'events'],
  itemKeys: ['record', 'attempts', 'pushed', 'group', 'digestWindow', 'digestMembers'],
  args: ['now', 'minuteTtl', 'hourTtl', 'canceledField', 'canceledStatus', 'recordTtl', 'pendingStatuses', 'channel', 'eventsMaxLen'],
  itemArgs: ['id', 'createdAt', 'token', 'to'],
});

/** The KEYS and ARGV of lua/cancel-topic.lua. */
export const CANCEL_TOPIC_LAYOUT = scriptLayout({
  keys: ['events'],
  itemKeys: ['parent', 'recipients', 'fanOuts'],
  args: ['step', 'now', 'pendingStatuses', 'canceledStatus', 'eventsMaxLen'],
  itemArgs: ['id', 'createdAt', 'token', 'firstStatus'],
});

/** The KEYS and ARGV of lua/check.lua. */
export const CHECK_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['record'],
  args: [],
  itemArgs: ['token'],
});

/** The KEYS and ARGV of lua/inbox-add.lua. */
export const INBOX_ADD_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['items', 'order', 'unread', 'reads'],
  args: ['maxItems', 'retentionSeconds'],
  itemArgs: ['id', 'item', 'createdAt', 'channel', 'message'],
});

/** The KEYS and ARGV of lua/inbox-read.lua. */
export const INBOX_READ_LAYOUT = scriptLayout({
  keys: ['items', 'order', 'unread', 'reads', 'events'],
  itemKeys: ['record'],
  args: ['now', 'nowIso', 'channel', 'to', 'eventsMaxLen'],
  itemArgs: ['id'],
});

/** The KEYS and ARGV of lua/inbox-list.lua (one item: the inbox). */
export const INBOX_LIST_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['order', 'unread', 'items', 'reads'],
  args: ['score', 'afterId', 'limit', 'unreadOnly'],
  itemArgs: [],
});

/** The KEYS and ARGV of lua/remove-address.lua. */
export const REMOVE_ADDRESS_LAYOUT = scriptLayout({
  keys: [],
  itemKeys: ['recipient'],
  args: [],
  itemArgs: ['field', 'value'],
});

/** The KEYS and ARGV of lua/webhooks-idle.lua (no items). */
export const WEBHOOKS_IDLE_LAYOUT = scriptLayout({
  keys: ['events'],
  itemKeys: [],
  args: ['group', 'upTo'],
  itemArgs: [],
});

/** Every script, by the name of the command it is registered as. */
export const SCRIPTS = {
  heraldClaim: { file: 'claim.lua', layout: CLAIM_LAYOUT, readOnly: false },
  heraldTransition: { file: 'transition.lua', layout: TRANSITION_LAYOUT, readOnly: false },
  heraldLoad: { file: 'load.lua', layout: LOAD_LAYOUT, readOnly: true },
  heraldAcceptTopic: { file: 'accept-topic.lua', layout: ACCEPT_TOPIC_LAYOUT, readOnly: false },
  heraldFanOutPage: { file: 'fan-out-page.lua', layout: FAN_OUT_PAGE_LAYOUT, readOnly: false },
  heraldPresenceOnline: { file: 'presence-online.lua', layout: PRESENCE_ONLINE_LAYOUT, readOnly: false },
  heraldPresenceOffline: { file: 'presence-offline.lua', layout: PRESENCE_OFFLINE_LAYOUT, readOnly: false },
  heraldDigestClose: { file: 'digest-close.lua', layout: DIGEST_CLOSE_LAYOUT, readOnly: false },
  heraldCancel: { file: 'cancel.lua', layout: CANCEL_LAYOUT, readOnly: false },
  heraldCancelTopic: { file: 'cancel-topic.lua', layout: CANCEL_TOPIC_LAYOUT, readOnly: false },
  heraldCheck: { file: 'check.lua', layout: CHECK_LAYOUT, readOnly: true },
  heraldInboxAdd: { file: 'inbox-add.lua', layout: INBOX_ADD_LAYOUT, readOnly: false },
  heraldInboxRead: { file: 'inbox-read.lua', layout: INBOX_READ_LAYOUT, readOnly: false },
  heraldInboxList: { file: 'inbox-list.lua', layout: INBOX_LIST_LAYOUT, readOnly: true },
  heraldRemoveAddress: { file: 'remove-address.lua', layout: REMOVE_ADDRESS_LAYOUT, readOnly: false },
  heraldWebhooksIdle: { file: 'webhooks-idle.lua', layout: WEBHOOKS_IDLE_LAYOUT, readOnly: false },
} as const;

/**
 * The scripts' sources, read when this module is first imported: a missing or faulty script stops
 * Herald at start rather than at its first delivery.
 */
const SOURCES = Object.fromEntries(Object.entries(SCRIPTS).map(([name, { file, layout }]) => [name, loadScript(file, layout)])) as Record<
  keyof typeof SCRIPTS,
  string
>;

/**
 * What the load script returns for one notification, once decoded (see parseLoadReply): the
 * record's and the recipient's hashes as objects, the subscriptions flat as HGETALL gives them.
 */
export type LoadReply = [
  record: Record<string, string>,
  accepted: string[],
  recipient: Record<string, string>,
  subscriptions: string[],
  online: number,
  contexts: string[],
];

/**
 * Decodes the load script's JSON text: one entry per notification, null when its record is gone or
 * its token is stale. cjson encodes an empty Lua table as an object, so anything that is not a
 * list is read as an empty list, and an empty hash comes as {} as any other does.
 */
export function parseLoadReply(json: string): (LoadReply | null)[] {
  const entries = JSON.parse(json) as unknown;
  if (!Array.isArray(entries)) return [];
  return entries.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length === 0) return null;
    const [record, accepted, recipient, subscriptions, online, contexts] = entry as unknown[];
    return [hash(record), list(accepted), hash(recipient), list(subscriptions), online === 1 ? 1 : 0, list(contexts)];
  });
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? (value as string[]) : [];
}

/** A hash the script wrote as a JSON object; anything else (cjson's [] never comes) reads as empty. */
function hash(value: unknown): Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, string>) : {};
}

/**
 * A script command's keys and arguments. ioredis flattens one level of arrays (its Command does
 * `args.flat()`), so a batch passes its ScriptCall's `keys` and `args` as two arrays: spread into
 * the call, a batch's hundreds of arguments were copied through ioredis's rest parameters twice,
 * which cost a worker several µs of CPU per delivery.
 */
export type ScriptArg = string | number | readonly (string | number)[];

export interface ScriptCommands {
  heraldLoad(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<string>;
  heraldClaim(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  heraldTransition(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): unknown;
  heraldAcceptTopic(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  heraldFanOutPage(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  heraldPresenceOnline(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  heraldPresenceOffline(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  heraldDigestClose(numberOfKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  heraldCancel(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, string][]>;
  heraldCancelTopic(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, string, string][]>;
  heraldCheck(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number[]>;
  heraldInboxAdd(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  heraldInboxRead(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, number][]>;
  heraldInboxList(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, [string, string, string, string][]]>;
  heraldRemoveAddress(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  heraldWebhooksIdle(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
}

/** Registers the scripts on a connection; pipelines and transactions made from it inherit them. */
export function defineScripts(redis: RedisClient): void {
  if ('heraldClaim' in redis) return;
  // The number of keys varies with the batch size, so it is passed on each call.
  for (const [name, { readOnly }] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { lua: SOURCES[name as keyof typeof SCRIPTS], readOnly });
  }
}

export function scripts(target: RedisClient | ChainableCommander): ScriptCommands {
  return target as unknown as ScriptCommands;
}
