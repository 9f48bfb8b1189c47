/**
 * Values made once per key and reused: for strings the delivery path would otherwise build anew on
 * every call (a statistics field name, an event type). A string built per call is a new object the
 * collector must free, and a new key a hash table must hash before it can use it. The keys are a
 * small fixed set (channels, statuses, outcomes), so what is kept stays small.
 */
export function madeOnce<K, V>(make: (key: K) => V): (key: K) => V {
  const made = new Map<K, V>();
  return (key) => {
    let found = made.get(key);
    if (found === undefined) made.set(key, (found = make(key)));
    return found;
  };
}
