// The calls dashboard: draws the summarize_calls or list_calls result the host sends, and asks the
// server (through the host) for another grouping, period or filter, or for the calls behind a bar.

import { App, applyDocumentTheme, applyHostFonts, applyHostStyleVariables } from "@modelcontextprotocol/ext-apps";
import { SEGMENTS, chart, describe, groupLabel, hasOutcomes, isTimeAxis } from "./chart.js";
import { h } from "./dom.js";
import { caller, count, duration, percent, plainError, spansDays, windowText } from "./format.js";
import {
  CALL_TYPES,
  ENOUGH_ROWS,
  FILTER_LABELS,
  FULL_PAGE,
  GROUPINGS,
  MAX_PAGES_PER_LOOK,
  MAX_ROWS,
  OTHER_GROUPINGS,
  PERIODS,
  callerQuery,
  listQuery,
  overPeriod,
  refiltered,
  regrouped,
  sliceQuery,
  summaryQuery,
} from "./queries.js";
import { liveCalls } from "./live.js";
import { callCards, callsTable } from "./table.js";

const GROUP_TITLES = {
  day: "day",
  hour: "hour of day",
  weekday: "weekday",
  line: "line",
  employee: "employee",
  tag: "tag",
  call_type: "call type",
  status: "status",
  direction: "direction",
};
const FIRST_GROUPS = 12;
/** Below this width (a chat column) calls are cards and the numbers table shows half its columns at a time. */
const NARROW = 640;
/** A list known to hold at most this many calls is read whole when it is sorted. */
const SORT_WHOLE = 1000;
const DEFAULT_SORT = { key: "time", dir: "desc" };
const TOOLS = ["summarize_calls", "list_calls"];

const root = document.getElementById("root");
const status = document.getElementById("status");
const app = new App({ name: "sipsim-calls-dashboard", version: "1.1.0" });

const state = {
  args: null, // arguments of the tool call the host showed
  question: null, // { tool, args }: the call whose answer is on screen, or that failed with nothing on screen
  summary: null, // the summarize_calls result on screen
  list: null, // calls on screen: { title, args, keep, rows, page, hasMore, scanned, expected, group, window, filters, note }
  sort: DEFAULT_SORT,
  allGroups: false,
  numbersOpen: false,
  numbersRest: false, // narrow: the numbers table shows its second half of columns
  busy: false,
  error: null, // { title, lead, more, retry }
  editing: null, // the filter whose chip is being changed
  opened: new Set(), // ids of the call cards opened
  tableOverflowedAt: 0, // the widest width at which the calls table did not fit: cards up to it
};

// --- talking to the server ----------------------------------------------------------------------

