/**
 * The status record: a Redis hash per notification (see keys.ts) and its attempts list.
 * This module converts between the stored strings and typed values; it does no I/O.
 */
import { isChannelName, type Attempt, type ChannelName, type Notification, type NotificationStatus, type Status } from '../types.js';

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
  /** The fallback order, fixed when the first delivery step resolves it. */
  chain?: ChannelName[];
  /** Channel being tried, or the one that delivered. */
  channel?: ChannelName;
  replays: number;
  failedAt?: number;
}

export function parseRecord(hash: Record<string, string>): StoredRecord | null {
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
    replays: Number(hash.replays ?? 0),
  };
  if (hash.chain) record.chain = (JSON.parse(hash.chain) as string[]).filter(isChannelName);
  if (hash.channel && isChannelName(hash.channel)) record.channel = hash.channel;
  if (hash.failedAt) record.failedAt = Number(hash.failedAt);
  return record;
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
  return status;
}
