/** Herald's public entry point: the producer SDK and the types it speaks. */
export { Herald, MAX_BATCH, type HeraldOptions, type BatchResult, type BatchItemError } from './sdk/herald.js';
export { HeraldError, ERROR_CODES, type ErrorCode, type ErrorDetail } from './errors.js';
export type { Stats, StatsSnapshot, ChannelStats, LatencyPercentiles, QueueDepth } from './stats/read.js';
export type { Counters, ChannelCounters } from './store/stats-counters.js';
export type { LiveWorker } from './store/workers.js';
export type {
  Attempt,
  AttemptOutcome,
  ChannelName,
  DeadLetter,
  EnqueueResult,
  GotifyTokenKind,
  Notification,
  NotificationInput,
  NotificationStatus,
  PushSubscriptionJSON,
  Recipient,
  Status,
  Targets,
} from './types.js';
