/**
 * Quiet hours: whether an instant falls inside a recipient's daily window, and when that window
 * ends. Pure (the time zone rules come from Intl, the clock from the caller), so the daylight
 * saving cases are table-tested (test/unit/quiet-hours.test.ts).
 *
 * Invariants:
 * - Inside or outside is judged by the wall clock of the zone at that instant, to the minute: a
 *   window `22:00`–`07:00` holds while the local clock reads 22:00 to 06:59, whatever the offset.
 * - The window ends at the first instant after `now` when the local clock reads the end time: on
 *   the night the clocks change, a window ending `07:00` ends at 07:00 local time, one hour more or
 *   less after its start. An end time the clocks skip (02:30 on a spring-forward night) ends the
 *   window when the clocks jump past it; one they show twice (fall-back) ends it at the first
 *   showing after `now`.
 */
import type { QuietHours } from './types.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * Offsets are looked up by 15-minute slice of UTC time: every change of offset in use today falls
 * on such a boundary, and a slice whose two ends disagree (a change inside it) is never kept but
 * read exactly each time, so the slices only save Intl's cost (tens of µs a reading), never
 * correctness. Zones never change twice within 15 minutes.
 */
const SLICE_MS = 15 * MINUTE_MS;
const SLICES_KEPT = 256;

/** A zone's Intl formatter and the offsets (ms) of the slices read so far. */
interface Zone {
  format: Intl.DateTimeFormat;
  offsets: Map<number, number>;
}

/** Zones by name; bounded, since names reach it in any letter case. */
const zones = new Map<string, Zone | null>();
const ZONES_KEPT = 1000;

function zoneNamed(timeZone: string): Zone | null {
  let found = zones.get(timeZone);
  if (found === undefined) {
    const format = zoneFormatter(timeZone);
    found = format && { format, offsets: new Map() };
    if (zones.size >= ZONES_KEPT) zones.clear();
    zones.set(timeZone, found);
  }
  return found;
}

function zoneFormatter(timeZone: string): Intl.DateTimeFormat | null {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    // A zone this process's Intl does not know (its data may be older than the one that accepted
    // the preference): the recipient has no quiet hours here rather than a delivery that fails.
    return null;
  }
}

/** What an IANA time zone name may hold: Intl also takes offsets such as `+01:00`, which are not zones. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/;

/** Whether `name` is an IANA time zone this process's Intl knows, such as `Europe/Paris`. */
export function isKnownTimeZone(name: string): boolean {
  if (!ZONE_NAME.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** `HH:MM` as minutes after midnight. */
export function clockMinutes(clock: string): number {
  return Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));
}

/** The local date and time an instant shows in a zone. */
interface Wall {
  year: number;
  month: number;
  day: number;
  /** Minutes after local midnight. */
  minutes: number;
  /** The local date and time, to the second, read as if it were UTC, in ms: comparable between walls of one zone. */
  ms: number;
}

/** The zone's offset from UTC at an instant, in ms, as Intl reads it. */
function exactOffset(format: Intl.DateTimeFormat, at: number): number {
  const fields: Record<string, number> = {};
  for (const part of format.formatToParts(at)) if (part.type !== 'literal') fields[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = fields;
  return Date.UTC(year, month - 1, day, hour, minute, second) - Math.floor(at / 1000) * 1000;
}

/** The zone's offset from UTC at an instant, in ms. */
function offsetAt(zone: Zone, at: number): number {
  const slice = Math.floor(at / SLICE_MS);
  const known = zone.offsets.get(slice);
  if (known !== undefined) return known;
  const first = exactOffset(zone.format, slice * SLICE_MS);
  if (exactOffset(zone.format, (slice + 1) * SLICE_MS - 1) !== first) return exactOffset(zone.format, at);
  if (zone.offsets.size >= SLICES_KEPT) zone.offsets.clear();
  zone.offsets.set(slice, first);
  return first;
}

function wallAt(zone: Zone, at: number): Wall {
  const local = at + offsetAt(zone, at);
  const date = new Date(local);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    minutes: date.getUTCHours() * 60 + date.getUTCMinutes(),
    ms: Math.floor(local / 1000) * 1000,
  };
}

/**
 * The first instant after `now` whose local time is `wallMs` (a local date and time read as UTC),
 * or the instant the clocks jump past it when they skip it. Null when every instant showing it is
 * already past.
 */
function instantOfWall(zone: Zone, wallMs: number, now: number): number | null {
  // The offsets on either side of any change that day: zones change at most once a day.
  const before = offsetAt(zone, wallMs - 12 * HOUR_MS);
  const after = offsetAt(zone, wallMs + 12 * HOUR_MS);
  const showing = [...new Set([wallMs - before, wallMs - after])].filter((at) => wallAt(zone, at).ms === wallMs).sort((a, b) => a - b);
  if (showing.length > 0) return showing.find((at) => at > now) ?? null;
  // Skipped: the first second whose local time is past it lies between the two readings.
  let low = Math.floor((wallMs - after) / 1000);
  let high = Math.ceil((wallMs - before) / 1000);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (wallAt(zone, middle * 1000).ms >= wallMs) high = middle;
    else low = middle;
  }
  return high * 1000 > now ? high * 1000 : null;
}

/**
 * When the quiet window that holds `now` ends (ms), or null when `now` is outside it (or the
 * zone is unknown here). `start` equal to `end` is refused by validation and never quiet here.
 */
export function quietHoursEnd(quiet: QuietHours, now: number): number | null {
  const clock = zoneNamed(quiet.timezone);
  if (!clock) return null;
  const start = clockMinutes(quiet.start);
  const end = clockMinutes(quiet.end);
  const wall = wallAt(clock, now);
  const crossesMidnight = end < start;
  const inside = crossesMidnight ? wall.minutes >= start || wall.minutes < end : wall.minutes >= start && wall.minutes < end;
  if (!inside) return null;
  // Before midnight in a window that crosses it, the end is tomorrow's.
  const endDay = crossesMidnight && wall.minutes >= start ? wall.day + 1 : wall.day;
  const endWallMs = Date.UTC(wall.year, wall.month - 1, endDay, Math.floor(end / 60), end % 60);
  return instantOfWall(clock, endWallMs, now);
}
