-- digest-close.lua: closes the digest windows held by the notifications of a delivery job.
-- Runs before the load script in the same round trip, for the deliveries that may hold a window
-- (the first job of a notification with a digest). Closing moves the window's merged ids, and its
-- newest merged notification, into the holder's record, which the load then reads; a notification
-- that arrives after the close opens a new window. Not guarded by the job token: whichever job of
-- the holder comes due first (or a job BullMQ abandoned) closes its window, and a second close
-- finds the window gone, or held by another, and changes nothing.
--
-- KEYS: per delivery: record, digest window, digest members
-- ARGV: per delivery: notification id
-- Returns: one 1 (closed) or 0 (not the holder of that window) per delivery.
--
-- The slot names (ITEM_KEY_*, ITEM_ARG_*), ITEMS and RECORD are defined by the loader from the
-- TypeScript layout (DIGEST_CLOSE_LAYOUT in scripts.ts) and record.ts.

--!include digest-window.lua

local results = {}
for n = 0, ITEMS - 1 do
  local k, a = KEYS_FIXED + n * KEYS_PER_ITEM, ARGV_FIXED + n * ARGV_PER_ITEM
  results[n + 1] = closeDigest(KEYS[k + ITEM_KEY_RECORD], KEYS[k + ITEM_KEY_DIGEST_WINDOW], KEYS[k + ITEM_KEY_DIGEST_MEMBERS], ARGV[a + ITEM_ARG_ID])
end
return results
