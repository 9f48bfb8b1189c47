/**
 * ISO 8601 times (as Date#toISOString writes them) for the delivery path, which writes one per
 * attempt. toISOString works the calendar out anew on every call (about 0.5 µs here, as much as
 * the rest of an attempt); the date, hour and minute are the same for a minute's worth of calls, so
 * they are worked out once per minute and only the seconds and milliseconds are written per call.
 */

const MINUTE_MS = 60_000;
/** The last time toISOString writes with a four-digit year (9999-12-31T23:59:59.999Z). */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

let minuteStart = Number.NaN;
/** `YYYY-MM-DDTHH:MM:` of the minute that starts at minuteStart. */
let minutePrefix = '';

/** `new Date(ms).toISOString()`, for a whole number of ms. */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST_FOUR_DIGIT_YEAR_MS) return new Date(ms).toISOString();
  const intoMinute = ms % MINUTE_MS;
  const start = ms - intoMinute;
  if (start !== minuteStart) {
    minutePrefix = new Date(start).toISOString().slice(0, 17);
    minuteStart = start;
  }
  const seconds = Math.floor(intoMinute / 1000);
  const millis = intoMinute - seconds * 1000;
  return `${minutePrefix}${seconds < 10 ? '0' : ''}${seconds}.${millis < 100 ? (millis < 10 ? '00' : '0') : ''}${millis}Z`;
}
