// The models of the task form's repeat and reminders editors, without the
// page: a repeat editor's state to an RFC 5545 RRULE in the API's
// canonical form and back, and reminder durations to ISO 8601 and back.
// Dates and summaries come from the API (GET /api/recurrence/preview):
// one engine decides every date of a series; this only writes rules.
import { zonedToInstant, instantToZoned, dayIn } from "./time.js";

// Weekday codes Monday first, as the API orders them.
export const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
export const WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const WORKDAYS = "MO,TU,WE,TH,FR";

// The presets of the editor, and their frequency.
export const PRESETS = {
  none: null, daily: "DAILY", weekdays: "WEEKLY", weekly: "WEEKLY",
  "monthly-day": "MONTHLY", "monthly-nth": "MONTHLY", yearly: "YEARLY",
};
export const UNITS = { DAILY: ["day", "days"], WEEKLY: ["week", "weeks"], MONTHLY: ["month", "months"], YEARLY: ["year", "years"] };

export const MAX_INTERVAL = 1000;
export const MAX_COUNT = 10000;

// ctx is what the rule hangs on: the task's zone and due time (an RFC 3339
// instant, or null). dueParts are the due day's weekday code, day of the
// month and its ordinal weekday in the month (1 to 4, or -1 for a fifth).
function dueParts(ctx) {
  if (!ctx.due) return null;
  let day;
  try { day = dayIn(ctx.due, ctx.zone); } catch { return null; }
  const [y, m, d] = day.split("-").map(Number);
  const wd = WEEKDAYS[(new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7];
  const nth = Math.ceil(d / 7);
  return { weekday: wd, monthDay: d, nth: nth > 4 ? -1 : nth };
}

// blank is the state of a rule-less task: every control at a value that
// fits its due day. The interval and the count are kept as typed (text).
export function blank(ctx) {
  const p = dueParts(ctx) || { weekday: "MO", monthDay: 1, nth: 1 };
  return { preset: "none", interval: "1", days: [p.weekday], monthDay: p.monthDay, nth: p.nth, nthDay: p.weekday,
    end: "never", until: "", count: "1", custom: null };
}

// fitDue moves the day controls that the user has not set (all of them,
// for a new choice of preset) to the due day.
export function fitDue(s, ctx) {
  const b = blank(ctx);
  return { ...s, days: b.days, monthDay: b.monthDay, nth: b.nth, nthDay: b.nthDay };
}

// parseRule reads a canonical RRULE (the API's answer) into an editor
// state. A rule the editor has no controls for (BYMONTH, BYSETPOS, WKST,
// several month days, a DAILY rule on chosen days, ...) reads as a custom
// rule, which the editor shows and keeps as it is.
export function parseRule(rule, ctx) {
  const s = blank(ctx);
  const custom = { ...s, preset: "custom", custom: rule };
  const parts = {};
  for (const p of String(rule).split(";")) {
    const [k, v] = p.split("=");
    if (!k || v === undefined || Object.hasOwn(parts, k)) return custom;
    parts[k] = v;
  }
  for (const k of Object.keys(parts)) if (!["FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL"].includes(k)) return custom;
  const interval = parts.INTERVAL === undefined ? 1 : Number(parts.INTERVAL);
  if (!Number.isInteger(interval) || interval < 1 || interval > MAX_INTERVAL) return custom;
  s.interval = String(interval);
  const byday = parts.BYDAY === undefined ? [] : parts.BYDAY.split(",").map((d) => /^(-?\d)?(MO|TU|WE|TH|FR|SA|SU)$/.exec(d));
  if (byday.some((m) => !m)) return custom;
  const plain = byday.filter((m) => m[1] === undefined).map((m) => m[2]);
  const monthDays = parts.BYMONTHDAY === undefined ? [] : parts.BYMONTHDAY.split(",").map(Number);
  switch (parts.FREQ) {
    case "DAILY":
      if (byday.length || monthDays.length) return custom;
      s.preset = "daily";
      break;
    case "WEEKLY":
      if (monthDays.length || plain.length !== byday.length) return custom;
      if (parts.BYDAY === WORKDAYS && interval === 1) s.preset = "weekdays";
      else {
        s.preset = "weekly";
        if (plain.length) s.days = plain;
      }
      break;
    case "MONTHLY":
      if (monthDays.length === 1 && !byday.length && ((monthDays[0] >= 1 && monthDays[0] <= 31) || monthDays[0] === -1)) {
        s.preset = "monthly-day";
        s.monthDay = monthDays[0];
      } else if (!monthDays.length && byday.length === 1 && [1, 2, 3, 4, -1].includes(Number(byday[0][1]))) {
        s.preset = "monthly-nth";
        s.nth = Number(byday[0][1]);
        s.nthDay = byday[0][2];
      } else if (!monthDays.length && !byday.length) {
        s.preset = "monthly-day"; // on the due day, as blank has it
      } else return custom;
      break;
    case "YEARLY":
      if (byday.length || monthDays.length) return custom;
      s.preset = "yearly";
      break;
    default:
      return custom;
  }
  if (parts.COUNT !== undefined) {
    const n = Number(parts.COUNT);
    if (!Number.isInteger(n) || n < 1 || n > MAX_COUNT) return custom;
    s.end = "count";
    s.count = String(n);
  }
  if (parts.UNTIL !== undefined) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(parts.UNTIL);
    if (!m || s.end !== "never") return custom;
    s.end = "until";
    s.until = dayIn(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`, ctx.zone);
  }
  return s;
}

// fromRecurrence is the state of a task with the simple repeat only.
export function fromRecurrence(recurrence, ctx) {
  const freq = { daily: "DAILY", weekly: "WEEKLY", monthly: "MONTHLY", yearly: "YEARLY" }[recurrence];
  return freq ? parseRule("FREQ=" + freq, ctx) : blank(ctx);
}

// untilValue is UNTIL for the end of day (YYYY-MM-DD) in zone: its last
// second there, in UTC, as RFC 5545 wants it (20270331T215959Z).
export function untilValue(day, zone) {
  const at = zonedToInstant(day + "T23:59:59", zone);
  return at && at.replace(/[-:]/g, "").replace(/\.\d+/, "");
}

// buildRule writes the state as the API's canonical RRULE: {rule} (null
// for no repeat), or {error, control} naming the control that is wrong.
export function buildRule(s, ctx) {
  if (s.preset === "none") return { rule: null };
  if (s.preset === "custom") return { rule: s.custom };
  const freq = PRESETS[s.preset];
  if (!freq) return { error: "Choose how it repeats.", control: "preset" };
  const parts = ["FREQ=" + freq];
  if (s.preset !== "weekdays") {
    const n = Number(s.interval);
    if (!Number.isInteger(n) || n < 1 || n > MAX_INTERVAL) return { error: `The interval must be a whole number from 1 to ${MAX_INTERVAL}.`, control: "interval" };
    if (n > 1) parts.push("INTERVAL=" + n);
  }
  switch (s.preset) {
    case "weekdays":
      parts.push("BYDAY=" + WORKDAYS);
      break;
    case "weekly": {
      const days = WEEKDAYS.filter((d) => s.days.includes(d));
      if (!days.length) return { error: "Choose at least one day of the week.", control: "days" };
      parts.push("BYDAY=" + days.join(","));
      break;
    }
    case "monthly-day":
      parts.push("BYMONTHDAY=" + Number(s.monthDay));
      break;
    case "monthly-nth":
      parts.push("BYDAY=" + Number(s.nth) + s.nthDay);
      break;
  }
  if (s.end === "count") {
    const n = Number(s.count);
    if (!Number.isInteger(n) || n < 1 || n > MAX_COUNT) return { error: `The number of times must be a whole number from 1 to ${MAX_COUNT}.`, control: "count" };
    parts.push("COUNT=" + n);
  } else if (s.end === "until") {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(s.until)) return { error: "Choose the date of the last repeat.", control: "until" };
    const u = untilValue(s.until, ctx.zone);
    if (!u) return { error: "This end date does not exist in the task's time zone.", control: "until" };
    parts.push("UNTIL=" + u);
  }
  return { rule: parts.join(";") };
}

// ---- reminders -----------------------------------------------------------

export const MAX_REMINDERS = 10;
const MAX_BEFORE_DAYS = 366;

// The preset reminders before the due time.
export const REMINDER_PRESETS = [
  ["PT0S", "At the due time"], ["PT5M", "5 minutes before"], ["PT15M", "15 minutes before"],
  ["PT30M", "30 minutes before"], ["PT1H", "1 hour before"], ["P1D", "1 day before"],
];

const UNIT_SECONDS = { minutes: 60, hours: 3600 };
const UNIT_DAYS = { days: 1, weeks: 7 };

// parseDuration reads an ISO 8601 duration of weeks, days, hours,
// minutes and seconds into {days, seconds}; null when it is not one.
export function parseDuration(iso) {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso);
  if (!m || iso === "P" || iso.endsWith("T")) return null;
  const n = (i) => Number(m[i] || 0);
  return { days: 7 * n(1) + n(2), seconds: 3600 * n(3) + 60 * n(4) + n(5) };
}

// canonicalDuration is the API's form of {days, seconds}: days (never
// weeks), then hours, minutes, seconds; PT0S for none.
export function canonicalDuration({ days, seconds }) {
  if (!days && !seconds) return "PT0S";
  let out = "P" + (days ? days + "D" : "");
  if (seconds) {
    const h = Math.floor(seconds / 3600), mi = Math.floor((seconds % 3600) / 60), se = seconds % 60;
    out += "T" + (h ? h + "H" : "") + (mi ? mi + "M" : "") + (se ? se + "S" : "");
  }
  return out;
}

// durationOf is the canonical ISO 8601 duration of amount units (minutes,
// hours, days or weeks) before the due time: {before} or {error}.
export function durationOf(amount, unit) {
  const n = Number(amount);
  if (!Number.isInteger(n) || n < 1) return { error: "Give a whole number of " + unit + ", 1 or more." };
  const d = UNIT_DAYS[unit] ? { days: n * UNIT_DAYS[unit], seconds: 0 } : { days: 0, seconds: n * UNIT_SECONDS[unit] };
  if (d.days + d.seconds / 86400 > MAX_BEFORE_DAYS) return { error: `A reminder can be at most ${MAX_BEFORE_DAYS} days before the due time.` };
  return { before: canonicalDuration(d) };
}

// sameBefore says whether two ISO 8601 durations are the same length.
export function sameBefore(a, b) {
  const x = parseDuration(a), y = parseDuration(b);
  return !!x && !!y && x.days === y.days && x.seconds === y.seconds;
}

const plural = (n, one) => `${n} ${one}${n === 1 ? "" : "s"}`;

// describeBefore says a relative reminder in words: "15 minutes before",
// "1 day 2 hours before", "At the due time".
export function describeBefore(iso) {
  const d = parseDuration(iso);
  if (!d) return iso + " before";
  if (!d.days && !d.seconds) return "At the due time";
  const out = [];
  if (d.days && d.days % 7 === 0 && !d.seconds) out.push(plural(d.days / 7, "week"));
  else if (d.days) out.push(plural(d.days, "day"));
  const h = Math.floor(d.seconds / 3600), mi = Math.floor((d.seconds % 3600) / 60), se = d.seconds % 60;
  if (h) out.push(plural(h, "hour"));
  if (mi) out.push(plural(mi, "minute"));
  if (se) out.push(plural(se, "second"));
  return out.join(" ") + " before";
}

// The editor holds a reminder as {before} or {local}: an absolute one is a
// wall-clock time (YYYY-MM-DDTHH:mm) in the form's zone, converted when the
// form is saved, like the due time.
export function toEditor(r, zone) {
  return r.before !== undefined && r.before !== null ? { before: r.before } : { local: instantToZoned(r.at, zone) };
}

// fromEditor is the API's form of an editor reminder; null when its time
// does not exist in zone.
export function fromEditor(r, zone) {
  if (r.before !== undefined) return { before: r.before };
  const at = zonedToInstant(r.local, zone);
  return at ? { at } : null;
}

// sameReminders says whether two lists of API reminders are the same, in
// order.
export function sameReminders(a, b) {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (x.before !== undefined || y.before !== undefined) return x.before !== undefined && y.before !== undefined && sameBefore(x.before, y.before);
    return Date.parse(x.at) === Date.parse(y.at);
  });
}