const textOf = (result) =>
  (result?.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");

function structured(result) {
  if (result?.structuredContent) return result.structuredContent;
  try {
    return JSON.parse(textOf(result));
  } catch {
    return null;
  }
}

const say = (text) => {
  status.textContent = text;
};

/** Whether the host lets the view call server tools (the controls need it). */
const interactive = () => Boolean(app.getHostCapabilities()?.serverTools);

/** What went wrong, for a person: a title, the server's words without the SDK's prefix, a retry. */
function failure(title, text, retry) {
  return { title, ...plainError(text), retry };
}

/** Call a read tool through the host; null (and the error on screen, with `retry`) when it fails. */
async function ask(name, args, what, retry) {
  if (!interactive()) {
    state.error = failure("This host does not let the dashboard ask the server for more: ask in the chat instead.", "");
    render();
    return null;
  }
  state.busy = true;
  state.error = null;
  say(`Loading ${what}…`);
  render();
  try {
    const result = await app.callServerTool({ name, arguments: args });
    if (result.isError) throw new Error(textOf(result) || `${name} failed.`);
    return structured(result);
  } catch (error) {
    state.error = failure(`Could not load ${what}.`, error?.message ?? String(error), retry);
    say(`Could not load ${what}. ${state.error.lead}`);
    return null;
  } finally {
    state.busy = false;
  }
}

function summaryText(summary) {
  const keys = summary.group_by ?? [];
  const by = keys.length ? `, grouped by ${keys.join(" and ")}` : "";
  return `${count(summary.totals?.calls)} calls, ${windowText(summary.window)} (${summary.window?.timezone})${by}.`;
}

/** Tell the model what the person is now looking at, when the host lets the view do that. */
function share(text) {
  if (!app.getHostCapabilities()?.updateModelContext) return;
  app.updateModelContext({ content: [{ type: "text", text }] }).catch(() => {});
}

const nothingShown = () => !state.summary && !state.list;

// --- what the person does -----------------------------------------------------------------------

async function showSummary(query, what) {
  if (state.busy) return;
  const summary = await ask("summarize_calls", query, what, () => showSummary(query, what));
  if (summary) {
    Object.assign(state, { summary, list: null, allGroups: false, editing: null });
    state.question = { tool: "summarize_calls", args: query };
    const keys = summary.group_by ?? [];
    say(`Showing ${count(summary.totals?.calls)} calls${keys.length ? ` by ${keys.join(" and ")}` : ""}.`);
    share(`The user is viewing the calls dashboard: ${summaryText(summary)}`);
  } else if (nothingShown()) {
    state.question = { tool: "summarize_calls", args: query }; // its controls change what was just tried
  }
  render();
}

const newList = (title, { args, keep }, expected = null, group = null) => ({
  title,
  args,
  keep,
  rows: [],
  page: null,
  hasMore: false,
  scanned: 0,
  expected,
  group,
});

/** A list of calls asked as a question of its own (a list_calls result, another period or filter). */
async function showList(args, what) {
  if (state.busy) return;
  const list = newList("Call list", { args, keep: null });
  if (await readPages(list, { what, retry: () => showList(args, what) })) {
    Object.assign(state, { list, sort: DEFAULT_SORT, editing: null });
    state.question = { tool: "list_calls", args };
    state.opened.clear();
    say(`${count(list.rows.length)} calls listed.`);
  } else if (nothingShown()) {
    state.question = { tool: "list_calls", args };
  }
  render();
}

/** The question on screen asked again with other arguments. */
function askAgain(args, what) {
  return state.question?.tool === "list_calls" ? showList(args, what) : showSummary(args, what);
}

const regroup = (key) =>
  key && showSummary(regrouped(state.question.args, key), `calls by ${GROUP_TITLES[key] ?? key}`);
const changePeriod = (period) => period && askAgain(overPeriod(state.question.args, period), "the new period");

function changeFilter(key, value) {
  state.editing = null;
  return askAgain(refiltered(state.question.args, key, value), "the calls with this filter");
}

/** The calls behind a bar or a caller, listed under the chart. */
async function openList(title, query, expected = null, group = null) {
  if (state.busy) return;
  const list = newList(title, query, expected, group);
  if (!(await readPages(list, { what: "calls", retry: () => openList(title, query, expected, group) }))) {
    render();
    return;
  }
  Object.assign(state, { list, sort: DEFAULT_SORT });
  state.opened.clear();
  say(`${count(list.rows.length)} calls listed.`);
  render();
  const heading = document.getElementById("calls-title");
  heading?.scrollIntoView?.({ block: "nearest" });
  heading?.focus();
}

function openGroup(group) {
  const keys = state.summary.group_by ?? [];
  const label = groupLabel(group, keys);
  share(`The user opened the calls of ${label} (${count(group.calls)} calls).`);
  return openList(`Calls: ${label}`, sliceQuery(state.question.args, state.summary, group), group.calls, group);
}

function openCaller(top) {
  const query = callerQuery(state.question.args, state.summary, top.number);
  return openList(`Calls with ${caller(top.number, top.name)}`, query);
}

/**
 * Reads the next page(s) of `list` into it: a screenful (with a row check, pages until enough rows
 * matched), or with `all` every page, up to MAX_ROWS calls. False when a call failed.
 */
async function readPages(list, { all = false, what = "calls", retry }) {
  const before = list.rows.length;
  let pages = 0;
  do {
    const args = { ...list.args, ...(all ? { limit: FULL_PAGE } : {}), ...(list.page ? { page: list.page } : {}) };
    const page = await ask("list_calls", args, what, retry);
    if (!page) return false;
    const rows = page.calls ?? [];
    list.scanned += rows.length;
    list.rows.push(...(list.keep ? rows.filter(list.keep) : rows));
    list.page = page.page ?? null;
    list.hasMore = Boolean(page.has_more && page.page);
    list.window ??= page.window;
    list.filters ??= page.filters;
    list.note = page.note ?? null;
    pages += 1;
  } while (
    list.hasMore &&
    (all
      ? list.rows.length < MAX_ROWS
      : list.keep && list.rows.length - before < ENOUGH_ROWS && pages < MAX_PAGES_PER_LOOK)
  );
  return true;
}

async function moreCalls() {
  if (state.busy || !state.list) return;
  const list = state.list;
  if (await readPages(list, { retry: moreCalls })) say(`${count(list.rows.length)} calls listed.`);
  render();
}

/** Every call of the list on screen (up to MAX_ROWS), so that a sort covers all of them. */
async function loadAll() {
  if (state.busy || !state.list?.hasMore) return;
  const list = state.list;
  if (await readPages(list, { all: true, what: "all the calls", retry: loadAll })) {
    say(`All ${count(list.rows.length)} calls loaded${sorted() ? ` and sorted by ${state.sort.key}` : ""}.`);
  }
  render();
}

const sorted = () => state.sort.key !== DEFAULT_SORT.key || state.sort.dir !== DEFAULT_SORT.dir;

function sortBy(key, dir = null) {
  if (dir == null) {
    const same = state.sort.key === key;
    dir = same && state.sort.dir === "desc" ? "asc" : same ? "desc" : key === "time" ? "desc" : "asc";
  }
  state.sort = { key, dir };
  render();
  // a list of known, modest size is read whole, so the order is over all of its calls
  const list = state.list;
  if (list?.hasMore && sorted() && list.expected != null && list.expected <= SORT_WHOLE) loadAll();
}

function closeList() {
  state.list = null;
  render();
  root.querySelector('.bar[tabindex="0"]')?.focus();
}

function dismiss() {
  state.error = null;
  render();
}

// --- what the host sends ------------------------------------------------------------------------

/** Which tool the host showed: from the host's context, else from the result or the arguments. */
function shownTool(data) {
  const named = app.getHostContext()?.toolInfo?.tool?.name;
  if (TOOLS.includes(named)) return named;
  if (data?.totals) return "summarize_calls";
  if (Array.isArray(data?.calls)) return "list_calls";
  const args = state.args ?? {};
  return ["limit", "fields", "page"].some((k) => k in args) ? "list_calls" : "summarize_calls";
}

app.ontoolinput = ({ arguments: args }) => {
  state.args = args ?? null;
};

app.ontoolresult = (result) => {
  const data = structured(result);
  const tool = shownTool(data);
  state.error = null;
  state.editing = null;
  if (result.isError) {
    Object.assign(state, { summary: null, list: null });
    state.question = { tool, args: { ...(state.args ?? {}) } };
    const title = tool === "list_calls" ? "The calls could not be listed." : "The calls could not be counted.";
    state.error = failure(title, textOf(result) || "The tool failed.", () => askAgain(state.question.args, "calls"));
  } else if (data?.totals) {
    Object.assign(state, { summary: data, list: null });
    state.question = { tool: "summarize_calls", args: summaryQuery(state.args, data) };
  } else if (Array.isArray(data?.calls)) {
    state.summary = null;
    const args = listQuery(state.args, data);
    state.question = { tool: "list_calls", args };
    state.list = {
      ...newList("Call list", { args, keep: null }),
      rows: [...data.calls],
      page: data.page ?? null,
      hasMore: Boolean(data.has_more && data.page),
      scanned: data.calls.length,
      window: data.window,
      filters: data.filters,
      note: data.note ?? null,
    };
  } else {
    state.error = failure("This result is not one the calls dashboard can draw.", "");
  }
  render();
};

app.ontoolcancelled = () => {
  state.error = failure("The request was cancelled.", "");
  render();
};

function applyContext(context) {
  if (!context) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (context.styles?.css?.fonts) applyHostFonts(context.styles.css.fonts);
}

app.onhostcontextchanged = () => {
  applyContext(app.getHostContext());
  render();
};

// --- drawing ------------------------------------------------------------------------------------

const filled = (v) => v != null && v !== "" && !(Array.isArray(v) && !v.length);
const shownValue = (v) => (Array.isArray(v) ? v.join(", ") : String(v));

/** The filters of the question as chips: each can be changed (select it) or cleared (×). */
function filterChips(filters) {
  const args = state.question?.args ?? {};
  const keys = Object.keys(FILTER_LABELS).filter((k) => filled(args[k]) || filled(filters?.[k]));
  if (!keys.length) return null;
  const locked = state.busy || !interactive();
  const chips = keys.map((key) => {
    const label = FILTER_LABELS[key];
    const value = filled(args[key]) ? args[key] : filters[key];
    if (state.editing === key) return h("li", { class: "chip editing" }, chipEditor(key, label, value));
    return h(
      "li",
      { class: "chip", "data-filter": key },
      h(
        "button",
        {
          type: "button",
          class: "chip-change",
          "data-key": `chip:${key}`,
          disabled: locked,
          title: filters?.[key] != null ? `${label}: ${shownValue(filters[key])}` : null,
          "aria-label": `${label}: ${shownValue(value)}. Change this filter`,
          onclick: () => {
            state.editing = key;
            render();
            root.querySelector(".chip-editor input")?.focus();
          },
        },
        h("span", { class: "chip-name" }, `${label}:`),
        ` ${shownValue(value)}`,
      ),
      h(
        "button",
        {
          type: "button",
          class: "chip-clear",
          "data-key": `clear:${key}`,
          disabled: locked,
          "aria-label": `Clear the filter ${label}: ${shownValue(value)}`,
          onclick: () => changeFilter(key, null),
        },
        "×",
      ),
    );
  });
  return h("ul", { class: "chips", "aria-label": "Filters" }, ...chips);
}

/** The fields that change one filter: the call types as boxes to tick, anything else as text. Not a
 * <form>: hosts sandbox the view without allow-forms, so a submission would be blocked. */
function chipEditor(key, label, value) {
  const values = Array.isArray(value) ? value : [value];
  const cancel = () => {
    state.editing = null;
    render();
    root.querySelector(`[data-key="chip:${key}"]`)?.focus();
  };
  const inputs = [];
  const field =
    key === "call_types"
      ? h(
          "fieldset",
          { class: "types" },
          h("legend", {}, label),
          ...CALL_TYPES.map((t) => {
            const box = h("input", { type: "checkbox", value: t, checked: values.includes(t) });
            inputs.push(box);
            return h("label", {}, box, t);
          }),
        )
      : (() => {
          const input = h("input", { type: "text", value: shownValue(value), "data-key": `edit:${key}` });
          inputs.push(input);
          return h("label", {}, h("span", {}, Array.isArray(value) ? `${label} (comma-separated)` : label), input);
        })();
  const apply = () => {
    const typed = inputs[0].value;
    const chosen =
      key === "call_types"
        ? inputs.filter((box) => box.checked).map((box) => box.value)
        : Array.isArray(value)
          ? typed
              .split(",")
              .map((v) => v.trim())
              .filter(Boolean)
          : typed.trim();
    changeFilter(key, chosen);
  };
  return h(
    "div",
    {
      class: "chip-editor",
      role: "group",
      "aria-label": `Change the filter ${label}`,
      onkeydown: (e) => {
        if (e.key === "Escape") cancel();
        if (e.key === "Enter" && e.target.type === "text") apply();
      },
    },
    field,
    h("button", { type: "button", class: "ghost", "data-key": "apply", onclick: apply }, "Apply"),
    h("button", { type: "button", class: "ghost", onclick: cancel }, "Cancel"),
  );
}

/** What was asked, when there is no answer to say its window. */
function askedText(args) {
  const parts = [args?.since ? `from ${args.since}` : null, args?.until ? `until ${args.until}` : null].filter(Boolean);
  return parts.length ? `Asked: calls ${parts.join(" ")}` : "";
}

function header(window, filters) {
  return h(
    "header",
    { class: "head" },
    h(
      "div",
      { class: "title" },
      h("h1", {}, "Calls"),
      h(
        "p",
        { class: "window" },
        window ? windowText(window) : askedText(state.question?.args),
        window?.timezone ? h("span", { class: "zone" }, ` · ${window.timezone}`) : null,
      ),
      filterChips(filters),
    ),
    controls(),
  );
}

function select(id, label, options, current, onchange) {
  return h(
    "label",
    { class: "control" },
    h("span", {}, label),
    h(
      "select",
      { id, "data-key": id, disabled: state.busy || !interactive(), onchange: (e) => onchange(e.target.value) },
      ...options.map(([value, text]) => h("option", { value, selected: value === current }, text)),
    ),
  );
}

/** Full screen and back, when the host offers both. */
function displayButton() {
  const context = app.getHostContext();
  const next = context?.displayMode === "fullscreen" ? "inline" : "fullscreen";
  if (!context?.availableDisplayModes?.includes(next)) return null;
  return h(
    "button",
    {
      type: "button",
      class: "ghost",
      "data-key": "display",
      onclick: () => app.requestDisplayMode({ mode: next }).catch(() => {}),
    },
    next === "fullscreen" ? "Full screen" : "Exit full screen",
  );
}

/** Period (and Group by for a summary): they ask the question on screen again, changed. */
function controls() {
  const question = state.question;
  if (!question) return displayButton() && h("div", { class: "controls" }, displayButton());
  const args = question.args ?? {};
  const since = args.until ? null : args.since;
  const period = PERIODS.some(([p]) => p === since) ? since : "";
  const periods = period ? PERIODS : [["", "As asked"], ...PERIODS];
  let grouping = null;
  if (question.tool === "summarize_calls") {
    const keys = state.summary?.group_by ?? args.group_by ?? [];
    const current = keys.length === 1 ? keys[0] : "";
    const groupings = [...GROUPINGS];
    if (current && !groupings.some(([k]) => k === current)) groupings.push([current, OTHER_GROUPINGS[current] ?? current]);
    if (!current) groupings.unshift(["", keys.length ? keys.map((k) => GROUP_TITLES[k] ?? k).join(" + ") : "None"]);
    grouping = select("group-by", "Group by", groupings, current, regroup);
  }
  return h(
    "div",
    { class: "controls" },
    select("period", "Period", periods, period, changePeriod),
    grouping,
    displayButton(),
  );
}

function stats(t) {
  const cards = [
    ["calls", "Calls", count(t.calls), t.inbound != null ? `${count(t.inbound)} in · ${count(t.outgoing)} out` : null],
    ["answered", "Answered", count(t.answered), t.answer_rate != null ? `${percent(t.answer_rate)} of all calls` : null],
    ["missed", "Missed", count(t.missed), t.voicemail != null ? `${count(t.voicemail)} to voicemail` : null],
    [
      "answer_rate",
      "Answer rate",
      percent(t.answer_rate),
      t.missed_rate != null ? `${percent(t.missed_rate)} of incoming missed` : null,
    ],
    ["avg_wait_s", "Average wait", duration(t.avg_wait_s), "before answer or hang-up"],
    [
      "total_duration_s",
      "Talk time",
      duration(t.total_duration_s),
      t.avg_duration_s != null ? `${duration(t.avg_duration_s)} per answered call` : null,
    ],
  ];
  return h(
    "dl",
    { class: "stats", "aria-label": "Totals" },
    ...cards.map(([key, label, value, sub]) =>
      h(
        "div",
        { class: `stat stat-${key}${key === "missed" && t.missed ? " alert" : ""}`, "data-metric": key },
        h("dt", {}, label),
        h("dd", { class: "stat-value" }, value),
        sub ? h("dd", { class: "stat-sub" }, sub) : null,
      ),
    ),
  );
}

function legend(groups) {
  if (!groups.some(hasOutcomes)) return null;
  return h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    ...SEGMENTS.map((s) => h("li", {}, h("span", { class: `swatch seg-${s.key}`, "aria-hidden": "true" }), s.label)),
  );
}

