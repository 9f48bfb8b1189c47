-- inbox-list.lua: one page of an inbox, newest first, with each item's read mark and the count of
-- unread items, read in one step so that the page and the count agree.
-- The page starts after the cursor (score and id of the last item of the previous page): items
-- are ordered by score (createdAt) then id, both descending, as ZREVRANGEBYSCORE gives them.
--
-- KEYS: the inbox's order sorted set, unread sorted set, items hash, read marks hash
-- ARGV: the cursor's score ('+inf' for the first page), the cursor's id ('' for the first page),
--   page size, unread only (0|1)
-- Returns: {unread count, {id, item JSON, read mark (ms) or '', score}...}, at most page size + 1
--   items (one more tells the caller there is a next page).
--
-- The slot names (ITEM_KEY_*, ARG_*) and ITEMS are defined by the loader from the TypeScript
-- layout (INBOX_LIST_LAYOUT in scripts.ts).

local k = KEYS_FIXED
local order, unread, items, reads = KEYS[k + ITEM_KEY_ORDER], KEYS[k + ITEM_KEY_UNREAD], KEYS[k + ITEM_KEY_ITEMS], KEYS[k + ITEM_KEY_READS]
local source = ARGV[ARG_UNREAD_ONLY] == '1' and unread or order
local maxScore, afterId, size = ARGV[ARG_SCORE], ARGV[ARG_AFTER_ID], tonumber(ARGV[ARG_LIMIT])
local page = {}
local offset = 0
-- Items that share the cursor's score and come at or before its id were on earlier pages.
while #page <= size do
  local rows = redis.call('ZREVRANGEBYSCORE', source, maxScore, '-inf', 'WITHSCORES', 'LIMIT', offset, size + 1)
  if #rows == 0 then break end
  offset = offset + #rows / 2
  for i = 1, #rows, 2 do
    local id, score = rows[i], rows[i + 1]
    local seen = afterId ~= '' and score == maxScore and id >= afterId
    if not seen and #page <= size then
      page[#page + 1] = {id, redis.call('HGET', items, id) or '', redis.call('HGET', reads, id) or '', score}
    end
  end
end
return {redis.call('ZCARD', unread), page}
