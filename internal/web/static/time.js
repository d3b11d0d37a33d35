// Times in a task's IANA time zone, with the browser's Intl only.
// The API stores instants (RFC 3339, UTC); the form's datetime-local
// inputs hold wall-clock times in the task's zone.

export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

const partsFormats = new Map();
function wall(ms, zone) {
  let f = partsFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    partsFormats.set(zone, f);
  }
  const p = {};
  for (const { type, value } of f.formatToParts(new Date(ms))) p[type] = Number(value);
  return p;
}

// offset is zone's UTC offset at instant ms, in ms (wall time minus UTC).
function offset(ms, zone) {
  const p = wall(ms, zone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

// zonedToInstant turns "YYYY-MM-DDTHH:mm" in zone into an RFC 3339 instant
// (UTC), or null for a malformed value or an unknown zone. The offsets a
// day before and a day after are the two a DST change can give: a wall
// time that both reach (the repeated hour of a fall-back night) is its
// first occurrence, one that neither reaches (skipped by a spring-forward
// gap, 02:30) lands after the gap, as clocks would show it (03:30).
export function zonedToInstant(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
  if (!m) return null;
  const target = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  const day = 86400000;
  try {
    const before = target - offset(target - day, zone);
    const after = target - offset(target + day, zone);
    const hits = (ms) => ms + offset(ms, zone) === target;
    const at = hits(before) ? before : hits(after) ? after : before;
    return new Date(at).toISOString().replace(".000Z", "Z");
  } catch {
    return null;
  }
}

// instantToZoned is the datetime-local value of instant iso in zone.
export function instantToZoned(iso, zone) {
  const p = wall(Date.parse(iso), zone);
  const two = (n) => String(n).padStart(2, "0");
  return `${p.year}-${two(p.month)}-${two(p.day)}T${two(p.hour)}:${two(p.minute)}`;
}

// dayIn is the calendar day (YYYY-MM-DD) of instant iso in zone.
export const dayIn = (iso, zone) => instantToZoned(iso, zone).slice(0, 10);

// formatIn shows instant iso in zone (the browser's when none), naming the
// zone when it is not the browser's.
export function formatIn(iso, zone) {
  const z = zone || browserZone();
  let s;
  try {
    s = new Intl.DateTimeFormat(undefined, { timeZone: z, dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  } catch {
    return new Date(iso).toLocaleString();
  }
  return z === browserZone() ? s : `${s} (${z})`;
}

// formatDay shows instant iso in zone with its weekday ("Mon, Jan 4,
// 2027, 9:00 AM"), for lists of dates where the weekday matters.
export function formatDay(iso, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: "short", year: "numeric", month: "short", day: "numeric",
      hour: "numeric", minute: "2-digit" }).format(new Date(iso));
  } catch {
    return new Date(iso).toLocaleString();
  }
}