const OUTCOME_COLUMNS = [
  ["Calls", (g) => count(g.calls)],
  ["Answered", (g) => count(g.answered)],
  ["Missed", (g) => count(g.missed)],
  ["Answer rate", (g) => percent(g.answer_rate)],
];
const TIME_COLUMNS = [
  ["Voicemail", (g) => count(g.voicemail)],
  ["Avg wait", (g) => duration(g.avg_wait_s)],
  ["Talk time", (g) => duration(g.total_duration_s)],
];

/** The numbers behind the chart; in a narrow column, half of the columns at a time. */
function groupsTable(groups, keys) {
  const narrow = isNarrow();
  const columns = !narrow ? [...OUTCOME_COLUMNS, ...TIME_COLUMNS] : state.numbersRest ? TIME_COLUMNS : OUTCOME_COLUMNS;
  const swap = narrow
    ? h(
        "button",
        {
          type: "button",
          class: "ghost",
          "data-key": "numbers-swap",
          onclick: () => ((state.numbersRest = !state.numbersRest), render()),
        },
        state.numbersRest ? "Show calls, answered, missed, rate" : "Show voicemail, wait, talk time",
      )
    : null;
  return h(
    "details",
    { class: "numbers", open: state.numbersOpen, ontoggle: (e) => (state.numbersOpen = e.target.open) },
    h("summary", { "data-key": "numbers" }, `Numbers for each ${keys.map((k) => GROUP_TITLES[k] ?? k).join(" and ")}`),
    swap,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "groups-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, keys.map((k) => GROUP_TITLES[k] ?? k).join(" · ").replace(/^./, (c) => c.toUpperCase())),
            ...columns.map(([label]) => h("th", { scope: "col", class: "num" }, label)),
          ),
        ),
        h(
          "tbody",
          {},
          ...groups.map((g, i) =>
            h(
              "tr",
              {},
              h(
                "th",
                { scope: "row" },
                h(
                  "button",
                  {
                    type: "button",
                    class: "link",
                    "data-key": `row:${i}`,
                    "aria-label": `${describe(g, keys)} Show these calls.`,
                    onclick: () => openGroup(g),
                  },
                  groupLabel(g, keys),
                ),
              ),
              ...columns.map(([, show]) => h("td", { class: "num" }, show(g))),
            ),
          ),
        ),
      ),
    ),
  );
}

