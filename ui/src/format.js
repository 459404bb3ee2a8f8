// Formatting for people: counts, rates, durations, and local times read from the ISO strings the
// tools return (the offset in the string is the user's zone, so no browser time zone is involved).

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export const count = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));

export const percent = (ratio) => (ratio == null ? "–" : `${(ratio * 100).toFixed(ratio >= 0.995 ? 0 : 1)}%`);

/** 75 -> "1 min 15 s", 22489 -> "6 h 15 min", 16.8 -> "17 s". */
export function duration(seconds) {
  if (seconds == null) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest ? `${Math.floor(s / 60)} min ${rest} s` : `${s / 60} min`;
  }
  const minutes = Math.round(s / 60);
  const rest = minutes % 60;
  return rest ? `${Math.floor(minutes / 60)} h ${rest} min` : `${minutes / 60} h`;
}

/** 227 -> "3:47", 3725 -> "1:02:05": durations in a column of a table. */
export function clock(seconds) {
  if (seconds == null) return "–";
  const s = Math.round(seconds);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** "2026-11-23" -> its weekday index, Monday = 0. */
function weekdayIndex(isoDate) {
  const [y, m, d] = isoDate.slice(0, 10).split("-").map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
}

/** "2026-11-23" -> "Mon 23 Nov". */
export function day(isoDate, withYear = false) {
  const [y, m, d] = isoDate.slice(0, 10).split("-").map(Number);
  const text = `${WEEKDAYS[weekdayIndex(isoDate)]} ${d} ${MONTHS[m - 1]}`;
  return withYear ? `${text} ${y}` : text;
}

/** The local date and time of an ISO string with offset: "Sat 28 Nov 09:43". */
export function moment(iso, withYear = false) {
  if (!iso) return "–";
  return `${day(iso, withYear)} ${iso.slice(11, 16)}`;
}

/** The next calendar day of "2026-11-23". */
function nextDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The calendar day before "2026-11-23". */
export function previousDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
}

/** Every date from `first` to `last` inclusive. */
export function daysBetween(first, last) {
  const days = [];
  for (let d = first; d <= last && days.length < 1000; d = nextDay(d)) days.push(d);
  return days;
}

/** The window as a person says it: "Sun 22 Nov 2026 00:00 → Sat 28 Nov 2026 10:00". */
export function windowText(window) {
  if (!window) return "";
  const since = window.since_local ?? window.since;
  const until = window.until_local ?? window.until;
  if (!since || !until) return window.description ?? "";
  return `${moment(since, true)} → ${moment(until, true)}`;
}

/** The last local date a window covers: its end's, or the day before when it ends at midnight. */
function lastDay(window) {
  const until = window.until_local ?? window.until;
  const date = until.slice(0, 10);
  return until.slice(11, 19) === "00:00:00" ? previousDay(date) : date;
}

/** Whether a window covers more than one local day (then every time needs its date). */
export function spansDays(window) {
  const since = window?.since_local ?? window?.since;
  if (!since || !(window.until_local ?? window.until)) return true;
  return since.slice(0, 10) !== lastDay(window);
}

/** An error as a person reads it: without the protocol's "MCP error -32602:" or the SDK's "Error executing
 * tool x" (all a server says of a failure it did not expect), its first sentence apart when the rest is long. */
export function plainError(text) {
  const plain =
    String(text ?? "")
      .replace(/^MCP error -?\d+:\s*/, "")
      .replace(/^Error executing tool [\w.-]+(:\s*|\.?$)/, "")
      .trim() || "The server failed without saying why. Try again; if it keeps failing, ask in the chat.";
  if (plain.length <= 240) return { lead: plain, more: "" };
  const end = plain.search(/[.!?](\s|$)/);
  if (end < 0 || end > 240) return { lead: plain.slice(0, 200).replace(/\s+\S*$/, "") + "…", more: plain };
  return { lead: plain.slice(0, end + 1), more: plain.slice(end + 1).trim() };
}

/** "+33612345678" stays as it is; a display name is added when there is one. */
export const caller = (number, name) => (name ? `${name} (${number})` : (number ?? "–"));

/** "2026-11-23T09:43:06+01:00" -> { date: "2026-11-23", hour: "09", weekday: "Mon" }. */
export function parts(iso) {
  if (!iso) return null;
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13), weekday: WEEKDAYS[weekdayIndex(iso)] };
}
