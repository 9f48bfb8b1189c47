/**
 * The status record: a Redis hash per notification (see keys.ts) and its attempts list.
 * This module converts between the stored strings and typed values; it does no I/O.
 */
import {
  isChannelName,
  NOTIFICATION_STATUSES,
  type Attempt,
  type ChannelName,
  type Notification,
  type NotificationStatus,
  type RecipientCounts,
  type Status,
} from '../types.js';

/**
 * Attempts kept per notification. A notification retried through a long outage (until its ttl)
 * would otherwise grow its list by one entry per try; the first ATTEMPTS_KEPT_HEAD show how the
 * chain went, the newest show where it stands, and those between are only counted.
 */
export const ATTEMPTS_KEPT = 50;
export const ATTEMPTS_KEPT_HEAD = 10;

/**
 * The fields of a status record hash: the one list of their names. parseRecord reads them, a
 * RecordChange may set only these, and the Lua scripts see them as the table RECORD (see
 * lua-loader.ts), so a misspelt name fails to compile, or fails the script's load.
 */
export const RECORD_FIELDS = [
  'notification',
  'status',
  'createdAt',
  'updatedAt',
  'expiresAt',
  'token',
  'step',
  'tries',
  'round',
  'retrySteps',
  'recipientKnown',
  'attemptsOmitted',
  'chain',
  'channel',
  'replays',
  'failedAt',
  /** Web Push subscriptions owed a retry, as `{token, ids}` JSON (read by the delivery processor). */
  'pushRetry',
  /** A topic notification's recipient (a child): the record key of the topic notification (its parent). */
  'parent',
  /**
   * A topic notification (a parent): how many recipients it has. Its recipients are also counted
   * by status, in the fields `recipients:<status>` (recipientCountField).
   */
  'recipients',
  /** A topic notification: how many of its recipients' notifications have ended. */
  'recipientsEnded',
  /** A topic notification: the last member the fan-out has reached ('' before the first page). */
  'fanOutCursor',
  /**
   * A topic notification being canceled or canceled (ms): its fan-out has stopped and its status no
   * longer follows its recipients' (lua/cancel-topic.lua).
   */
  'canceledAt',
  /** Status `merged`: the id of the digest holder it was merged into. */
  'mergedInto',
  /** A digest holder whose window closed: JSON list of the ids merged into it, oldest first. */
  'digest',
  /** A digest holder whose window closed with merges: the newest merged notification's JSON. */
  'digestLatest',
] as const;

export type RecordField = (typeof RECORD_FIELDS)[number];

/**
 * The field of a topic notification's record that counts its recipients in `status`. The Lua side
 * (lua/includes/topic-recipients.lua) names it the same way: RECORD.recipients .. ':' .. status.
 */
export function recipientCountField(status: NotificationStatus): string {
  return `recipients:${status}`;
}

/** A record hash as stored: every value a string, any field possibly absent. */
export type RecordHash = Partial<Record<RecordField, string>>;

export interface StoredRecord {
  notification: Notification;
  status: NotificationStatus;
  createdAt: number;
  updatedAt: number;
  /** createdAt + ttlSeconds: never deliver at or after this time. */
  expiresAt: number;
  /** The token of the one live job for this notification. */
  token: string;
  /** Index in `chain` of the channel being tried. */
  step: number;
  /** Tries already made on the channel at `step` (retries of it so far). */
  tries: number;
  /** 0 in the first pass down the chain; n in the n-th round over `retrySteps` (see delivery/plan.ts). */
  round: number;
  /** Chain steps whose channel failed only transiently, ascending. */
  retrySteps: number[];
  /** The recipient (`to`) was in the registry when the notification was accepted. */
  recipientKnown: boolean;
  /** Attempts dropped from the middle of the attempts list to keep it bounded. */
  attemptsOmitted: number;
  /** The fallback order, fixed when the first delivery step resolves it. */
  chain?: ChannelName[];
  /** Channel being tried, or the one that delivered. */
  channel?: ChannelName;
  replays: number;
  failedAt?: number;
  /** A topic notification: its recipients, in total and by status. */
  recipients?: RecipientCounts;
  /** A topic notification: the last member the fan-out has reached ('' before the first page). */
  fanOutCursor?: string;
  /** A topic notification: when a cancel stopped its fan-out (see Cancellations). */
  canceledAt?: number;
  /** Status `merged`: the digest it was merged into. */
  mergedInto?: string;
  /** Set when this notification held a digest window and the window closed (see delivery/digest.ts). */
  digest?: ClosedDigest;
}

