/**
 * Reading Redis failures: which errors mean that Redis did not answer (the API turns them into a
 * 503), and what the reply of a MULTI says. Both read error classes and codes; where ioredis gives
 * only text, the comment says so.
 */
import { HeraldError } from '../errors.js';

/**
 * Socket errno codes of a connection that could not be made or broke. ioredis reports socket
 * errors only as 'error' events (its commands fail with the errors below instead), but BullMQ,
 * waiting for its connection to be ready, rejects with the last such event.
 */
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * Error classes of a command that got no answer, recognised by class name (`name`, which each of
 * them sets to the class's own):
 * - ioredis's MaxRetriesPerRequestError (the connection dropped and the command's retries ran
 *   out) and its base AbortError (a command cut off by a connection close). ioredis 6 exports
 *   neither from its entry point (only ReplyError; they live in its `built/errors` and in
 *   redis-errors, which Herald does not depend on directly);
 * - BullMQ's ConnectionClosedError (a queue whose connection has ended). BullMQ exports it, but
 *   the store reads this module and must not depend on BullMQ.
 */
const UNANSWERED_CLASSES = new Set(['MaxRetriesPerRequestError', 'AbortError', 'ConnectionClosedError', 'ClusterAllFailedError']);

/**
 * Failures ioredis 6 raises as a plain Error with neither a code nor a class of its own, so only
 * their text tells them apart (each from ioredis's source):
 * - `Connection is closed.` (utils CONNECTION_CLOSED_ERROR_MSG): a command on a connection that
 *   has ended, or in flight when it closed for good;
 * - `Stream isn't writeable and enableOfflineQueue options is false`: a command on a fail-fast
 *   connection (redis/connection.ts `command` profile) while it reconnects;
 * - `Command timed out`: no reply within the connection's `commandTimeout`.
 */
const UNANSWERED_MESSAGES = ['Connection is closed.', 'Command timed out'];
const UNANSWERED_MESSAGE_PREFIX = "Stream isn't writeable";

/**
 * A Redis Cluster in a failover: ioredis's Cluster client raises these as plain Errors, by text
 * only (from its cluster/index.js), while it learns the new slot map; a fail-fast connection gets
 * them at once rather than waiting:
 * - `Cluster isn't ready and enableOfflineQueue options is false`: a command while the client
 *   refreshes its view of the cluster;
 * - `None of startup nodes is available`, `Node is disconnected`, `Cluster is disconnected.`:
 *   no node to send it to;
 * - `Too many Cluster redirections. Last error: …`: redirections (MOVED, TRYAGAIN, CLUSTERDOWN)
 *   ran out before the new primary answered.
 */
const CLUSTER_UNANSWERED_PREFIXES = [
  "Cluster isn't ready",
  'None of startup nodes is available',
  'Node is disconnected',
  'Cluster is disconnected',
  'Too many Cluster redirections',
];

/**
 * Redis replies (ReplyError, by their first word, the error code Redis gives) of a node that
 * cannot serve the command now and will once the failover is over: the cluster is down or
 * reconfiguring (CLUSTERDOWN, TRYAGAIN), the node is a replica now or has lost its primary
 * (READONLY, MASTERDOWN), or it is loading its data after a restart (LOADING).
 */
const TRANSIENT_REPLY_CODES = new Set(['CLUSTERDOWN', 'TRYAGAIN', 'READONLY', 'MASTERDOWN', 'LOADING']);

/** True for errors that mean "Redis did not answer", which the API turns into a 503. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && UNREACHABLE_ERRNO.has(code)) return true;
  if (UNANSWERED_CLASSES.has(err.name)) return true;
  if (err.name === 'ReplyError' && TRANSIENT_REPLY_CODES.has(replyCode(err))) return true;
  if (isStateAbort(err)) return true;
  if (CLUSTER_UNANSWERED_PREFIXES.some((prefix) => err.message.startsWith(prefix))) return true;
  return UNANSWERED_MESSAGES.includes(err.message) || err.message.startsWith(UNANSWERED_MESSAGE_PREFIX);
}

/**
 * Replies that, queued inside a MULTI, make Redis discard it (EXECABORT) for a reason of the
 * node's state rather than of the commands: the transient codes above, a slot answered by another
 * node now (MOVED, ASK: the client's slot map is behind a failover), and a script not in the
 * node's cache (NOSCRIPT). ioredis loads a script on a node once per client; a replica promoted by
 * a failover, or a restarted node, starts with an empty cache, and the client's next transaction
 * there meets it once.
 */
const ABORT_STATE_CODES = new Set([...TRANSIENT_REPLY_CODES, 'MOVED', 'ASK', 'NOSCRIPT']);

/**
 * A MULTI that Redis discarded (EXECABORT, so none of it ran) only because of the node's state in
 * a failover or restart: nothing was written, and the caller's retry goes through once the client
 * follows the new primary (and the node has the script again, as it does as soon as anything runs
 * it whole). A transaction refused for any one command's own fault (a wrong argument count,
 * CROSSSLOT) stays a fault.
 */
function isStateAbort(err: Error): boolean {
  if (err.name !== 'ReplyError' || !err.message.startsWith('EXECABORT')) return false;
  const previous = (err as Error & { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.length > 0 && previous.every((e) => e instanceof Error && ABORT_STATE_CODES.has(replyCode(e)));
}

/** A Redis error reply's code: its first word (`CLUSTERDOWN The cluster is down` → CLUSTERDOWN). */
function replyCode(err: Error): string {
  return err.message.split(' ', 1)[0]!;
}

/** What ioredis's `exec()` resolves to for a MULTI: one `[error, result]` per command, or null. */
export type ExecReplies = [error: Error | null, result: unknown][] | null;

/**
 * The result of command `index` of an exec'd MULTI. Every MULTI Herald runs reads its replies
 * through here, so a failed transaction is handled one way:
 * - null replies: EXEC answered nil, so Redis ran none of the transaction. Redis does that only
 *   when a WATCHed key changed; Herald watches none, so it is Redis failing, reported as
 *   HERALD_ERR_REDIS_UNAVAILABLE (naming `what`), never read as an empty result;
 * - the command's own error (a script error, WRONGTYPE): rethrown as it is. The other commands of
 *   the MULTI did run: Redis does not roll a transaction back.
 * A MULTI that Redis refused as a whole (EXECABORT) rejects `exec()` itself and never gets here.
 */
export function execResult<T>(replies: ExecReplies, index: number, what: string): T {
  if (!replies) throw aborted(what);
  const reply = replies[index];
  if (!reply) throw new RangeError(`${what} has no command #${index}`);
  const [err, result] = reply;
  if (err) throw err;
  return result as T;
}

/** Every result of an exec'd MULTI, each read as execResult reads one: for a transaction whose every command matters. */
export function execResults(replies: ExecReplies, what: string): unknown[] {
  if (!replies) throw aborted(what);
  return replies.map((_, index) => execResult(replies, index, what));
}

function aborted(what: string): HeraldError {
  return new HeraldError('HERALD_ERR_REDIS_UNAVAILABLE', `${what} was aborted`);
}