/** The chart card; the SVG is drawn once the card is laid out and its width is known. */
function groupsCard(summary) {
  const keys = summary.group_by ?? [];
  if (!keys.length) {
    return h("section", { class: "card" }, h("p", { class: "muted" }, "Not grouped: choose a grouping to see a chart."));
  }
  const groups = summary.groups ?? [];
  const limit = isTimeAxis(keys) || state.allGroups ? groups.length : FIRST_GROUPS;
  const shown = groups.slice(0, limit);
  const holder = h("div", { class: "chart-holder" });
  const selected = shown.indexOf(state.list?.group);
  holder.draw = () =>
    holder.replaceChildren(chart(shown, keys, summary.window, holder.clientWidth, openGroup, selected));
  return h(
    "section",
    { class: "card", "aria-labelledby": "chart-title" },
    h(
      "div",
      { class: "card-head" },
      h("h2", { id: "chart-title" }, `Calls by ${keys.map((k) => GROUP_TITLES[k] ?? k).join(" and ")}`),
      legend(groups),
    ),
    groups.length ? holder : h("p", { class: "empty" }, "No calls in this period."),
    groups.length > limit
      ? h(
          "button",
          { type: "button", class: "ghost", "data-key": "all-groups", onclick: () => ((state.allGroups = true), render()) },
          `Show all ${count(groups.length)}`,
        )
      : null,
    summary.omitted_groups
      ? h("p", { class: "muted" }, `${count(summary.omitted_groups)} more groups were left out by the server.`)
      : null,
    groups.length && interactive() ? h("p", { class: "hint" }, "Select a bar to list its calls.") : null,
    groups.length ? groupsTable(groups, keys) : null,
  );
}

