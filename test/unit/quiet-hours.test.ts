import { describe, expect, it } from 'vitest';
import { isKnownTimeZone, quietHoursEnd } from '../../src/quiet-hours.js';

const NIGHT = { start: '22:00', end: '07:00' };

interface Row {
  name: string;
  timezone: string;
  window?: { start: string; end: string };
  now: string;
  /** When the window ends, or null: `now` is outside it. */
  ends: string | null;
}

const ROWS: Row[] = [
  { name: 'before midnight in a window that crosses it: ends tomorrow', timezone: 'Europe/Paris', now: '2026-06-10T21:30:00Z', ends: '2026-06-11T05:00:00Z' },
  { name: 'after midnight in a window that crosses it: ends today', timezone: 'Europe/Paris', now: '2026-06-11T01:00:00Z', ends: '2026-06-11T05:00:00Z' },
  { name: 'at the start minute: inside', timezone: 'Europe/Paris', now: '2026-06-10T20:00:00Z', ends: '2026-06-11T05:00:00Z' },
  { name: 'one second before the end: inside', timezone: 'Europe/Paris', now: '2026-06-11T04:59:59Z', ends: '2026-06-11T05:00:00Z' },
  { name: 'at the end: outside', timezone: 'Europe/Paris', now: '2026-06-11T05:00:00Z', ends: null },
  { name: 'midday: outside', timezone: 'Europe/Paris', now: '2026-06-10T10:00:00Z', ends: null },
  { name: 'one minute before the start: outside', timezone: 'Europe/Paris', now: '2026-06-10T19:59:00Z', ends: null },
  {
    name: 'Europe/Paris, spring forward (29 March 2026): ends at 07:00 CEST, 8 h after 22:00 CET',
    timezone: 'Europe/Paris',
    now: '2026-03-28T22:00:00Z',
    ends: '2026-03-29T05:00:00Z',
  },
  {
    name: 'Europe/Paris, fall back (25 October 2026): ends at 07:00 CET, 10 h after 22:00 CEST',
    timezone: 'Europe/Paris',
    now: '2026-10-24T21:00:00Z',
    ends: '2026-10-25T06:00:00Z',
  },
  {
    name: 'Europe/Paris, fall back, inside the repeated hour: still ends at 07:00 CET',
    timezone: 'Europe/Paris',
    now: '2026-10-25T01:30:00Z',
    ends: '2026-10-25T06:00:00Z',
  },
  {
    name: 'America/New_York, spring forward (8 March 2026): ends at 07:00 EDT',
    timezone: 'America/New_York',
    now: '2026-03-08T04:00:00Z',
    ends: '2026-03-08T11:00:00Z',
  },
  {
    name: 'America/New_York, fall back (1 November 2026): ends at 07:00 EST',
    timezone: 'America/New_York',
    now: '2026-11-01T03:00:00Z',
    ends: '2026-11-01T12:00:00Z',
  },
  {
    name: 'Australia/Sydney, daylight saving ends (5 April 2026): ends at 07:00 AEST',
    timezone: 'Australia/Sydney',
    now: '2026-04-04T12:00:00Z',
    ends: '2026-04-04T21:00:00Z',
  },
  { name: 'a half-hour zone (Asia/Kolkata)', timezone: 'Asia/Kolkata', now: '2026-06-10T17:00:00Z', ends: '2026-06-11T01:30:00Z' },
  {
    name: 'a window within one day, inside',
    timezone: 'UTC',
    window: { start: '09:00', end: '17:00' },
    now: '2026-06-10T12:00:00Z',
    ends: '2026-06-10T17:00:00Z',
  },
  { name: 'a window within one day, after it', timezone: 'UTC', window: { start: '09:00', end: '17:00' }, now: '2026-06-10T17:00:00Z', ends: null },
  { name: 'a window within one day, before it', timezone: 'UTC', window: { start: '09:00', end: '17:00' }, now: '2026-06-10T08:59:59Z', ends: null },
  {
    name: 'an end the clocks skip (02:30, spring forward): the window ends when they jump to 03:00',
    timezone: 'Europe/Paris',
    window: { start: '22:00', end: '02:30' },
    now: '2026-03-29T00:30:00Z',
    ends: '2026-03-29T01:00:00Z',
  },
  {
    name: 'an end the clocks show twice (02:30, fall back), first showing',
    timezone: 'Europe/Paris',
    window: { start: '22:00', end: '02:30' },
    now: '2026-10-25T00:00:00Z',
    ends: '2026-10-25T00:30:00Z',
  },
  {
    name: 'an end the clocks show twice, between the showings: outside (the clock reads 02:45)',
    timezone: 'Europe/Paris',
    window: { start: '22:00', end: '02:30' },
    now: '2026-10-25T00:45:00Z',
    ends: null,
  },
  {
    name: 'an end the clocks show twice, in the repeated hour: ends at the second showing',
    timezone: 'Europe/Paris',
    window: { start: '22:00', end: '02:30' },
    now: '2026-10-25T01:10:00Z',
    ends: '2026-10-25T01:30:00Z',
  },
  {
    name: 'a start the clocks skip (02:30): not yet at 01:59 CET',
    timezone: 'Europe/Paris',
    window: { start: '02:30', end: '06:00' },
    now: '2026-03-29T00:59:00Z',
    ends: null,
  },
  {
    name: 'a start the clocks skip (02:30): inside from 03:00 CEST',
    timezone: 'Europe/Paris',
    window: { start: '02:30', end: '06:00' },
    now: '2026-03-29T01:00:00Z',
    ends: '2026-03-29T04:00:00Z',
  },
  {
    // Liberia moved from -00:44:30 to GMT at 00:44:30 UTC, inside a 15-minute slice of UTC time: the
    // clocks jumped from 23:59:59 to 00:44:30.
    name: 'an offset change inside a 15-minute slice (Africa/Monrovia, 1972), before it: ends when the clocks jump past 00:10',
    timezone: 'Africa/Monrovia',
    window: { start: '23:30', end: '00:10' },
    now: '1972-01-07T00:44:00Z',
    ends: '1972-01-07T00:44:30Z',
  },
  {
    name: 'an offset change inside a 15-minute slice (Africa/Monrovia, 1972), after it: the new offset',
    timezone: 'Africa/Monrovia',
    window: { start: '00:10', end: '06:00' },
    now: '1972-01-07T00:44:40Z',
    ends: '1972-01-07T06:00:00Z',
  },
  { name: 'a time zone this process does not know: never quiet', timezone: 'Mars/Olympus_Mons', now: '2026-06-10T23:00:00Z', ends: null },
];

describe('quiet hours', () => {
  it.each(ROWS)('$name', ({ timezone, window = NIGHT, now, ends }) => {
    const end = quietHoursEnd({ timezone, ...window }, Date.parse(now));
    expect(end === null ? null : new Date(end).toISOString()).toBe(ends === null ? null : new Date(ends).toISOString());
  });

  it('knows IANA zones, in any case, and refuses offsets and names Intl does not know', () => {
    expect(['Europe/Paris', 'America/New_York', 'UTC', 'Etc/GMT+5', 'europe/paris'].filter(isKnownTimeZone)).toHaveLength(5);
    expect(['+01:00', 'UTC+1', 'Mars/Olympus', '', 'local', 'Europe/Paris '].filter(isKnownTimeZone)).toEqual([]);
  });
});
