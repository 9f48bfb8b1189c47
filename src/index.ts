/** Herald's public entry point: the producer SDK and the types it speaks. */
export { Herald, MAX_BATCH, type HeraldOptions, type BatchResult, type BatchItemError } from './sdk/herald.js';
export { HeraldError, type ErrorDetail } from './errors.js';
export type { ClusterNode, RedisClient } from './redis/client.js';
export { shardOf } from './shards.js';
// ERROR_CODES and ErrorCode are the names the SDK has always exported for HTTP_ERRORS.
export {
  ATTEMPT_CODE_FAMILIES,
  ATTEMPT_CODES,
  HTTP_ERRORS,
  HTTP_ERRORS as ERROR_CODES,
  STARTUP_ERRORS,
  type AttemptCode,
  type HttpErrorCode,
  type HttpErrorCode as ErrorCode,
  type StartupErrorCode,
} from './codes.js';
export type { Stats, StatsSnapshot, ChannelStats, LatencyPercentiles, QueueDepth } from './stats/read.js';
export type { Counters, ChannelCounters } from './store/stats-counters.js';
export type { LiveWorker } from './store/workers.js';
export type { DeadLetterPage } from './store/dead-letters.js';
export type { Page } from './store/topics.js';
export type { InboxEvent, InboxReadResult } from './store/inbox.js';
export type { InboxService, InboxListOptions } from './services/inbox.js';
export type {
  Attempt,
  AttemptOutcome,
  ChannelName,
  DeadLetter,
  DigestOptions,
  EnqueueResult,
  EventType,
  HeraldEvent,
  HeraldEvent as Event,
  GotifyTokenKind,
  InboxItem,
  InboxPage,
  Notification,
  NotificationInput,
  NotificationStatus,
  Preferences,
  PresenceDevice,
  PushSubscriptionJSON,
  QuietHours,
  Recipient,
  RecipientCounts,
  Status,
  Targets,
  TerminalStatus,
  TopicRecipient,
  WebPushSubscriptionInfo,
} from './types.js';
export { EVENT_TYPES } from './types.js';