/** The top callers, one row each (no grid to leave a card alone on its row), names in full. */
function callersCard(callers) {
  if (!callers?.length) return null;
  const most = Math.max(1, ...callers.map((c) => c.calls ?? 0));
  return h(
    "section",
    { class: "card callers", "aria-labelledby": "callers-title" },
    h("h2", { id: "callers-title" }, "Top callers"),
    h(
      "ol",
      {},
      ...callers.map((c) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "caller",
              "data-key": `caller:${c.number}`,
              "aria-label": `${caller(c.number, c.name)}: ${count(c.calls)} calls, ${count(c.missed)} missed. Show these calls.`,
              onclick: () => openCaller(c),
            },
            h(
              "span",
              { class: "who" },
              h("span", { class: "name" }, c.name ?? c.number),
              c.name ? h("span", { class: "number" }, c.number) : null,
              h("span", { class: "share", "aria-hidden": "true" }, h("span", { style: `width:${(100 * (c.calls ?? 0)) / most}%` })),
            ),
            h("span", { class: "n" }, `${count(c.calls)} calls`),
            h("span", { class: c.missed ? "n missed" : "n" }, `${count(c.missed)} missed`),
          ),
        ),
      ),
    ),
  );
}

const SORT_NAMES = { time: "time", duration_s: "duration", wait_s: "wait", contact: "contact", from: "caller" };