/** What a closed digest window holds, as its holder's record keeps it. */
export interface ClosedDigest {
  /** The ids merged into the holder, oldest first (the holder's own id is not among them). */
  merged: string[];
  /** The newest merged notification, when there is one. */
  latest?: Notification;
}

export function parseRecord(hash: RecordHash): StoredRecord | null {
  if (!hash.notification || !hash.status || !hash.token) return null;
  const record: StoredRecord = {
    notification: JSON.parse(hash.notification) as Notification,
    status: hash.status as NotificationStatus,
    createdAt: Number(hash.createdAt),
    updatedAt: Number(hash.updatedAt),
    expiresAt: Number(hash.expiresAt),
    token: hash.token,
    step: Number(hash.step ?? 0),
    tries: Number(hash.tries ?? 0),
    round: Number(hash.round || 0),
    retrySteps: hash.retrySteps ? (JSON.parse(hash.retrySteps) as number[]) : [],
    recipientKnown: hash.recipientKnown === '1',
    attemptsOmitted: Number(hash.attemptsOmitted || 0),
    replays: Number(hash.replays ?? 0),
  };
  if (hash.chain) record.chain = (JSON.parse(hash.chain) as string[]).filter(isChannelName);
  if (hash.channel && isChannelName(hash.channel)) record.channel = hash.channel;
  if (hash.failedAt) record.failedAt = Number(hash.failedAt);
  if (hash.mergedInto) record.mergedInto = hash.mergedInto;
  if (hash.digest) record.digest = parseDigest(hash.digest, hash.digestLatest);
  if (hash.recipients !== undefined) {
    record.recipients = recipientCounts(hash, Number(hash.recipients));
    record.fanOutCursor = hash.fanOutCursor ?? '';
    if (hash.canceledAt) record.canceledAt = Number(hash.canceledAt);
  }
  return record;
}

function recipientCounts(hash: RecordHash, total: number): RecipientCounts {
  const counts = { total } as RecipientCounts;
  const fields = hash as Record<string, string | undefined>;
  for (const status of NOTIFICATION_STATUSES) counts[status] = Number(fields[recipientCountField(status)] ?? 0);
  return counts;
}

/** cjson writes an empty list as {}: anything but a list is read as empty. */
function parseDigest(ids: string, latest: string | undefined): ClosedDigest {
  const merged = JSON.parse(ids) as unknown;
  const digest: ClosedDigest = { merged: Array.isArray(merged) ? (merged as string[]) : [] };
  if (latest) digest.latest = JSON.parse(latest) as Notification;
  return digest;
}

export function parseAttempts(list: string[]): Attempt[] {
  return list.map((json) => JSON.parse(json) as Attempt);
}

export function toStatus(record: StoredRecord, attempts: Attempt[]): Status {
  const status: Status = {
    id: record.notification.id,
    status: record.status,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
    attempts,
  };
  if (record.notification.to !== undefined) status.to = record.notification.to;
  if (record.channel) status.channel = record.channel;
  if (record.attemptsOmitted > 0) status.attemptsOmitted = record.attemptsOmitted;
  if (record.notification.topic !== undefined) status.topic = record.notification.topic;
  if (record.recipients) status.recipients = record.recipients;
  if (record.mergedInto) status.mergedInto = record.mergedInto;
  return status;
}
