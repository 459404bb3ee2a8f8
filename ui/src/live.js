// The live strip: calls ringing or in progress now, and the calls of the last 10 minutes, from the events
// SIPSIM's webhooks deliver to the server. A view cannot subscribe to resources through its host (MCP Apps
// gives it tools/call and resources/read, not resources/subscribe or their notifications), so the strip
// long-polls recent_call_events through the host: each call waits on the server (up to 25 s) and answers
// as soon as an event arrives, then the next call asks for what came after its cursor.

import { h } from "./dom.js";

export const LIVE_TOOL = "recent_call_events";
const WAIT_S = 25;
const WINDOW_MS = 10 * 60 * 1000;
const SHOWN = 5;
const ENDS = new Set(["incoming_call_end", "outgoing_call_end"]);
const OUTCOMES = { ANSWER: "answered", MISSED: "missed", NOANSWER: "no answer", BUSY: "busy" };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const hhmm = (iso) => (iso ? iso.slice(11, 16) : "–");
const who = (call) => (call.caller_name ? `${call.caller_name} (${call.from})` : (call.from ?? call.to ?? "–"));

/** Seconds as "42 s" or "3 min 5 s". */
function talk(seconds) {
  if (seconds == null) return "";
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min${seconds % 60 ? ` ${seconds % 60} s` : ""}`;
}

/** What a call ending says, for a person. */
function ended(event) {
  const outcome = OUTCOMES[event.status] ?? (event.status ? event.status.toLowerCase() : "ended");
  const length = event.status === "ANSWER" && event.duration_s ? `, ${talk(event.duration_s)}` : "";
  return `${event.event.startsWith("outgoing") ? "outgoing, " : ""}${outcome}${length}`;
}

/**
 * Follows the live calls through `call(name, args)` (the host's tools/call; it throws or answers isError on
 * failure) and calls `changed()` after each change. Until its first answer it draws nothing; a server
 * without live calls (no webhook receiver) keeps it hidden.
 */
export function liveCalls(call, changed) {
  const live = { on: false, calls: [], done: [], cursor: null, problem: null, stopped: false };

  function take(answer) {
    live.on = true;
    live.problem = null;
    live.calls = answer.live ?? [];
    live.cursor = answer.cursor ?? live.cursor;
    const ends = (answer.events ?? []).filter((e) => ENDS.has(e.event));
    const known = new Map([...live.done, ...ends].map((e) => [e.call ?? e.time, e]));
    const all = [...known.values()].sort((a, b) => (a.time < b.time ? 1 : -1));
    const newest = Date.parse(all[0]?.time ?? "") || 0;
    live.done = all.filter((e) => newest - Date.parse(e.time) <= WINDOW_MS);
  }

  async function follow() {
    let pause = 1000;
    while (!live.stopped) {
      const first = live.cursor == null;
      const args = first ? { since: "10m" } : { since: live.cursor, wait_s: WAIT_S };
      try {
        take(await call(LIVE_TOOL, args));
        pause = 1000;
      } catch (error) {
        if (first && !live.on) return; // no live calls on this server: no strip
        live.problem = String(error?.message ?? error);
        changed();
        await sleep(pause);
        pause = Math.min(pause * 2, 30000);
        continue;
      }
      changed();
    }
  }

  return {
    start: () => follow(),
    stop: () => {
      live.stopped = true;
    },
    on: () => live.on,
    view: () => (live.on ? strip(live) : null),
  };
}

function callRow(c) {
  const state =
    c.state === "in_progress"
      ? `on a call${c.answered_by ? ` with ${c.answered_by}` : ""}`
      : c.state === "stale"
        ? "no end received"
        : "ringing";
  return h(
    "li",
    { class: `live-call ${c.state}`, "data-call": c.call },
    h("span", { class: "live-state" }, state),
    h("span", { class: "live-who" }, c.direction === "outgoing" ? `to ${c.to ?? "–"}` : who(c)),
    h("span", { class: "live-where muted" }, `${c.line ?? "–"} · since ${hhmm(c.answered_at ?? c.since)}`),
  );
}

function doneRow(e) {
  const missed = e.status && e.status !== "ANSWER";
  return h(
    "li",
    { class: `live-done${missed ? " missed" : ""}`, "data-call": e.call },
    h("span", { class: "live-time muted" }, hhmm(e.time)),
    h("span", { class: "live-who" }, e.event.startsWith("outgoing") ? `to ${e.to ?? "–"}` : who(e)),
    h("span", { class: "live-where muted" }, `${e.line ?? "–"} · ${ended(e)}`),
  );
}

function list(rows, draw, more) {
  const extra = rows.length - SHOWN;
  return h("ul", { class: "live-list" }, rows.slice(0, SHOWN).map(draw), extra > 0 ? h("li", { class: "muted" }, `+${extra} ${more}`) : null);
}

function strip(live) {
  const ringing = live.calls.filter((c) => c.state === "ringing").length;
  const title = live.calls.length
    ? `${ringing} ringing, ${live.calls.length - ringing} on a call`
    : "No call right now";
  return h(
    "section",
    { class: "card live", "aria-label": "Live calls", "aria-live": "polite" },
    h("div", { class: "card-head" }, h("h2", {}, h("span", { class: "live-dot", "aria-hidden": "true" }), "Live: ", title)),
    live.calls.length ? list(live.calls, callRow, "more live") : null,
    live.done.length
      ? [h("h3", { class: "live-sub" }, "Last 10 minutes"), list(live.done, doneRow, "more")]
      : null,
    live.problem ? h("p", { class: "note" }, "Live calls paused; trying again…") : null,
  );
}