/** Says what the order covers: all the calls, or only those read so far (with the way to read the rest). */
function sortNote(list) {
  if (!sorted() || !list.rows.length) return null;
  const by = SORT_NAMES[state.sort.key] ?? state.sort.key;
  if (!list.hasMore) {
    return h("p", { class: "muted sort-note" }, `Sorted by ${by}: all ${count(list.rows.length)} calls.`);
  }
  const capped = list.rows.length >= MAX_ROWS;
  return h(
    "p",
    { class: "note sort-note" },
    capped
      ? `Sorted by ${by}: the first ${count(list.rows.length)} calls only (the view reads at most ${count(MAX_ROWS)}). `
      : `Sorted by ${by}: only the ${count(list.rows.length)} calls loaded so far. `,
    capped
      ? null
      : h(
          "button",
          { type: "button", class: "link", "data-key": "load-all", disabled: state.busy, onclick: loadAll },
          list.expected != null ? `Load all ${count(list.expected)} and sort` : "Load all and sort",
        ),
  );
}

const isNarrow = () => {
  const width = root.clientWidth || window.innerWidth;
  return width < NARROW || width <= state.tableOverflowedAt;
};

function listCard(list) {
  const matched = list.keep ? ` matching, out of ${count(list.scanned)} read` : "";
  const expected = list.expected != null ? ` of ${count(list.expected)}` : "";
  const narrow = isNarrow();
  const dates = list.window ? spansDays(list.window) : new Set(list.rows.map((r) => r.time?.slice(0, 10))).size > 1;
  const options = { sort: state.sort, onSort: sortBy, dates, open: state.opened };
  return h(
    "section",
    { class: "card list", id: "calls", "aria-labelledby": "calls-title" },
    h(
      "div",
      { class: "card-head" },
      h("h2", { id: "calls-title", tabindex: -1 }, list.title),
      state.summary
        ? h("button", { type: "button", class: "ghost", "data-key": "close", onclick: closeList }, "Close")
        : null,
    ),
    h(
      "p",
      { class: "muted" },
      `${count(list.rows.length)}${expected} calls${matched}.`,
      narrow ? " Open a call for the rest of it." : " Select a column to sort.",
    ),
    list.note ? h("p", { class: "note" }, list.note) : null,
    sortNote(list),
    list.rows.length
      ? narrow
        ? callCards(list.rows, options)
        : callsTable(list.rows, options)
      : h("p", { class: "empty" }, "No calls."),
    list.hasMore
      ? h(
          "button",
          { type: "button", class: "more", "data-key": "more", disabled: state.busy, onclick: moreCalls },
          "More calls",
        )
      : null,
  );
}

