// The groups of a summarize_calls result as plain SVG: columns on a time axis for day and hour,
// horizontal bars for everything else. Each bar is stacked by outcome, focusable and clickable.

import { count, day, daysBetween, percent, previousDay } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
export const NONE = "(none)";

/** The outcome segments of a bar, bottom to top. `missed` in the tools counts voicemail too. */
export const SEGMENTS = [
  { key: "answered", label: "Answered", of: (g) => g.answered },
  { key: "missed", label: "Missed", of: (g) => g.missed - (g.voicemail ?? 0) },
  { key: "voicemail", label: "Missed, to voicemail", of: (g) => g.voicemail },
  { key: "other", label: "Outgoing, not answered", of: (g) => g.calls - g.answered - g.missed },
];

/** Whether a row carries the outcome counts (a model may have asked for fewer metrics). */
export const hasOutcomes = (g) => g.answered != null && g.missed != null;

function segmentsOf(g) {
  if (!hasOutcomes(g)) return [{ key: "calls", label: "Calls", value: g.calls ?? 0 }];
  return SEGMENTS.map((s) => ({ key: s.key, label: s.label, value: Math.max(0, s.of(g) ?? 0) }));
}

const NONE_LABELS = {
  employee: "No employee",
  tag: "No tag",
  line: "No line",
  day: "No date",
  hour: "No time",
  weekday: "No date",
};

/** A group value as a person reads it. */
function valueLabel(key, value) {
  if (value === NONE) return NONE_LABELS[key] ?? "None";
  if (key === "day") return day(value);
  if (key === "hour") return `${value}:00`;
  return String(value);
}

export const groupLabel = (g, keys) => keys.map((k) => valueLabel(k, g.group?.[k])).join(" · ");

/** "Mon 23 Nov: 45 calls, 32 answered, 9 missed, 0 voicemail." */
export function describe(g, keys) {
  const parts = [`${count(g.calls)} calls`];
  if (hasOutcomes(g)) {
    const voicemail = g.voicemail ? ` (${count(g.voicemail)} to voicemail)` : "";
    parts.push(`${count(g.answered)} answered`, `${count(g.missed)} missed${voicemail}`);
    if (g.answer_rate != null) parts.push(`answer rate ${percent(g.answer_rate)}`);
  }
  return `${groupLabel(g, keys)}: ${parts.join(", ")}.`;
}

function el(name, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, String(v));
  for (const child of children) if (child != null) node.append(child);
  return node;
}

/** A round step for about four gridlines up to `value`: 1, 2, 5, 10, 20, 50... */
function niceStep(value) {
  const rough = Math.max(1, value / 4);
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

/** The slots of a time axis: every day of the window, or the 24 hours. */
function timeSlots(key, window, groups) {
  if (key === "hour") return Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));
  const values = groups.map((g) => g.group?.day).filter((v) => v && v !== NONE);
  let first = window?.since_local?.slice(0, 10);
  let last = window?.until_local?.slice(0, 10);
  if (last && window.until_local.slice(11, 19) === "00:00:00") last = previousDay(last); // ends at midnight
  const sorted = [...values].sort();
  first = [first, sorted[0]].filter(Boolean).sort()[0];
  last = [last, sorted.at(-1)].filter(Boolean).sort().at(-1);
  return first && last ? daysBetween(first, last) : sorted;
}

/** One bar: a focusable group with a hit area, stacked segments and a tooltip. */
function bar(g, keys, index, box, onOpen, selected) {
  const node = el("g", {
    class: selected ? "bar selected" : "bar",
    "aria-current": selected ? "true" : null,
    role: "button",
    tabindex: selected || (index === 0 && !box.anySelected) ? 0 : -1, // one tab stop; arrows move inside
    "data-index": index,
    "data-key": `bar:${index}`,
    "aria-label": `${describe(g, keys)} Show these calls.`,
  });
  node.append(el("title", {}, `${describe(g, keys)}\nClick to list these calls.`));
  node.append(el("rect", { class: "hit", x: box.hx, y: box.hy, width: box.hw, height: box.hh, rx: 4 }));
  for (const segment of box.segments) node.append(segment);
  node.addEventListener("click", () => onOpen(g));
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onOpen(g);
    }
  });
  return node;
}

/** Arrow keys move between bars; Home/End jump to the ends. */
function roving(svg) {
  svg.addEventListener("keydown", (event) => {
    const bars = [...svg.querySelectorAll(".bar")];
    const at = bars.indexOf(document.activeElement);
    if (at < 0) return;
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1, Home: -Infinity, End: Infinity };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = Math.min(bars.length - 1, Math.max(0, at + moves[event.key]));
    bars[at].setAttribute("tabindex", "-1");
    bars[next].setAttribute("tabindex", "0");
    bars[next].focus();
  });
}

function stack(g, place) {
  let offset = 0;
  return segmentsOf(g)
    .filter((s) => s.value > 0)
    .map((s) => {
      const rect = place(offset, s.value);
      offset += s.value;
      return el("rect", { class: `seg seg-${s.key}`, ...rect, "data-segment": s.key });
    });
}

