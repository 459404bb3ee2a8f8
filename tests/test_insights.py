"""summarize_calls against a brute-force count over the simulator's data, for many group-bys; the
scan cap reported; progress sent while it pages; names, numbers and windows as people say them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from evals.oracle import Oracle
from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.mcp.server import build_server
from sipsim_mcp.tools.insights import TopCounter
from sipsim_mcp.tools.scan import AppliedFilters, CallQuery, Scan

from .conftest import NOW, settings_for
from .mcp_helpers import MODES, connect, data, error_text

pytestmark = pytest.mark.anyio

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def brute_force(oracle: Oracle, calls: list[dict[str, Any]], group_by: list[str]) -> dict[tuple, dict[str, int]]:
    """Counts per group, computed the slow obvious way."""

    def values(call: dict[str, Any], key: str) -> list[str]:
        if key == "tag":
            return [t["name"] for t in call["tags"]] or ["(none)"]
        if key == "line":
            return [call["phone_name"]]
        if key == "employee":
            return [call["employee_name"] or "(none)"]
        if key == "day":
            return [oracle.local_day(call)]
        if key == "weekday":
            return [oracle.local_weekday(call)]
        if key == "hour":
            return [f"{oracle.local_hour(call):02d}"]
        return [call[key]]

    table: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for call in calls:
        combos: list[tuple] = [()]
        for key in group_by:
            combos = [(*c, v) for c in combos for v in values(call, key)]
        for combo in combos:
            row = table[combo]
            row["calls"] += 1
            row["answered"] += call["status"] == "ANSWER"
            row["missed"] += call["call_type"] in ("missed", "voicemail")
            row["voicemail"] += call["call_type"] == "voicemail"
            row["inbound"] += call["direction"] == "inbound"
            row["outgoing"] += call["direction"] == "outgoing"
            row["total_duration_s"] += call["duration"] if call["status"] == "ANSWER" else 0
    return {combo: dict(row) for combo, row in table.items()}


GROUPINGS = [
    [],
    ["call_type"],
    ["status"],
    ["direction"],
    ["line"],
    ["employee"],
    ["tag"],
    ["day"],
    ["weekday"],
    ["hour"],
    ["line", "call_type"],
    ["weekday", "hour"],
    ["tag", "line"],
]
METRICS = ("calls", "answered", "missed", "voicemail", "inbound", "outgoing", "total_duration_s")


@pytest.mark.parametrize("group_by", GROUPINGS, ids=["+".join(g) or "totals" for g in GROUPINGS])
async def test_summaries_equal_a_brute_force_count(shared_sandbox, group_by):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    async with connect(shared_sandbox) as (client, _):
        summary = data(await client.call_tool("summarize_calls", {"since": "last_90_days", "group_by": group_by}))
    calls = oracle.select("last_90_days")
    expected = brute_force(oracle, calls, group_by)
    assert summary["complete"] is True and summary["scanned"] == len(calls)
    assert {metric: summary["totals"][metric] for metric in METRICS} == brute_force(oracle, calls, [])[()]
    if not group_by:
        assert summary["groups"] == []
        return
    got = {tuple(row["group"][key] for key in group_by): {m: row[m] for m in METRICS} for row in summary["groups"]}
    # a table too big for one answer is cut, and says by how much
    assert len(got) + summary.get("omitted_groups", 0) == len(expected)
    assert got == {combo: expected[combo] for combo in got}
    rates_ok = all(
        row["answer_rate"] == round(row["answered"] / row["calls"], 3)
        and row.get("missed_rate") == (round(row["missed"] / row["inbound"], 3) if row["inbound"] else None)
        for row in summary["groups"]
    )
    assert rates_ok
    first_key = group_by[0]
    order = [row["group"][first_key] for row in summary["groups"]]
    if first_key in ("day", "hour"):
        assert order == sorted(order)
    elif first_key == "weekday":
        assert order == sorted(order, key=WEEKDAYS.index)
    else:
        sizes = defaultdict(int)
        for row in summary["groups"]:
            sizes[row["group"][first_key]] += row["calls"]
        assert [sizes[v] for v in dict.fromkeys(order)] == sorted(sizes.values(), reverse=True)


async def test_choosing_metrics_fits_a_large_table_in_one_answer(shared_sandbox):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    arguments = {"since": "last_90_days", "group_by": ["weekday", "hour"], "metrics": ["calls", "missed"]}
    async with connect(shared_sandbox) as (client, _):
        summary = data(await client.call_tool("summarize_calls", arguments))
    expected = brute_force(oracle, oracle.select("last_90_days"), ["weekday", "hour"])
    assert "omitted_groups" not in summary
    assert {(r["group"]["weekday"], r["group"]["hour"]): (r["calls"], r["missed"]) for r in summary["groups"]} == {
        combo: (row["calls"], row["missed"]) for combo, row in expected.items()
    }
    assert all(set(row) == {"group", "calls", "missed"} for row in summary["groups"])


async def test_filters_combine_with_groups(shared_sandbox):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    arguments = {"since": "last_month", "line": "Support", "tags": ["Complaint", "Follow-up"], "group_by": ["employee"]}
    async with connect(shared_sandbox) as (client, _):
        summary = data(await client.call_tool("summarize_calls", arguments))
    calls = oracle.select(
        "last_month", line="Support", where=lambda c: {t["name"] for t in c["tags"]} & {"Complaint", "Follow-up"}
    )
    assert summary["totals"]["calls"] == len(calls) > 0
    assert summary["filters"]["line"].startswith("'Support'")
    assert summary["filters"]["tags"] == ["Complaint (id 4)", "Follow-up (id 3)"]
    assert {r["group"]["employee"]: r["calls"] for r in summary["groups"]} == {
        k[0]: v["calls"] for k, v in brute_force(oracle, calls, ["employee"]).items()
    }


async def test_top_callers_are_exact_counts(shared_sandbox):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    async with connect(shared_sandbox) as (client, _):
        summary = data(await client.call_tool("summarize_calls", {"since": "last_90_days", "top_callers": 10}))
    inbound = oracle.inbound(oracle.select("last_90_days"))
    counts: dict[str, int] = defaultdict(int)
    for call in inbound:
        counts[call["caller_number"]] += 1
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert [(c["number"], c["calls"]) for c in summary["top_callers"]] == expected
    top = summary["top_callers"][0]
    assert top["missed"] == oracle.missed(oracle.select("last_90_days", number=top["number"]))


async def test_the_scan_cap_is_reported_never_hidden(shared_sandbox):
    async with connect(shared_sandbox, scan_limit=1000) as (client, _):
        summary = data(await client.call_tool("summarize_calls", {"since": "last_90_days"}))
    assert summary["complete"] is False
    assert summary["scanned"] == summary["totals"]["calls"] == 1000
    assert "SIPSIM_SCAN_LIMIT" in summary["note"]


@pytest.mark.parametrize("mode", MODES)
async def test_progress_is_sent_while_it_pages(shared_sandbox, mode):
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with connect(shared_sandbox, mode=mode) as (client, _):
        summary = data(
            await client.call_tool("summarize_calls", {"since": "last_90_days"}, progress_callback=on_progress)
        )
    pages = -(-summary["scanned"] // 1000)
    assert len(updates) >= pages
    progress = [p for p, _, _ in updates]
    assert progress == sorted(progress) and progress[-1] == 1.0 and progress[0] < 1.0
    assert all(total == 1.0 for _, total, _ in updates)
    assert updates[-1][2] == f"Scanned {summary['scanned']} calls"


class Pages(httpx.AsyncBaseTransport):
    """The simulator in process, counting the pages of calls asked for; `refuse` pages (0: the first) get a 400."""

    def __init__(self, sandbox, refuse: set[int] = frozenset()) -> None:
        self.inner = httpx.ASGITransport(app=sandbox.app)
        self.refuse = refuse
        self.pages = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/calls"):
            self.pages += 1
            if self.pages - 1 in self.refuse:
                return httpx.Response(400, json={"status": 400, "errors": ["page refused"]}, request=request)
        return await self.inner.handle_async_request(request)


@asynccontextmanager
async def over(transport: Pages, **overrides: Any) -> AsyncIterator[Client]:
    where = SimpleNamespace(api_url="http://127.0.0.1/api/v2", token_url="http://127.0.0.1/oauth/token")
    settings = settings_for(where, **overrides)
    async with (
        SipsimClient(settings, transport=transport) as api,
        Client(build_server(settings, api=api, now=lambda: NOW)) as client,
    ):
        yield client


async def test_a_page_fetched_ahead_fails_the_summary_as_the_first_page_would(shared_sandbox):
    texts = []
    for refused in (0, 1, 2):
        async with over(Pages(shared_sandbox, refuse={refused})) as client:
            texts.append(error_text(await client.call_tool("summarize_calls", {"since": "last_90_days"})))
    assert "page refused" in texts[0] and texts[1] == texts[2] == texts[0]


async def test_a_capped_summary_fetches_no_page_beyond_the_cap(shared_sandbox):
    transport = Pages(shared_sandbox)
    async with over(transport, scan_limit=1500) as client:
        summary = data(await client.call_tool("summarize_calls", {"since": "last_90_days"}))
    assert summary["scanned"] == 1500 and summary["complete"] is False
    assert transport.pages == 2


class Stalled(Pages):
    """Pages in process; the second page of calls never comes (it waits until its request is cancelled)."""

    def __init__(self, sandbox) -> None:
        super().__init__(sandbox)
        self.asked = anyio.Event()
        self.cancelled = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/calls") and self.pages == 1:
            self.pages += 1
            self.asked.set()
            try:
                await anyio.sleep_forever()
            finally:
                self.cancelled = True
        return await super().handle_async_request(request)


def stalled_scan(sandbox) -> tuple[Scan, Stalled]:
    transport = Stalled(sandbox)
    where = SimpleNamespace(api_url="http://127.0.0.1/api/v2", token_url="http://127.0.0.1/oauth/token")
    api = SipsimClient(settings_for(where), transport=transport)
    query = CallQuery(window=None, params={"start_time": "2020-01-01T00:00:00Z"}, applied=AppliedFilters())
    return Scan(SimpleNamespace(api=api), query), transport


async def test_leaving_a_scan_early_cancels_the_page_being_fetched_ahead(shared_sandbox):
    scan, transport = stalled_scan(shared_sandbox)
    with anyio.fail_after(10):  # the page fetched ahead would otherwise hold the scan open for ever
        async with scan.reading_ahead(), aclosing(scan.calls()) as calls:
            async for _ in calls:
                await transport.asked.wait()
                break
    assert transport.cancelled and scan.scanned == 1


async def test_an_error_while_a_page_is_fetched_ahead_is_raised_as_it_is(shared_sandbox):
    scan, transport = stalled_scan(shared_sandbox)

    async def count() -> None:
        async with scan.reading_ahead():
            async for _ in scan.calls():
                await transport.asked.wait()
                raise KeyError("counting failed")

    with anyio.fail_after(10), pytest.raises(KeyError, match="counting failed"):
        await count()
    assert transport.cancelled


# --- windows, names and numbers as people say them ---------------------------------------------------


async def test_every_answer_echoes_the_window_in_utc_and_the_chosen_zone(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        paris = data(await client.call_tool("list_calls", {"since": "last_week"}))
        tokyo = data(await client.call_tool("summarize_calls", {"since": "yesterday", "timezone": "Asia/Tokyo"}))
    assert paris["window"]["since"] == "2026-11-15T23:00:00Z" and paris["window"]["until"] == "2026-11-22T23:00:00Z"
    assert paris["window"]["since_local"] == "2026-11-16T00:00:00+01:00"
    assert paris["window"]["timezone"] == "Europe/Paris"
    assert tokyo["window"]["since"] == "2026-11-26T15:00:00Z" and tokyo["window"]["until"] == "2026-11-27T15:00:00Z"
    assert tokyo["window"]["until_local"] == "2026-11-28T00:00:00+09:00"


@pytest.mark.parametrize(
    ("line", "resolved"),
    [("Sales", "Sales"), ("sales", "Sales"), ("germ", "Sales Germany"), ("RECEP", "Reception"), ("103", "Support")],
)
async def test_lines_by_name_exact_partial_or_id(shared_sandbox, line, resolved):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    async with connect(shared_sandbox) as (client, _):
        summary = data(await client.call_tool("summarize_calls", {"since": "last_week", "line": line}))
    assert summary["filters"]["line"].startswith(f"'{resolved}'")
    assert summary["totals"]["calls"] == oracle.count("last_week", line=resolved)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"line": "Sal"}, ["ambiguous", "'Sales'", "'Sales Germany'"]),
        ({"line": "Paris office"}, ["No line matches 'Paris office'", "'Reception'"]),
        ({"tags": ["imp"]}, ["Important"]),  # unique partial: accepted (checked below)
        ({"tags": ["Gold"]}, ["No tag matches 'Gold'", "'VIP'"]),
        ({"employees": ["Marie"]}, ["ambiguous", "Marie Dupont", "Marie Lambert"]),
        ({"employees": ["Zoé"]}, ["No employee matches", "Marie Dupont"]),
    ],
)
async def test_ambiguous_and_unknown_names_list_the_candidates(shared_sandbox, arguments, expected):
    async with connect(shared_sandbox) as (client, _):
        result = await client.call_tool("list_calls", {"since": "last_week", **arguments})
    text = result.content[0].text
    if arguments == {"tags": ["imp"]}:
        assert result.is_error is False and data(result)["filters"]["tags"] == ["Important (id 2)"]
        return
    text = error_text(result)
    for fragment in expected:
        assert fragment in text


async def test_employee_names_are_accent_and_case_insensitive(shared_sandbox):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    async with connect(shared_sandbox) as (client, _):
        summary = data(
            await client.call_tool("summarize_calls", {"since": "last_month", "employees": ["chloe fontaine"]})
        )
    assert summary["filters"]["employees"] == ["Chloé Fontaine (id 10)"]
    assert summary["totals"]["calls"] == oracle.count("last_month", employee="Chloé Fontaine")


@pytest.mark.parametrize("written", ["+33 6 52 60 18 15", "06 52 60 18 15", "0033652601815", "+33 (0)6.52.60.18.15"])
async def test_numbers_in_any_common_form(shared_sandbox, written):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    async with connect(shared_sandbox) as (client, _):
        calls = data(
            await client.call_tool(
                "list_calls", {"since": "last_90_days", "number": written, "limit": 200, "fields": ["time"]}
            )
        )
    assert calls["filters"]["number"] == "+33652601815"
    expected = sorted((c["id"] for c in oracle.select("last_90_days", number="+33652601815")), reverse=True)
    assert [row["id"] for row in calls["calls"]] == expected[:200]


async def test_a_national_number_without_a_region_asks_for_the_country_code(shared_sandbox):
    async with connect(shared_sandbox, default_region=None) as (client, _):
        text = error_text(await client.call_tool("list_calls", {"number": "06 52 60 18 15"}))
    assert "+33" in text or "country code" in text
    assert "SIPSIM_DEFAULT_REGION" in text


# --- answers sized for a model -------------------------------------------------------------------------


async def test_fields_choose_the_columns(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        rows = data(await client.call_tool("list_calls", {"since": "today", "fields": ["time", "from"], "limit": 5}))
    assert rows["calls"] and all(set(row) <= {"id", "time", "from"} for row in rows["calls"])


async def test_get_call_summary_or_full_detail(shared_sandbox):
    call = shared_sandbox.data.calls[-3]
    async with connect(shared_sandbox) as (client, _):
        brief = data(await client.call_tool("get_call", {"call_id": call["id"]}))
        full = data(await client.call_tool("get_call", {"call_id": call["id"], "detail": "full"}))
    assert "full" not in brief
    assert full["full"]["pbx_id"] == call["pbx_id"] and full["full"]["receiver_number"] == call["receiver_number"]
    assert brief["call"] == full["call"]


def test_top_callers_past_capacity_keep_the_heavy_hitters_within_their_error():
    """Space-Saving past its capacity: the frequent keys stay, each count at most its error above the truth,
    and a stream of 100 times more distinct callers than tracked is counted in one pass."""
    counter = TopCounter(capacity=50)
    truth = {"heavy": 0, "second": 0}
    for i in range(5000):
        counter.add(f"once {i}")
        if i % 5 == 0:
            counter.add("heavy")
            truth["heavy"] += 1
        if i % 9 == 0:
            counter.add("second")
            truth["second"] += 1
    assert counter.exact is False and len(counter.counts) == 50
    assert [key for key, _ in counter.top(2)] == ["heavy", "second"]
    for key, true in truth.items():
        assert true <= counter.counts[key] <= true + counter.errors[key]
    assert sum(counter.counts.values()) == 5000 + sum(truth.values())
