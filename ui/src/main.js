// The calls dashboard: draws the summarize_calls or list_calls result the host sends, and asks the
// server (through the host) for another grouping, another period, or the calls behind a bar.

import { App, applyDocumentTheme, applyHostFonts, applyHostStyleVariables } from "@modelcontextprotocol/ext-apps";
import { SEGMENTS, chart, describe, groupLabel, hasOutcomes, isTimeAxis } from "./chart.js";
import { h } from "./dom.js";
import { caller, count, duration, percent, windowText } from "./format.js";
import {
  ENOUGH_ROWS,
  GROUPINGS,
  MAX_PAGES_PER_LOOK,
  OTHER_GROUPINGS,
  PERIODS,
  callerQuery,
  listQuery,
  overPeriod,
  regrouped,
  sliceQuery,
  summaryQuery,
} from "./queries.js";
import { callsTable } from "./table.js";

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
const FILTER_LABELS = {
  call_types: "Types",
  line: "Line",
  employees: "Employees",
  tags: "Tags",
  number: "Number",
  search: "Search",
};

const root = document.getElementById("root");
const status = document.getElementById("status");
const app = new App({ name: "sipsim-calls-dashboard", version: "1.0.0" });

const state = {
  args: null, // arguments of the tool call the host showed
  summary: null, // the summarize_calls result on screen
  query: null, // the summarize_calls arguments that produced it
  list: null, // calls on screen: { title, args, keep, rows, page, hasMore, scanned, window, filters }
  sort: { key: "time", dir: "desc" },
  allGroups: false,
  numbersOpen: false,
  busy: false,
  error: null,
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

/** Call a read tool through the host; null (and the error on screen) when it fails. */
async function ask(name, args, what) {
  if (!interactive()) {
    state.error = "This host does not let the dashboard ask the server for more: ask in the chat instead.";
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
    state.error = error?.message ?? String(error);
    say(state.error);
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

// --- what the person does -----------------------------------------------------------------------

async function showSummary(query, what) {
  const summary = await ask("summarize_calls", query, what);
  if (summary) {
    Object.assign(state, { summary, query, list: null, allGroups: false });
    const keys = summary.group_by ?? [];
    say(`Showing ${count(summary.totals?.calls)} calls${keys.length ? ` by ${keys.join(" and ")}` : ""}.`);
    share(`The user is viewing the calls dashboard: ${summaryText(summary)}`);
  }
  render();
}

const regroup = (key) => key && showSummary(regrouped(state.query, key), `calls by ${GROUP_TITLES[key] ?? key}`);
const changePeriod = (period) => period && showSummary(overPeriod(state.query, period), "the new period");

async function openList(title, { args, keep }, expected, group = null) {
  state.list = { title, args, keep, rows: [], page: null, hasMore: false, scanned: 0, expected, group };
  state.sort = { key: "time", dir: "desc" };
  await fetchMore();
  const heading = document.getElementById("calls-title");
  heading?.scrollIntoView?.({ block: "nearest" });
  heading?.focus();
}

function openGroup(group) {
  const keys = state.summary.group_by ?? [];
  const label = groupLabel(group, keys);
  share(`The user opened the calls of ${label} (${count(group.calls)} calls).`);
  return openList(`Calls: ${label}`, sliceQuery(state.query, state.summary, group), group.calls, group);
}

function openCaller(top) {
  return openList(`Calls with ${caller(top.number, top.name)}`, callerQuery(state.query, state.summary, top.number));
}

/** Next page(s) of the list on screen; with a row check, reads on until a screenful matched. */
async function fetchMore() {
  const list = state.list;
  const before = list.rows.length;
  let pages = 0;
  do {
    const page = await ask("list_calls", list.page ? { ...list.args, page: list.page } : list.args, "calls");
    if (!page || state.list !== list) break;
    const rows = page.calls ?? [];
    list.scanned += rows.length;
    list.rows.push(...(list.keep ? rows.filter(list.keep) : rows));
    list.page = page.page ?? null;
    list.hasMore = Boolean(page.has_more && page.page);
    list.window ??= page.window;
    list.filters ??= page.filters;
    list.note = page.note ?? null;
    pages += 1;
  } while (list.keep && list.hasMore && list.rows.length - before < ENOUGH_ROWS && pages < MAX_PAGES_PER_LOOK);
  if (state.list === list && !state.error) say(`${count(list.rows.length)} calls listed.`);
  render();
}

function sortBy(key) {
  const same = state.sort.key === key;
  state.sort = { key, dir: same && state.sort.dir === "desc" ? "asc" : same ? "desc" : key === "time" ? "desc" : "asc" };
  render();
}

function closeList() {
  state.list = null;
  render();
  root.querySelector('.bar[tabindex="0"]')?.focus();
}

// --- what the host sends ------------------------------------------------------------------------

app.ontoolinput = ({ arguments: args }) => {
  state.args = args ?? null;
};

app.ontoolresult = (result) => {
  const data = structured(result);
  state.error = result.isError ? textOf(result) || "The tool failed." : null;
  if (data?.totals) {
    Object.assign(state, { summary: data, query: summaryQuery(state.args, data), list: null });
  } else if (Array.isArray(data?.calls)) {
    state.summary = null;
    state.list = {
      title: "Call list",
      args: listQuery(state.args, data),
      keep: null,
      rows: [...data.calls],
      page: data.page ?? null,
      hasMore: Boolean(data.has_more && data.page),
      scanned: data.calls.length,
      window: data.window,
      filters: data.filters,
      note: data.note ?? null,
    };
  } else if (!state.error) {
    state.error = "This result is not one the calls dashboard can draw.";
  }
  render();
};

app.ontoolcancelled = () => {
  state.error = "The request was cancelled.";
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

function filterChips(filters) {
  const chips = Object.entries(filters ?? {})
    .filter(([, v]) => v != null && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => h("li", { class: "chip" }, `${FILTER_LABELS[k] ?? k}: ${Array.isArray(v) ? v.join(", ") : v}`));
  return chips.length ? h("ul", { class: "chips", "aria-label": "Filters" }, ...chips) : null;
}

function header(title, window, filters, controls) {
  return h(
    "header",
    { class: "head" },
    h(
      "div",
      { class: "title" },
      h("h1", {}, title),
      h(
        "p",
        { class: "window" },
        windowText(window),
        window?.timezone ? h("span", { class: "zone" }, ` · ${window.timezone}`) : null,
      ),
      filterChips(filters),
    ),
    controls,
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

function controls() {
  const keys = state.summary.group_by ?? [];
  const current = keys.length === 1 ? keys[0] : "";
  const groupings = [...GROUPINGS];
  if (current && !groupings.some(([k]) => k === current)) groupings.push([current, OTHER_GROUPINGS[current] ?? current]);
  if (!current) groupings.unshift(["", keys.length ? keys.map((k) => GROUP_TITLES[k] ?? k).join(" + ") : "None"]);
  const since = state.query?.until ? null : state.query?.since;
  const period = PERIODS.some(([p]) => p === since) ? since : "";
  const periods = period ? PERIODS : [["", "As asked"], ...PERIODS];
  return h(
    "div",
    { class: "controls" },
    select("period", "Period", periods, period, changePeriod),
    select("group-by", "Group by", groupings, current, regroup),
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

function groupsTable(groups, keys) {
  const columns = [
    ["Calls", (g) => count(g.calls)],
    ["Answered", (g) => count(g.answered)],
    ["Missed", (g) => count(g.missed)],
    ["Voicemail", (g) => count(g.voicemail)],
    ["Answer rate", (g) => percent(g.answer_rate)],
    ["Avg wait", (g) => duration(g.avg_wait_s)],
    ["Talk time", (g) => duration(g.total_duration_s)],
  ];
  return h(
    "details",
    { class: "numbers", open: state.numbersOpen, ontoggle: (e) => (state.numbersOpen = e.target.open) },
    h("summary", { "data-key": "numbers" }, `Numbers for each ${keys.map((k) => GROUP_TITLES[k] ?? k).join(" and ")}`),
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
            h("th", { scope: "col" }, keys.map((k) => GROUP_TITLES[k] ?? k).join(" · ")),
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

function callersCard(callers) {
  if (!callers?.length) return null;
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
            { type: "button", class: "caller", "data-key": `caller:${c.number}`, onclick: () => openCaller(c) },
            h("span", { class: "who" }, h("span", { class: "name" }, c.name ?? c.number), c.name ? h("span", { class: "number" }, c.number) : null),
            h("span", { class: "n" }, `${count(c.calls)} calls`),
            h("span", { class: c.missed ? "n missed" : "n" }, `${count(c.missed)} missed`),
          ),
        ),
      ),
    ),
  );
}

function listCard(list) {
  const matched = list.keep ? ` matching, out of ${count(list.scanned)} read` : "";
  const expected = list.expected != null ? ` of ${count(list.expected)}` : "";
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
    h("p", { class: "muted" }, `${count(list.rows.length)}${expected} calls${matched}. Select a column to sort.`),
    list.note ? h("p", { class: "note" }, list.note) : null,
    list.rows.length ? callsTable(list.rows, state.sort, sortBy) : h("p", { class: "empty" }, "No calls."),
    list.hasMore
      ? h(
          "button",
          { type: "button", class: "more", "data-key": "more", disabled: state.busy, onclick: fetchMore },
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

function view() {
  const error = state.error ? h("p", { class: "error", role: "alert" }, state.error) : null;
  const s = state.summary;
  if (s) {
    return [
      header("Calls", s.window, s.filters, controls()),
      error,
      notes(s),
      s.totals ? stats(s.totals) : null,
      groupsCard(s),
      state.list ? listCard(state.list) : null,
      callersCard(s.top_callers),
    ];
  }
  if (state.list) {
    const display = displayButton();
    return [
      header("Calls", state.list.window, state.list.filters, display && h("div", { class: "controls" }, display)),
      error,
      listCard(state.list),
    ];
  }
  return [error ?? h("p", { class: "muted waiting" }, "Waiting for call data…")];
}

function render() {
  const focused = document.activeElement?.getAttribute?.("data-key");
  root.replaceChildren(...view().filter(Boolean));
  root.setAttribute("aria-busy", String(state.busy));
  for (const holder of root.querySelectorAll(".chart-holder")) holder.draw();
  if (focused) root.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

let lastWidth = 0;
new ResizeObserver(() => {
  if (root.clientWidth !== lastWidth) {
    lastWidth = root.clientWidth;
    for (const holder of root.querySelectorAll(".chart-holder")) holder.draw();
  }
}).observe(root);

render();
app
  .connect()
  .then(() => {
    applyContext(app.getHostContext());
    render();
  })
  .catch((error) => {
    state.error = `Could not connect to the host: ${error?.message ?? error}`;
    render();
  });