/** Columns on a time axis (group_by day or hour). */
function columns(groups, keys, window, width, onOpen, selected) {
  const key = keys[0];
  const slots = timeSlots(key, window, groups);
  const at = new Map(slots.map((s, i) => [s, i]));
  const height = 220;
  const m = { top: 12, right: 8, bottom: 30, left: 40 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const slot = plotW / Math.max(1, slots.length);
  const barW = Math.max(2, Math.min(44, slot * 0.72));
  const step = niceStep(Math.max(1, ...groups.map((g) => g.calls ?? 0)));
  const top = step * Math.ceil(Math.max(1, ...groups.map((g) => g.calls ?? 0)) / step);
  const y = (v) => (v / top) * plotH;

  const svg = el("svg", {
    class: "chart columns",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "group",
    "aria-label": `Calls per ${key === "hour" ? "hour of day" : "day"}, stacked by outcome`,
  });
  const axis = el("g", { class: "axis", "aria-hidden": "true" });
  for (let v = 0; v <= top; v += step) {
    const ty = m.top + plotH - y(v);
    axis.append(el("line", { class: v ? "grid" : "base", x1: m.left, x2: width - m.right, y1: ty, y2: ty }));
    axis.append(el("text", { x: m.left - 8, y: ty + 4, "text-anchor": "end" }, count(v)));
  }
  const every = Math.max(1, Math.ceil((key === "day" ? 52 : 30) / slot));
  slots.forEach((s, i) => {
    if (i % every) return;
    const label = key === "day" ? day(s).slice(0, -4) : s;
    const x = m.left + slot * (i + 0.5);
    axis.append(el("text", { x, y: height - m.bottom + 18, "text-anchor": "middle" }, label));
  });
  svg.append(axis);

  const bars = el("g", { class: "bars" });
  groups.forEach((g, index) => {
    const value = g.group?.[key];
    const i = at.has(value) ? at.get(value) : slots.length - 1;
    const cx = m.left + slot * (i + 0.5);
    const box = {
      anySelected: selected >= 0,
      hx: cx - slot / 2 + 1,
      hy: m.top,
      hw: Math.max(2, slot - 2),
      hh: plotH,
      segments: stack(g, (offset, v) => ({
        x: cx - barW / 2,
        y: m.top + plotH - y(offset + v),
        width: barW,
        height: Math.max(1, y(v)),
      })),
    };
    bars.append(bar(g, keys, index, box, onOpen, index === selected));
  });
  svg.append(bars);
  roving(svg);
  return svg;
}

let measure = null;

/** The width of `text` in pixels as the chart's labels draw it (12 px in the page's font). */
function textWidth(text) {
  measure ??= document.createElement("canvas").getContext("2d");
  measure.font = `12px ${getComputedStyle(document.body).fontFamily}`;
  return measure.measureText(text).width;
}

/** `text`, cut with "…" only if it is wider than `room` pixels. */
function fitted(text, room) {
  if (textWidth(text) <= room) return text;
  let cut = text.length;
  while (cut > 1 && textWidth(`${text.slice(0, cut)}…`) > room) cut -= 1;
  return `${text.slice(0, cut).trimEnd()}…`;
}

/** Horizontal bars, one row per group, the count at the end of each. */
function rows(groups, keys, width, onOpen, selected) {
  const rowH = 30;
  const labels = groups.map((g) => groupLabel(g, keys));
  const longest = Math.max(...labels.map(textWidth));
  const labelW = Math.min(Math.round(width * 0.38), Math.max(64, Math.ceil(longest) + 14));
  const narrow = width < 560;
  const valueW = narrow ? 84 : 150;
  const plotW = Math.max(40, width - labelW - valueW);
  const height = groups.length * rowH + 4;
  const top = Math.max(1, ...groups.map((g) => g.calls ?? 0));
  const x = (v) => (v / top) * plotW;

  const svg = el("svg", {
    class: "chart rows",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "group",
    "aria-label": `Calls per ${keys.join(" and ")}, stacked by outcome`,
  });
  groups.forEach((g, index) => {
    const ty = index * rowH + 2;
    const box = {
      anySelected: selected >= 0,
      hx: 0,
      hy: ty,
      hw: width,
      hh: rowH - 2,
      segments: stack(g, (offset, v) => ({
        x: labelW + x(offset),
        y: ty + 6,
        width: Math.max(1, x(v)),
        height: rowH - 14,
      })),
    };
    const node = bar(g, keys, index, box, onOpen, index === selected);
    const label = labels[index];
    node.append(
      el("text", { class: "label", x: labelW - 10, y: ty + rowH / 2 + 3, "text-anchor": "end" }, fitted(label, labelW - 12)),
    );
    const rate = g.answer_rate != null ? ` · ${percent(g.answer_rate)}${narrow ? "" : " answered"}` : "";
    node.append(
      el("text", { class: "value", x: labelW + x(g.calls ?? 0) + 8, y: ty + rowH / 2 + 3 }, `${count(g.calls)}${rate}`),
    );
    svg.append(node);
  });
  roving(svg);
  return svg;
}

export const isTimeAxis = (keys) => keys.length === 1 && (keys[0] === "day" || keys[0] === "hour");

/** The chart for `groups` (rows of summarize_calls) grouped by `keys`, `width` pixels wide; the bar at
 * index `selected` is marked as the one whose calls are listed. */
export function chart(groups, keys, window, width, onOpen, selected = -1) {
  return isTimeAxis(keys)
    ? columns(groups, keys, window, width, onOpen, selected)
    : rows(groups, keys, width, onOpen, selected);
}
