/**
 * The first step of a delivery: what it needs to know, read for every delivery of a job in one
 * command (the load script, see store/scripts.ts), and turned here into typed values. A delivery
 * whose token is no longer its record's (a duplicate job, a replay) or whose record is gone loads
 * as null: it is stale and sends nothing.
 */
import { parseRecord, type StoredRecord } from '../store/record.js';
import { parseAddresses, parsePreferences, parseSubscriptions } from '../store/recipients.js';
import type { NotificationStore } from '../store/notifications.js';
import type { LoadReply } from '../store/scripts.js';
import type { DeliveryItem } from '../queue/queues.js';
import type { RecipientView } from './plan.js';
import { currentTurn } from './loop-turn.js';

/** One delivery as loaded: the job's item, its record under that item's token, and its recipient. */
export interface DeliveryState {
  item: DeliveryItem;
  record: StoredRecord;
  recipient: RecipientView;
  /**
   * Web Push subscriptions this delivery still owes a retry: those whose last failure was
   * transient. Stored in the record's `pushRetry` field as `{token, ids}` and honoured only under
   * the token that wrote it, so a replay or a hand-off (new token) never inherits it.
   */
  pushRetry: Set<string> | null;
  /**
   * The turn of the event loop in which the load's reply was read (loop-turn.ts): within that
   * turn, the record as read is as good as a fresh check of its token (see send.ts).
   */
  loadedInTurn: number;
}

/** The state of each delivery of a job, in order; null for a stale one. */
export async function loadDeliveries(store: NotificationStore, items: DeliveryItem[]): Promise<(DeliveryState | null)[]> {
  const replies = await store.load(items);
  const loadedInTurn = currentTurn();
  return replies.map((reply, i) => (reply ? deliveryState(items[i]!, reply, loadedInTurn) : null));
}

/**
 * The recipient's Web Push subscriptions and the ids that accepted, when there are none (most
 * deliveries): shared, since an empty Map or Set still costs some 200 bytes, and a delivery's
 * state lives long enough (load to commit) to be copied by the garbage collector.
 */
const NO_SUBSCRIPTIONS: RecipientView['subscriptions'] = new Map();
const NO_IDS: ReadonlySet<string> = new Set();

/** The typed view of one delivery's load reply. */
export function deliveryState(item: DeliveryItem, reply: LoadReply, loadedInTurn: number): DeliveryState | null {
  const [hash, accepted, recipientFields, subscriptionFields, online, contexts] = reply;
  const record = parseRecord(hash);
  if (!record) return null;
  const recipientHash = item.to !== undefined ? recipientFields : null;
  const recipient: RecipientView = {
    addresses: recipientHash && parseAddresses(recipientHash),
    registered: item.to !== undefined && (hasFields(recipientFields) || subscriptionFields.length > 0),
    subscriptions: subscriptionFields.length > 0 ? parseSubscriptions(pairs(subscriptionFields)) : NO_SUBSCRIPTIONS,
    online: online === 1,
    pushAccepted: accepted.length > 0 ? new Set(accepted) : NO_IDS,
  };
  // Set only when there is something: most recipients have neither.
  const preferences = recipientHash && parsePreferences(recipientHash);
  if (preferences) recipient.preferences = preferences;
  if (contexts.length > 0) recipient.presentIn = new Set(contexts);
  return { item, record, pushRetry: owedPushRetries(hash.pushRetry, item.token), recipient, loadedInTurn };
}

/** The subscription ids in a record's `pushRetry` field, if written under `token`. */
function owedPushRetries(field: string | undefined, token: string): Set<string> | null {
  if (!field) return null;
  const owed = JSON.parse(field) as { token: string; ids: string[] };
  return owed.token === token && owed.ids.length > 0 ? new Set(owed.ids) : null;
}

/** Whether a hash has any field (without listing them). */
function hasFields(hash: Record<string, string>): boolean {
  for (const _ in hash) return true;
  return false;
}

/** A flat HGETALL reply as an object. */
function pairs(flat: string[]): Record<string, string> {
  const object: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) object[flat[i]!] = flat[i + 1]!;
  return object;
}