function notes(summary) {
  const text = [summary.complete === false ? "Partial figures: the scan stopped early." : null, summary.note]
    .filter(Boolean)
    .join(" ");
  return text ? h("p", { class: "note" }, text) : null;
}

/** The error in plain words, with what the person can do: try again, dismiss, or change the question above. */
function errorBox(error) {
  const canChange = state.question && interactive();
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", { class: "error-title" }, error.title),
    error.lead ? h("p", { class: "error-text" }, error.lead) : null,
    error.more ? h("details", {}, h("summary", {}, "What the server said"), h("p", {}, error.more)) : null,
    error.retry || !nothingShown() || canChange
      ? h(
          "div",
          { class: "error-actions" },
          error.retry && interactive()
            ? h("button", { type: "button", class: "ghost", "data-key": "retry", onclick: error.retry }, "Try again")
            : null,
          nothingShown() ? null : h("button", { type: "button", class: "ghost", "data-key": "dismiss", onclick: dismiss }, "Dismiss"),
          canChange ? h("span", { class: "muted" }, "Or change the period or a filter above.") : null,
        )
      : null,
  );
}

// --- live calls ---------------------------------------------------------------------------------

/** The live strip's place: kept across renders, redrawn alone when a live call changes (the rest of the
 * view, and what a person is doing in it, stays as it is). */
