// The questions the view asks the server, always through the host and only with the two read tools:
// summarize_calls under another grouping or period, and list_calls for the calls behind one bar.

import { NONE } from "./chart.js";
import { parts } from "./format.js";

export const GROUPINGS = [
  ["day", "Day"],
  ["hour", "Hour of day"],
  ["weekday", "Weekday"],
  ["line", "Line"],
  ["employee", "Employee"],
  ["tag", "Tag"],
];
export const OTHER_GROUPINGS = { call_type: "Call type", status: "Status", direction: "Direction" };

export const PERIODS = [
  ["today", "Today"],
  ["yesterday", "Yesterday"],
  ["this_week", "This week"],
  ["last_week", "Last week"],
  ["last_7_days", "Last 7 days"],
  ["this_month", "This month"],
  ["last_month", "Last month"],
  ["last_30_days", "Last 30 days"],
  ["last_90_days", "Last 90 days"],
];

const FILTERS = ["timezone", "call_types", "line", "employees", "tags", "number", "search"];
const LIST_PAGE = 15;
/** Columns asked for when the view must check status or direction itself. */
const CHECKED_FIELDS = [
  "time",
  "type",
  "status",
  "direction",
  "from",
  "caller_name",
  "to",
  "line",
  "employee",
  "duration_s",
  "tags",
];

function pick(args, keys) {
  const out = {};
  for (const key of keys) if (args?.[key] != null) out[key] = args[key];
  return out;
}

/** The filters a result says it applied, as arguments (a line is echoed as "'Sales' (id 101, ...)"). */
function filterArgs(filters) {
  const args = {};
  for (const [key, value] of Object.entries(filters ?? {})) {
    if (value == null || (Array.isArray(value) && !value.length)) continue;
    args[key] = key === "line" ? (/\(id ([^,)]+)/.exec(value)?.[1] ?? String(value).replace(/^'|'$/g, "")) : value;
  }
  return args;
}

/** The arguments behind a result when the host did not send the call's own: its window and filters. */
function asked(result) {
  const w = result.window ?? {};
  return { since: w.since_local, until: w.until_local, timezone: w.timezone, ...filterArgs(result.filters) };
}

/** The summarize_calls arguments behind a result: the call's own when the host sent them. */
export function summaryQuery(args, summary) {
  return args ? { ...args } : { ...asked(summary), group_by: summary.group_by ?? [] };
}

/** The list_calls arguments behind a list result, to ask for its next page. */
export function listQuery(args, page) {
  if (args) {
    const { page: _, ...rest } = args;
    return rest;
  }
  return asked(page);
}

/** The filters a person can change or clear on the dashboard, with their names. */
export const FILTER_LABELS = {
  call_types: "Types",
  line: "Line",
  employees: "Employees",
  tags: "Tags",
  number: "Number",
  search: "Search",
};
export const CALL_TYPES = ["inbound", "outgoing", "missed", "voicemail"];

/** The same question with filter `key` set to `value`, or without it when `value` is empty. */
export function refiltered(query, key, value) {
  const next = { ...query };
  delete next.page;
  if (value == null || value === "" || (Array.isArray(value) && !value.length)) delete next[key];
  else next[key] = value;
  return next;
}

/** The calls from or to one number, in the summary's window and filters. */
export function callerQuery(query, summary, number) {
  const w = summary.window ?? {};
  const args = { ...pick(query, FILTERS), since: w.since_local, until: w.until_local, timezone: w.timezone };
  return { args: { ...args, number, limit: LIST_PAGE }, keep: null };
}

/** The same question grouped by `key` (all metrics: the chart needs the outcome counts). */
export function regrouped(query, key) {
  const next = { ...query, group_by: [key] };
  delete next.metrics;
  return next;
}

/** The same question over a named period ("last_week"). */
export function overPeriod(query, period) {
  const next = { ...query, since: period };
  delete next.until;
  delete next.metrics;
  delete next.page;
  return next;
}

/** A check the view makes on each listed row, for groupings list_calls cannot filter by. */
const CHECKS = {
  hour: (value) => (row) => parts(row.time)?.hour === value,
  weekday: (value) => (row) => parts(row.time)?.weekday === value,
  day: (value) => (row) => parts(row.time)?.date === value,
  status: (value) => (row) => (value === NONE ? !row.status : row.status === value),
  direction: (value) => (row) => (value === NONE ? !row.direction : row.direction === value),
  call_type: (value) => (row) => (value === NONE ? !row.type : row.type === value),
  line: (value) => (row) => (value === NONE ? !row.line : row.line === value),
  employee: (value) => (row) => (value === NONE ? !row.employee : row.employee === value),
  tag: (value) => (row) => (value === NONE ? !row.tags?.length : (row.tags ?? []).includes(value)),
};

/** Where list_calls can filter a group value itself: the argument, unless the query already filters it. */
const API_FILTERS = {
  line: (value) => ({ line: value }),
  employee: (value) => ({ employees: [value] }),
  tag: (value) => ({ tags: [value] }),
  call_type: (value) => ({ call_types: [value] }),
};
const FILTER_OF = { line: "line", employee: "employees", tag: "tags", call_type: "call_types" };

/**
 * The list_calls question for one group of a summary: the summary's exact window and filters, the
 * group's values as list_calls filters where it has them, and a row check for the rest.
 */
export function sliceQuery(query, summary, group) {
  const w = summary.window ?? {};
  const args = { ...pick(query, FILTERS), since: w.since_local, until: w.until_local, timezone: w.timezone };
  const checks = [];
  let fields = null;
  for (const [key, value] of Object.entries(group.group ?? {})) {
    if (key === "day" && value !== NONE) {
      // a whole local day, cut to the summary's window
      if (value > (w.since_local ?? "").slice(0, 10)) args.since = value;
      if (value < (w.until_local ?? "").slice(0, 10)) args.until = value;
    } else if (API_FILTERS[key] && value !== NONE && args[FILTER_OF[key]] == null) {
      Object.assign(args, API_FILTERS[key](value));
    } else if (CHECKS[key]) {
      checks.push(CHECKS[key](value));
      if (key === "status" || key === "direction") fields = CHECKED_FIELDS;
    }
  }
  if (fields) args.fields = fields;
  const keep = checks.length ? (row) => checks.every((check) => check(row)) : null;
  // with a row check, read big pages so a few calls are enough to fill one screen
  args.limit = keep ? 200 : LIST_PAGE;
  return { args, keep };
}

export const ENOUGH_ROWS = LIST_PAGE;
export const MAX_PAGES_PER_LOOK = 5;
/** Rows per page when the view reads a whole list (list_calls' most). */
export const FULL_PAGE = 200;
/** Most calls the view reads to sort a whole list. */
export const MAX_ROWS = 2000;
