-- emit-event.lua: emitEvent(type, to, json), newEvent(type, atMs, id, to, status), isoTime(ms)
-- Appends one entry to the event log (store/events.ts): fields `type`, `to` (the recipient's user
-- id, or '') and `event` (the Event's JSON without its id: the entry id is the Event's id), capped
-- with MAXLEN ~. Called from the script that makes the change, so the change and its event are one
-- atomic step. A script that includes this fragment has the fixed key `events` (the stream) and the
-- fixed argument `eventsMaxLen` in its layout (EVENT_SLOTS in store/scripts.ts); the loader then
-- defines KEY_EVENTS and ARG_EVENTS_MAX_LEN.

local function emitEvent(type, to, json)
  redis.call('XADD', KEYS[KEY_EVENTS], 'MAXLEN', '~', ARGV[ARG_EVENTS_MAX_LEN], '*', 'type', type, 'to', to or '', 'event', json)
end

-- `ms` (ms since the epoch, a number or its decimal text) as ISO 8601 UTC with milliseconds, as
-- JavaScript's toISOString writes it (days to civil date: H. Hinnant's algorithm).
local function isoTime(ms)
  ms = tonumber(ms)
  local seconds = math.floor(ms / 1000)
  local days = math.floor(seconds / 86400)
  local rest = seconds - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, day, math.floor(rest / 3600), math.floor(rest % 3600 / 60),
    rest % 60, ms % 1000)
end

-- Emits an event that carries no channel and no attempt (acceptance, cancel, merge, a topic
-- notification's end); `to` '' for none.
local function newEvent(type, atMs, id, to, status)
  local event = {type = type, at = isoTime(atMs), notificationId = id, status = status}
  if to ~= '' then event.to = to end
  emitEvent(type, to, cjson.encode(event))
end
