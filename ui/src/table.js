// Rows of list_calls, sortable: a table where its columns fit, one card per call where they do not (a
// chat column). Known columns come in a fixed, readable order; any column the server adds later is
// shown too, after them, as text.

import { clock, count, day } from "./format.js";
import { h } from "./dom.js";

const badge = (value) =>
  value == null ? "–" : h("span", { class: `badge badge-${String(value).replace(/\W+/g, "-")}` }, String(value));

const outgoing = (r) => r.type === "outgoing" || r.direction === "outgoing";
const party = (name, number) => (name ? h("span", { class: "who" }, name, h("small", {}, number ?? "")) : number);

/** A call's time: with its date (which may wrap above it) unless every call listed is of one day (`dates` false). */
function when(r, dates) {
  const time = r.time?.slice(11, 16) ?? "–";
  if (!dates || !r.time) return h("time", { datetime: r.time }, time);
  return h("time", { datetime: r.time }, h("span", {}, day(r.time)), " ", h("span", {}, time));
}

/** Every column the view knows, in order; `when` says if it applies to rows with these fields. */
const KNOWN = [
  { key: "time", label: "Time", show: when },
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

function sorted(rows, sort, columns) {
  const sign = sort.dir === "asc" ? 1 : -1;
  const value = columns.find((c) => c.key === sort.key && c.value)?.value ?? ((r) => r[sort.key]);
  return [...rows].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    if (x == null || y == null) return compare(x, y); // blanks last either way
    return sign * compare(x, y);
  });
}

/** The rows as a table; `onSort(key)` is called when a column header is activated. */
export function callsTable(rows, { sort, onSort, dates }) {
  const columns = columnsOf(rows);
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
      ...columns.map((c) => h("td", { class: c.numeric ? "num" : "wrap" }, c.show(r, dates) ?? "")),
    ),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { class: "calls-table" }, h("caption", { class: "sr-only" }, `${count(rows.length)} calls`), h("thead", {}, head), h("tbody", {}, ...body)),
  );
}

/** The orders a person can pick for cards, as [value "key:dir", label], for the columns there are. */
function sortChoices(columns) {
  const has = new Set(columns.map((c) => c.key));
  const choices = [
    ["time:desc", "Newest first"],
    ["time:asc", "Oldest first"],
    ["duration_s:desc", "Longest first"],
    ["duration_s:asc", "Shortest first"],
    ["wait_s:desc", "Longest wait first"],
    ["contact:asc", "Contact A–Z"],
    ["from:asc", "Caller A–Z"],
    ["line:asc", "Line A–Z"],
    ["employee:asc", "Employee A–Z"],
    ["outcome:asc", "Outcome A–Z"],
  ];
  return choices.filter(([value]) => has.has(value.split(":")[0]));
}

/** What a card shows before it is opened: when, how it ended, how long, who, where, tags. */
const FACE = new Set(["time", "outcome", "duration_s", "contact", "from", "line", "employee", "tags"]);

function cardFace(r, columns, dates) {
  const has = new Set(columns.map((c) => c.key));
  const who = has.has("contact")
    ? [h("span", { class: "dir" }, outgoing(r) ? "To" : "From"), outgoing(r) ? r.to : party(r.caller_name, r.from)]
    : has.has("from")
      ? [h("span", { class: "dir" }, "From"), party(r.caller_name, r.from)]
      : [];
  const where = [has.has("line") ? r.line : null, has.has("employee") ? r.employee : null].filter(Boolean).join(" · ");
  const kind = has.has("outcome") ? badge(r.outcome) : has.has("type") ? badge(r.type) : null;
  return [
    h(
      "span",
      { class: "card-top" },
      when(r, dates),
      kind,
      has.has("duration_s") ? h("span", { class: "card-duration" }, clock(r.duration_s)) : null,
    ),
    who.length ? h("span", { class: "card-who" }, ...who) : null,
    where ? h("span", { class: "card-where" }, where) : null,
    r.tags?.length ? h("span", { class: "tags" }, ...r.tags.map((t) => h("span", { class: "tag" }, t))) : null,
  ];
}

/** The rest of a call, one tap away: every column not on the card's face, and the call's id. */
function cardMore(r, columns, dates) {
  const has = new Set(columns.map((c) => c.key));
  const rest = columns.filter((c) => !FACE.has(c.key) && c.label !== "Type"); // without outcome, the face shows the type
  const pairs = rest.map((c) => [c.label, c.show(r, dates)]);
  if (has.has("contact")) pairs.push(outgoing(r) ? ["From", r.from] : ["To", r.to]);
  pairs.push(["Call id", String(r.id ?? "–")]);
  return pairs.filter(([, value]) => value != null && value !== "").flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]);
}

/** The rows as one card per call, with a menu to order them; `open` holds the ids of opened cards. */
export function callCards(rows, { sort, onSort, dates, open }) {
  const columns = columnsOf(rows);
  const choices = sortChoices(columns);
  const current = `${sort.key}:${sort.dir}`;
  const options = choices.some(([value]) => value === current) ? choices : [...choices, [current, `By ${sort.key}`]];
  const menu = h(
    "label",
    { class: "control sort-menu" },
    h("span", {}, "Sort"),
    h(
      "select",
      {
        "data-key": "sort-menu",
        "aria-label": "Sort calls",
        onchange: (e) => {
          const [key, dir] = e.target.value.split(":");
          onSort(key, dir);
        },
      },
      ...options.map(([value, label]) => h("option", { value, selected: value === current }, label)),
    ),
  );
  const cards = sorted(rows, sort, columns).map((r) => {
    const id = `call-${String(r.id).replace(/\W+/g, "-")}`;
    const opened = open.has(String(r.id));
    const more = h("dl", { class: "card-more", id, hidden: !opened }, ...cardMore(r, columns, dates));
    const face = h(
      "button",
      {
        type: "button",
        class: "card-face",
        "aria-expanded": String(opened),
        "aria-controls": id,
        "data-key": `card:${r.id}`,
        onclick: (e) => {
          const now = !open.has(String(r.id));
          if (now) open.add(String(r.id));
          else open.delete(String(r.id));
          e.currentTarget.setAttribute("aria-expanded", String(now));
          more.hidden = !now;
        },
      },
      ...cardFace(r, columns, dates),
    );
    return h("li", { class: "call-card", "data-id": r.id }, face, more);
  });
  return h(
    "div",
    { class: "cards-wrap" },
    menu,
    h("ul", { class: "call-cards", "aria-label": `${count(rows.length)} calls; open a call for the rest of it` }, ...cards),
  );
}