const liveHolder = h("div", { class: "live-holder" });
const live = liveCalls(
  async (name, args) => {
    const result = await app.callServerTool({ name, arguments: args });
    if (result.isError) throw new Error(textOf(result) || `${name} failed.`);
    return structured(result);
  },
  () => {
    liveHolder.replaceChildren(...[live.view()].filter(Boolean));
    if (!liveHolder.isConnected) render(); // its first answer: the strip takes its place
  },
);
/** The strip, once the server has answered that it has live calls. */
const liveStrip = () => (live.on() ? liveHolder : null);

app.onteardown = async () => {
  live.stop();
  return {};
};

function view() {
  const error = state.error ? errorBox(state.error) : null;
  const s = state.summary;
  if (s) {
    return [
      liveStrip(),
      header(s.window, s.filters),
      error,
      notes(s),
      s.totals ? stats(s.totals) : null,
      groupsCard(s),
      state.list ? listCard(state.list) : null,
      callersCard(s.top_callers),
    ];
  }
  if (state.list) return [liveStrip(), header(state.list.window, state.list.filters), error, listCard(state.list)];
  if (state.question) return [liveStrip(), header(null, null), error]; // a question that failed: its controls, the error
  return [liveStrip(), error ?? h("p", { class: "muted waiting" }, "Waiting for call data…")];
}

function render(focused = document.activeElement?.getAttribute?.("data-key")) {
  root.replaceChildren(...view().filter(Boolean));
  root.setAttribute("aria-busy", String(state.busy));
  for (const holder of root.querySelectorAll(".chart-holder")) holder.draw();
  // the calls table wider than its card: cards instead, at this width and below
  const table = root.querySelector(".list .table-wrap");
  if (table && table.scrollWidth > table.clientWidth + 1) {
    state.tableOverflowedAt = Math.max(state.tableOverflowedAt, root.clientWidth);
    render(focused);
    return;
  }
  if (focused) root.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

let lastWidth = 0;
let wasNarrow = isNarrow();
new ResizeObserver(() => {
  if (root.clientWidth === lastWidth) return;
  lastWidth = root.clientWidth;
  if (isNarrow() !== wasNarrow) {
    wasNarrow = isNarrow();
    render();
  } else {
    for (const holder of root.querySelectorAll(".chart-holder")) holder.draw();
  }
}).observe(root);

render();
app
  .connect()
  .then(() => {
    applyContext(app.getHostContext());
    render();
    if (interactive()) live.start();
  })
  .catch((error) => {
    state.error = failure("Could not connect to the host.", error?.message ?? String(error));
    render();
  });
