"""Plain-language questions about the simulator's seeded data (seed 7, 5000 calls ending at 2026-11-28
10:00 Paris time), each with the tool calls a good model would make and the expected answer.

`tests/test_questions.py` makes those calls through a real MCP client and checks the answer against a
brute-force count over the simulator's raw data (`evals/oracle.py`). `evals/run_llm.py` asks a real
model the same questions and scores its final answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .oracle import Oracle

Results = list[dict[str, Any]]
Step = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Question:
    ask: str
    steps: list[Step]
    answer: Callable[[Results], Any]  # reads the answer out of the tool results, in order
    expected: Callable[[Oracle, dict[str, Any]], Any]  # the same answer, by brute force
    params: Callable[[Oracle], dict[str, Any]] = field(default=lambda oracle: {})

    def render(self, oracle: Oracle) -> tuple[str, list[Step], dict[str, Any]]:
        """The question and its steps with `{placeholders}` filled from `params`."""
        values = self.params(oracle)
        return self.ask.format(**values), [(tool, _fill(args, values)) for tool, args in self.steps], values


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in values:
            return values[value[1:-1]]
        return value.format(**values)
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def totals(step: int = 0, metric: str = "calls") -> Callable[[Results], Any]:
    return lambda results: results[step]["totals"][metric]


def top_group(step: int = 0, key: str = "line", skip: str = "(none)") -> Callable[[Results], Any]:
    """The group with the most calls (groups come largest first for non-time keys)."""

    def read(results: Results) -> Any:
        groups = [g for g in results[step]["groups"] if g["group"][key] != skip]
        return max(groups, key=lambda g: g["calls"])["group"][key]

    return read


def group_metric(value: str, key: str, metric: str = "calls", step: int = 0) -> Callable[[Results], Any]:
    def read(results: Results) -> Any:
        return next((g[metric] for g in results[step]["groups"] if g["group"][key] == value), 0)

    return read


def rate(part: int, whole: int) -> float:
    return round(part / whole, 3)


QUESTIONS: list[Question] = [
    # --- counting over windows -------------------------------------------------------------------------
    Question(
        "How many calls did we miss on the Sales line last week?",
        [("summarize_calls", {"since": "last_week", "line": "Sales"})],
        totals(metric="missed"),
        lambda o, p: o.missed(o.select("last_week", line="Sales")),
    ),
    Question(
        "How many calls did we have yesterday, all lines together?",
        [("summarize_calls", {"since": "yesterday"})],
        totals(),
        lambda o, p: o.count("yesterday"),
    ),
    Question(
        "How many voicemails have we received this week?",
        [("summarize_calls", {"since": "this_week", "call_types": ["voicemail"]})],
        totals(),
        lambda o, p: o.count("this_week", types=["voicemail"]),
    ),
    Question(
        "How many calls came in over the last 24 hours without being answered?",
        [("summarize_calls", {"since": "24h"})],
        totals(metric="missed"),
        lambda o, p: o.missed(o.select("24h")),
    ),
    Question(
        "How many calls did we answer in the last 7 days?",
        [("summarize_calls", {"since": "last_7_days"})],
        totals(metric="answered"),
        lambda o, p: o.answered(o.select("last_7_days")),
    ),
    Question(
        "How many outgoing calls did we make last month?",
        [("summarize_calls", {"since": "last_month", "call_types": ["outgoing"]})],
        totals(),
        lambda o, p: o.count("last_month", types=["outgoing"]),
    ),
    Question(
        "How many calls did we get on Friday 20 November 2026?",
        [("summarize_calls", {"since": "2026-11-20"})],
        totals(),
        lambda o, p: o.count("2026-11-20"),
    ),
    Question(
        "How many calls were there from 2 to 6 November 2026, inclusive?",
        [("summarize_calls", {"since": "2026-11-02", "until": "2026-11-06"})],
        totals(),
        lambda o, p: o.count((o.window("2026-11-02")[0], o.window("2026-11-06")[1])),
    ),
    Question(
        "How many calls have there been so far today?",
        [("summarize_calls", {"since": "today"})],
        totals(),
        lambda o, p: o.count("today"),
    ),
    Question(
        "How many calls did the Sales Germany line receive last week?",
        [
            (
                "summarize_calls",
                {"since": "last_week", "line": "germany", "call_types": ["inbound", "missed", "voicemail"]},
            )
        ],
        totals(),
        lambda o, p: len(o.inbound(o.select("last_week", line="Sales Germany"))),
    ),
    Question(
        "How many missed calls did Reception have yesterday?",
        [("summarize_calls", {"since": "yesterday", "line": "Reception", "call_types": ["missed", "voicemail"]})],
        totals(),
        lambda o, p: o.missed(o.select("yesterday", line="Reception")),
    ),
    Question(
        "How many calls tagged VIP did we have in the last 90 days?",
        [("summarize_calls", {"since": "last_90_days", "tags": ["VIP"]})],
        totals(),
        lambda o, p: o.count("last_90_days", tag="VIP"),
    ),
    Question(
        "How many Complaint calls did Support get this month?",
        [("summarize_calls", {"since": "this_month", "line": "Support", "tags": ["complaint"]})],
        totals(),
        lambda o, p: o.count("this_month", line="Support", tag="Complaint"),
    ),
    Question(
        "How many outgoing calls did Marie Dupont make this month?",
        [("summarize_calls", {"since": "this_month", "employees": ["Marie Dupont"], "call_types": ["outgoing"]})],
        totals(),
        lambda o, p: o.count("this_month", employee="Marie Dupont", types=["outgoing"]),
    ),
    Question(
        "How many outgoing calls last week were not answered by the other side (no answer)?",
        [("summarize_calls", {"since": "last_week", "call_types": ["outgoing"], "group_by": ["status"]})],
        group_metric("NOANSWER", "status"),
        lambda o, p: o.count("last_week", types=["outgoing"], status="NOANSWER"),
    ),
    # --- rates, durations, waits ------------------------------------------------------------------------
    Question(
        "What share of incoming calls did we miss last month?",
        [("summarize_calls", {"since": "last_month"})],
        totals(metric="missed_rate"),
        lambda o, p: rate(o.missed(o.select("last_month")), len(o.inbound(o.select("last_month")))),
    ),
    Question(
        "What fraction of the Sales line's calls were answered last month?",
        [("summarize_calls", {"since": "last_month", "line": "Sales"})],
        totals(metric="answer_rate"),
        lambda o, p: rate(o.answered(o.select("last_month", line="Sales")), o.count("last_month", line="Sales")),
    ),
    Question(
        "How many seconds did we spend talking on the phone yesterday?",
        [("summarize_calls", {"since": "yesterday"})],
        totals(metric="total_duration_s"),
        lambda o, p: o.talk(o.select("yesterday")),
    ),
    Question(
        "What was the average ringing time of incoming Support calls last week, in seconds?",
        [("summarize_calls", {"since": "last_week", "line": "Support"})],
        totals(metric="avg_wait_s"),
        lambda o, p: round(
            sum(c["wait_time"] for c in o.inbound(o.select("last_week", line="Support")))
            / len(o.inbound(o.select("last_week", line="Support"))),
            1,
        ),
    ),
    Question(
        "What was the average length of an answered call this month, in seconds?",
        [("summarize_calls", {"since": "this_month"})],
        totals(metric="avg_duration_s"),
        lambda o, p: round(o.talk(o.select("this_month")) / o.answered(o.select("this_month")), 1),
    ),
    # --- rankings ---------------------------------------------------------------------------------------
    Question(
        "Who called us most this month?",
        [("summarize_calls", {"since": "this_month", "top_callers": 1})],
        lambda r: r[0]["top_callers"][0]["number"],
        lambda o, p: o.most(o.inbound(o.select("this_month")), lambda c: c["caller_number"])[0],
    ),
    Question(
        "How many times did our most frequent caller of the last 90 days call, and how often did we miss them?",
        [("summarize_calls", {"since": "last_90_days", "top_callers": 1})],
        lambda r: (r[0]["top_callers"][0]["calls"], r[0]["top_callers"][0]["missed"]),
        lambda o, p: (
            lambda number: (
                len(o.inbound(o.select("last_90_days", number=number))),
                o.missed(o.select("last_90_days", number=number)),
            )
        )(o.most(o.inbound(o.select("last_90_days")), lambda c: c["caller_number"])[0]),
    ),
    Question(
        "Which line had the most calls last week?",
        [("summarize_calls", {"since": "last_week", "group_by": ["line"]})],
        top_group(key="line"),
        lambda o, p: o.most(o.select("last_week"), lambda c: c["phone_name"])[0],
    ),
    Question(
        "Which line missed the most calls last month?",
        [("summarize_calls", {"since": "last_month", "group_by": ["line"], "call_types": ["missed", "voicemail"]})],
        top_group(key="line"),
        lambda o, p: o.most(o.select("last_month", types=["missed", "voicemail"]), lambda c: c["phone_name"])[0],
    ),
    Question(
        "At what hour of the day do we get the most calls (this month)?",
        [("summarize_calls", {"since": "this_month", "group_by": ["hour"]})],
        lambda r: max(r[0]["groups"], key=lambda g: (g["calls"], -int(g["group"]["hour"])))["group"]["hour"],
        lambda o, p: f"{o.most(o.select('this_month'), o.local_hour)[0]:02d}",
    ),
    Question(
        "Which weekday is the busiest over the last 30 days?",
        [("summarize_calls", {"since": "last_30_days", "group_by": ["weekday"]})],
        lambda r: max(r[0]["groups"], key=lambda g: g["calls"])["group"]["weekday"],
        lambda o, p: o.most(o.select("last_30_days"), o.local_weekday)[0],
    ),
    Question(
        "Which employee answered the most incoming calls last month?",
        [("summarize_calls", {"since": "last_month", "group_by": ["employee"], "call_types": ["inbound"]})],
        top_group(key="employee"),
        lambda o, p: o.most(o.select("last_month", types=["inbound"]), lambda c: c["employee_name"])[0],
    ),
    Question(
        "Which tag was used most this month?",
        [("summarize_calls", {"since": "this_month", "group_by": ["tag"]})],
        top_group(key="tag"),
        lambda o, p: o.most([t for c in o.select("this_month") for t in c["tags"]], lambda t: t["name"])[0],
    ),
    Question(
        "Which employee had the longest average call last month?",
        [("summarize_calls", {"since": "last_month", "group_by": ["employee"]})],
        lambda r: max(
            (g for g in r[0]["groups"] if g["group"]["employee"] != "(none)" and g.get("avg_duration_s")),
            key=lambda g: g["avg_duration_s"],
        )["group"]["employee"],
        lambda o, p: max(
            {c["employee_name"] for c in o.select("last_month") if c["employee_name"]},
            key=lambda name: (
                o.talk(o.select("last_month", employee=name))
                / max(1, o.answered(o.select("last_month", employee=name)))
            ),
        ),
    ),
    Question(
        "How many calls did each line get yesterday? Give me Support's number.",
        [("summarize_calls", {"since": "yesterday", "group_by": ["line"]})],
        group_metric("Support", "line"),
        lambda o, p: o.count("yesterday", line="Support"),
    ),
    Question(
        "How many calls did we miss on Monday of last week?",
        [("summarize_calls", {"since": "last_week", "group_by": ["day"], "call_types": ["missed", "voicemail"]})],
        group_metric("2026-11-16", "day"),
        lambda o, p: o.count("2026-11-16", types=["missed", "voicemail"]),
    ),
    Question(
        "On the Sales line last week, how many calls were missed on each day? Give Friday's count.",
        [("summarize_calls", {"since": "last_week", "line": "Sales", "group_by": ["weekday", "call_type"]})],
        lambda r: sum(
            g["calls"]
            for g in r[0]["groups"]
            if g["group"]["weekday"] == "Fri" and g["group"]["call_type"] in ("missed", "voicemail")
        ),
        lambda o, p: o.count("2026-11-20", line="Sales", types=["missed", "voicemail"]),
    ),
    Question(
        "In New York time, how many calls happened yesterday?",
        [("summarize_calls", {"since": "yesterday", "timezone": "America/New_York"})],
        totals(),
        lambda o, p: o.in_zone("America/New_York").count("yesterday"),
    ),
    # --- finding calls ----------------------------------------------------------------------------------
    Question(
        "When did {number_text} last call us?",
        [("list_calls", {"number": "{number_text}", "since": "last_90_days", "limit": 1, "fields": ["time"]})],
        lambda r: r[0]["calls"][0]["id"],
        lambda o, p: max(c["id"] for c in o.select("last_90_days", number=p["number"])),
        params=lambda o: (
            lambda number: {
                "number": number,
                "number_text": "0" + " ".join([number[3], *[number[i : i + 2] for i in range(4, 12, 2)]]),
            }
        )(o.most(o.inbound(o.select("last_90_days")), lambda c: c["caller_number"])[0]),
    ),
    Question(
        "Show yesterday's missed calls: which was the most recent?",
        [("list_calls", {"since": "yesterday", "call_types": ["missed", "voicemail"], "limit": 1})],
        lambda r: r[0]["calls"][0]["id"],
        lambda o, p: max(c["id"] for c in o.select("yesterday", types=["missed", "voicemail"])),
    ),
    Question(
        "List the five most recent calls on Billing: what are their ids?",
        [("list_calls", {"line": "Billing", "since": "last_90_days", "limit": 5, "fields": ["time"]})],
        lambda r: [row["id"] for row in r[0]["calls"]],
        lambda o, p: sorted((c["id"] for c in o.select("last_90_days", line="Billing")), reverse=True)[:5],
    ),
    Question(
        "Who answered the most recent incoming VIP call?",
        [("list_calls", {"tags": ["VIP"], "call_types": ["inbound"], "since": "last_90_days", "limit": 1})],
        lambda r: r[0]["calls"][0]["employee"],
        lambda o, p: max(o.select("last_90_days", tag="VIP", types=["inbound"]), key=lambda c: c["id"])[
            "employee_name"
        ],
    ),
    Question(
        "How long was call {call_id}, and who took it?",
        [("get_call", {"call_id": "{call_id}"})],
        lambda r: (r[0]["call"]["duration_s"], r[0]["call"]["employee"]),
        lambda o, p: (p["call"]["duration"], p["call"]["employee_name"]),
        params=lambda o: (lambda call: {"call": call, "call_id": str(call["id"])})(
            max(o.select("last_week", types=["inbound"]), key=lambda c: c["duration"])
        ),
    ),
    Question(
        "Which tags does call {call_id} carry?",
        [("get_call", {"call_id": "{call_id}"})],
        lambda r: sorted(r[0]["call"]["tags"]),
        lambda o, p: sorted(t["name"] for t in p["call"]["tags"]),
        params=lambda o: (lambda call: {"call": call, "call_id": str(call["id"])})(
            max((c for c in o.select("last_month") if len(c["tags"]) == 2), key=lambda c: c["id"])
        ),
    ),
    # --- lines, tags, account ---------------------------------------------------------------------------
    Question(
        "What is the extension of the Billing line?",
        [("get_phone", {"line": "billing"})],
        lambda r: r[0]["internal_number"],
        lambda o, p: p["phone"]["internal_number"],
        params=lambda o: {"phone": o.phones["Billing"]},
    ),
    Question(
        "Which lines record incoming calls?",
        [("list_phones", {})],
        lambda r: sorted(line["name"] for line in r[0]["lines"] if line.get("recording") in ("inbound", "both")),
        lambda o, p: sorted(name for name, ph in o.phones.items() if ph["record_setting"]["record_inbound_call"]),
    ),
    Question(
        "Can callers leave a voicemail on the Support line?",
        [("get_phone", {"line": "Support"})],
        lambda r: r[0]["voicemail_setting"]["allow_voicemail"],
        lambda o, p: o.phones["Support"]["voicemail_setting"]["allow_voicemail"],
    ),
    Question(
        "Which lines are not active?",
        [("list_phones", {})],
        lambda r: sorted(line["name"] for line in r[0]["lines"] if line["status"] != "active"),
        lambda o, p: sorted(name for name, ph in o.phones.items() if ph["status"] != "active"),
    ),
    Question(
        "What colour is the VIP tag?",
        [("list_tags", {})],
        lambda r: next(t["color"] for t in r[0]["tags"] if t["name"] == "VIP"),
        lambda o, p: next(t["color"] for t in o.tags if t["name"] == "VIP"),
    ),
    Question(
        "How many tags do we have?",
        [("list_tags", {})],
        lambda r: len(r[0]["tags"]),
        lambda o, p: len(o.tags),
    ),
    Question(
        "What is the company name on our SIPSIM account?",
        [("get_account", {})],
        lambda r: r[0]["account"]["company_name"],
        lambda o, p: o.account["company_name"],
    ),
    Question(
        "Which webhook events are switched on?",
        [("list_webhook_events", {})],
        lambda r: sorted(e["event"] for e in r[0]["events"] if e["enabled"]),
        lambda o, p: sorted(o.webhooks),
    ),
    Question(
        "What does the caller say first in the transcript of call {call_id}?",
        [("get_transcription", {"call_id": "{call_id}"})],
        lambda r: next(line["text"] for line in r[0]["lines"] if line["speaker"] == "caller"),
        lambda o, p: next(seg["text"] for seg in p["segments"] if seg["channel"] == 0),
        params=lambda o: (lambda call_id: {"call_id": str(call_id), "segments": o.transcriptions[call_id]["payload"]})(
            max(o.transcriptions)
        ),
    ),
]
