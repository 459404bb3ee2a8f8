// Rows of list_calls as a sortable table. Known columns come in a fixed, readable order; any column
// the server adds later is shown too, after them, as text.

import { clock, count, moment } from "./format.js";
import { h } from "./dom.js";

const badge = (value) =>
  value == null ? "–" : h("span", { class: `badge badge-${String(value).replace(/\W+/g, "-")}` }, String(value));

const outgoing = (r) => r.type === "outgoing" || r.direction === "outgoing";
const party = (name, number) => (name ? h("span", { class: "who" }, name, h("small", {}, number ?? "")) : number);

/** Every column the view knows, in order; `when` says if it applies to rows with these fields. */
const KNOWN = [
  {
    key: "time",
    label: "Time",
    show: (r, oneDay) => h("time", { datetime: r.time }, oneDay ? (r.time?.slice(11, 16) ?? "–") : moment(r.time)),
  },
  // with an outcome column, the call type says no more than the direction
  {
    key: "type",
    label: "Direction",
    when: (f) => f.has("outcome"),
    value: (r) => (outgoing(r) ? "outgoing" : "incoming"),
    show: (r) => (outgoing(r) ? "Outgoing" : "Incoming"),
  },
  { key: "direction", label: "Direction", when: (f) => !f.has("outcome") || !f.has("type"), show: (r) => r.direction },
  { key: "type", label: "Type", when: (f) => !f.has("outcome"), show: (r) => badge(r.type) },
  { key: "outcome", label: "Outcome", show: (r) => badge(r.outcome) },
  { key: "status", label: "Status", show: (r) => r.status },
  { key: "line", label: "Line", show: (r) => r.line },
  { key: "employee", label: "Employee", show: (r) => r.employee },
  // one column for the other party when the direction is known: the caller, or the number called
  {
    key: "contact",
    label: "Contact",
    needs: ["type", "from", "to"],
    value: (r) => (outgoing(r) ? r.to : (r.caller_name ?? r.from)),
    show: (r) => (outgoing(r) ? r.to : party(r.caller_name, r.from)),
  },
  { key: "from", label: "From", when: (f) => !f.has("type"), show: (r) => party(r.caller_name, r.from) },
  { key: "to", label: "To", when: (f) => !f.has("type"), show: (r) => r.to },
  { key: "duration_s", label: "Duration", numeric: true, show: (r) => clock(r.duration_s) },
  { key: "wait_s", label: "Wait", numeric: true, show: (r) => clock(r.wait_s) },
  {
    key: "tags",
    label: "Tags",
    show: (r) => (r.tags?.length ? h("span", { class: "tags" }, ...r.tags.map((t) => h("span", { class: "tag" }, t))) : ""),
  },
];
const SHOWN = new Set(["id", "caller_name", ...KNOWN.map((c) => c.key)]);

const text = (value) => (value == null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));

/** The columns for `rows`, known ones first, then any field the server added, as text. */
function columnsOf(rows) {
  const present = new Set(rows.flatMap((r) => Object.keys(r)));
  const known = KNOWN.filter(
    (c) => (c.needs ? c.needs.every((f) => present.has(f)) : present.has(c.key)) && (!c.when || c.when(present)),
  );
  const extra = [...present]
    .filter((k) => !SHOWN.has(k))
    .map((k) => ({ key: k, label: k.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase()), show: (r) => text(r[k]) }));
  return [...known, ...extra];
}

function compare(a, b) {
  if (a == null) return b == null ? 0 : 1;
  if (b == null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return text(a).localeCompare(text(b));
}

function sorted(rows, sort, columns = []) {
  const sign = sort.dir === "asc" ? 1 : -1;
  const value = columns.find((c) => c.key === sort.key && c.value)?.value ?? ((r) => r[sort.key]);
  return [...rows].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    if (x == null || y == null) return compare(x, y); // blanks last either way
    return sign * compare(x, y);
  });
}

/** The table element; `onSort(key)` is called when a column header is activated. */
export function callsTable(rows, sort, onSort) {
  const columns = columnsOf(rows);
  const oneDay = rows.length > 1 && rows.every((r) => r.time?.slice(0, 10) === rows[0].time?.slice(0, 10));
  const head = h(
    "tr",
    {},
    ...columns.map((c) => {
      const active = sort.key === c.key;
      const state = active ? (sort.dir === "asc" ? "ascending" : "descending") : "none";
      return h(
        "th",
        { scope: "col", "aria-sort": state, class: c.numeric ? "num" : null },
        h(
          "button",
          { type: "button", class: "sort", "data-key": `sort:${c.key}`, onclick: () => onSort(c.key) },
          c.label,
          h("span", { class: "arrow", "aria-hidden": "true" }, active ? (sort.dir === "asc" ? "▲" : "▼") : "↕"),
        ),
      );
    }),
  );
  const body = sorted(rows, sort, columns).map((r) =>
    h(
      "tr",
      { "data-id": r.id },
      ...columns.map((c) => h("td", { class: c.numeric ? "num" : c.key === "time" ? null : "wrap" }, c.show(r, oneDay) ?? "")),
    ),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { class: "calls-table" }, h("caption", { class: "sr-only" }, `${count(rows.length)} calls`), h("thead", {}, head), h("tbody", {}, ...body)),
  );
}
