"""The calls dashboard in a real browser: headless Chromium loads a test host page (the official
TypeScript MCP client over streamable HTTP to `sipsim-mcp --demo --transport http`, and the official
AppBridge), which calls the tools as a model would and mounts the view under the spec's default CSP, in a
column 1200 px wide (a wide chat or full screen) or 420 px wide (a chat column).

The assertions are what a person sees: bars, headline numbers, the calls behind a bar as a table whose
columns all show or as cards, dates, errors in plain words with a way back, filters they can change, and a
frame exactly as tall as the view. Each state is written as a screenshot to ui/screenshots/ for review
(git-ignored); UPDATE_SCREENSHOTS=1 also refreshes the ones README shows in docs/. Needs npm, Chromium
(/usr/bin/chromium or SIPSIM_CHROMIUM) and the `playwright` package, never a downloaded browser: skipped
without them on a developer machine, a failure under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from sipsim_mcp.language.windows import WEEKDAYS
from sipsim_mcp.sandbox import LiveConfig, Sandbox

from .conftest import NOW, make_sandbox
from .external import ROOT, server_env, unavailable
from .replicas import Command, ServerProcess

pytestmark = pytest.mark.browser

UI = ROOT / "ui"
SCREENSHOTS = ROOT / "ui" / "screenshots"
DOCS = ROOT / "docs"
#: The screenshots README shows, by the name the test gives them.
IN_README = {
    "summary-1200.png": "dashboard-light.png",
    "dark-1200.png": "dashboard-dark.png",
    "list-420.png": "dashboard-narrow.png",
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = [pytest.param(420, id="420px"), pytest.param(1200, id="1200px")]
both_widths = pytest.mark.parametrize("width", WIDTHS, indirect=True)
LIVE_SECRET = "whsec-browser-" + "b" * 30
#: A call's time with its date, as a person reads it: "Fri 27 Nov 22:11".
DATED = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d\d:\d\d")


def chromium() -> str:
    path = os.environ.get("SIPSIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def host_script(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test host bundled with esbuild from ui/ (installing ui's npm packages on first use)."""
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed")
    if not (UI / "node_modules" / ".bin" / "esbuild").exists():
        subprocess.run(
            [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=UI,
            check=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
    out = tmp_path_factory.mktemp("host") / "host.js"
    subprocess.run(["node", "test-host/build.mjs", str(out)], cwd=UI, check=True, timeout=120)
    return out.read_text()


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sipsim-mcp --demo --transport http` on a free loopback port, its clock at the tests' NOW and no live
    calls (the same data and screenshots on any day, however long the tests take; no live strip); yields its
    origin."""
    with Command(
        lambda port: [sys.executable, "-m", "sipsim_mcp", "--demo", "--transport", "http", "--port", str(port)],
        tmp_path_factory.mktemp("origin") / "server.log",
        "the HTTP server",
        env=server_env(SIPSIM_NOW=NOW.isoformat(), SIPSIM_DEMO_LIVE_RATE="0"),
    ) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def live_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Sandbox]]:
    """`sipsim-mcp --transport http` with its webhook receiver, against a simulator whose webhooks the test
    sends (signed, to that receiver); yields its origin and the simulator."""
    sandbox = make_sandbox(now=NOW, live=LiveConfig(rate=0, url=None, secret=LIVE_SECRET))
    sandbox.start()
    folder = tmp_path_factory.mktemp("live-origin")
    store = f"sqlite:///{folder}/events.sqlite3"
    try:
        with ServerProcess(
            sandbox, folder / "server.log", SIPSIM_WEBHOOK_SECRET=LIVE_SECRET, SIPSIM_EVENTS_URL=store
        ) as server:
            assert sandbox.live is not None
            sandbox.live.point_at(f"http://127.0.0.1:{server.port}/webhooks/sipsim")
            yield f"http://127.0.0.1:{server.port}", sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Host:
    """The test host page, and what the view inside it shows, in a column `width` pixels wide."""

    def __init__(self, page: Any, origin: str, width: int) -> None:
        self.page = page
        self.origin = origin
        self.width = width
        self.view = page.frame_locator("iframe")

    def show(
        self, tool: str, arguments: dict[str, Any], *, theme: str = "light", tools: bool = True, fails: bool = False
    ) -> dict[str, Any]:
        """Call `tool` through the host and mount the view with its result (`tools`: whether the host lets
        the view call server tools; `fails`: the call is expected to fail); returns the result."""
        options = {"theme": theme, "serverTools": tools, "width": self.width}
        result = self.page.evaluate("([t, a, o]) => host.show(t, a, o)", [tool, arguments, options])
        assert bool(result.get("isError")) is fails, result
        self.view.locator("#root[aria-busy='false'] > *").first.wait_for()
        return result if fails else result["structuredContent"]

    def calls(self) -> list[dict[str, Any]]:
        """The tools/call requests the view made through the host (with their results)."""
        return self.page.evaluate("host.calls")

    def wait_for_calls(self, n: int) -> list[dict[str, Any]]:
        self.page.wait_for_function("n => host.calls.length >= n && host.calls.every(c => c.result)", arg=n)
        self.view.locator("#root[aria-busy='false']").wait_for()
        return self.calls()

    def text(self, selector: str) -> list[str]:
        return [t.strip() for t in self.view.locator(selector).all_text_contents()]

    def headers(self) -> list[str]:
        return [h.rstrip("↕▲▼ ") for h in self.text(".calls-table thead th")]

    def column(self, header: str) -> list[str]:
        """The cells under a column of the calls table, by its header."""
        return self.text(f".calls-table tbody td:nth-child({self.headers().index(header) + 1})")

    def visible(self, selector: str) -> list[str]:
        """The texts of the elements matching `selector` that a person sees whole: laid out, and inside the
        frame and every box that clips them (nothing cut off at the side)."""
        return self.view.locator(selector).evaluate_all(
            r"""els => els.filter(el => {
                const box = el.getBoundingClientRect();
                if (!box.width || !box.height) return false;
                for (let p = el.parentElement; p; p = p.parentElement) {
                    if (getComputedStyle(p).overflowX === "visible") continue;
                    const clip = p.getBoundingClientRect();
                    if (box.left < clip.left - 1 || box.right > clip.right + 1) return false;
                }
                return box.left >= 0 && box.right <= document.documentElement.clientWidth + 1;
            }).map(el => el.innerText.replace(/\s+/g, " ").trim())"""
        )

    def fits(self) -> None:
        """The frame is as tall as the view (the height the view reports to the host is its content's), and
        nothing is wider than the frame."""
        frame = self.page.locator("iframe")
        measure = """() => ({
            content: Math.ceil(document.getElementById("root").getBoundingClientRect().bottom),
            scroll: document.documentElement.scrollHeight,
            wide: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        })"""
        deadline = time.monotonic() + 5
        while True:  # the size notification follows the layout by a frame or two
            height = round(frame.bounding_box()["height"])
            seen = self.view.locator("html").evaluate(measure)
            if abs(height - seen["content"]) <= 1 and seen["scroll"] <= height and seen["wide"] <= 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"frame {height} px high for {seen}")
            time.sleep(0.05)

    def screenshot(self, name: str) -> None:
        """`name`-WIDTH.png in ui/screenshots/ (and in docs/ with UPDATE_SCREENSHOTS=1 if README shows it)."""
        self.fits()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.mouse.move(0, 0)  # no hover highlight
        box = self.page.locator("iframe").bounding_box()
        height = min(box["height"], 2400)  # the top of a long list is enough to review
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": size["width"], "height": int(box["y"] + height) + 24})
        file = f"{name}-{self.width}.png"
        clip = {"x": box["x"], "y": box["y"], "width": box["width"], "height": height}
        self.page.screenshot(path=str(SCREENSHOTS / file), clip=clip, animations="disabled")
        self.page.set_viewport_size(size)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1" and file in IN_README:
            DOCS.mkdir(exist_ok=True)
            shutil.copy(SCREENSHOTS / file, DOCS / IN_README[file])


@pytest.fixture
def width(request: pytest.FixtureRequest) -> int:
    """The width of the host's column for the view: 780 px unless a test asks for others."""
    return getattr(request, "param", 780)


@pytest.fixture
def host(browser: Any, origin: str, host_script: str, width: int) -> Iterator[Host]:
    with open_host(browser, origin, host_script, width) as shown:
        yield shown


@pytest.fixture
def live_host(browser: Any, live_origin: tuple[str, Sandbox], host_script: str, width: int) -> Iterator[Host]:
    with open_host(browser, live_origin[0], host_script, width) as shown:
        yield shown


@contextmanager
def open_host(browser: Any, origin: str, host_script: str, width: int) -> Iterator[Host]:
    """The test host page on `origin`, connected to its MCP server, in a column `width` pixels wide; after
    the test, the view fetched nothing, logged no error, and showed no SDK wording."""
    context = browser.new_context(viewport={"width": width + 48, "height": 1000}, device_scale_factor=1.5)
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    html = (UI / "test-host" / "host.html").read_text()
    page.route(f"{origin}/host.html", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.route(f"{origin}/host.js", lambda route: route.fulfill(body=host_script, content_type="text/javascript"))
    page.goto(f"{origin}/host.html")
    listed = page.evaluate("url => host.connect(url)", f"{origin}/mcp")
    assert {"summarize_calls", "list_calls"} <= {tool["name"] for tool in listed}
    shown = Host(page, origin, width)
    yield shown
    text = shown.view.locator("body").inner_text() if page.locator("iframe").count() else ""
    context.close()
    # the view fetched nothing: every request came from the host page (itself, its script, MCP)
    assert set(requests) <= {f"{origin}/host.html", f"{origin}/host.js", f"{origin}/mcp"}, requests
    assert problems == []
    assert "Error executing tool" not in text  # the SDK's wording is not for people


def figures(totals: dict[str, Any]) -> dict[str, str]:
    """The headline numbers as the view must print them."""
    return {
        "calls": f"{totals['calls']:,}",
        "answered": f"{totals['answered']:,}",
        "missed": f"{totals['missed']:,}",
        "answer_rate": f"{totals['answer_rate'] * 100:.1f}%",
    }


@both_widths
def test_the_summary_shows_one_bar_per_group_and_the_tools_totals(host: Host, width: int):
    summary = host.show("summarize_calls", {"group_by": ["line"], "since": "last_30_days"})
    groups = summary["groups"]
    assert 2 <= len(groups) <= 12
    assert host.view.locator(".bar").count() == len(groups)
    assert host.text(".bar .label") == [g["group"]["line"] for g in groups]  # no label cut
    for metric, shown in figures(summary["totals"]).items():
        assert host.text(f"[data-metric={metric}] .stat-value") == [shown]
    # each bar says its numbers in words, for people who cannot see the chart
    first = host.view.locator(".bar").first
    assert f"{groups[0]['calls']} calls" in first.get_attribute("aria-label")
    # the top callers: one row each (no card left alone on a row of a grid), every name in full
    callers = summary["top_callers"]
    rows = host.view.locator(".callers li")
    assert rows.count() == len(callers) == 5
    assert len({round(box["x"]) for box in (rows.nth(i).bounding_box() for i in range(len(callers)))}) == 1
    names = [c.get("name") or c["number"] for c in callers]
    assert host.visible(".caller .name") == names
    clipped = host.view.locator(".caller .name").evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth)")
    assert clipped == []
    host.screenshot("summary")

    # the numbers are in a table too, every column of it in view, half of them at a time in a chat column
    host.view.get_by_text("Numbers for each line").click()
    table_calls = host.text(".groups-table tbody td:nth-child(2)")
    assert table_calls == [f"{g['calls']:,}" for g in groups]
    first_half = ["Line", "Calls", "Answered", "Missed", "Answer rate"]
    second_half = ["Line", "Voicemail", "Avg wait", "Talk time"]
    if width < 640:
        assert host.visible(".groups-table thead th") == first_half
        host.view.get_by_role("button", name="Show voicemail, wait, talk time").click()
        assert host.visible(".groups-table thead th") == second_half
        assert host.text(".groups-table tbody td:nth-child(2)") == [f"{g['voicemail']:,}" for g in groups]
    else:
        assert host.visible(".groups-table thead th") == first_half + second_half[1:]
    host.screenshot("numbers")


def test_switching_group_by_asks_summarize_calls_again_and_redraws(host: Host):
    first = host.show("summarize_calls", {"group_by": ["line"], "since": "last_30_days"})
    host.view.get_by_label("Group by").select_option("day")
    [call] = host.wait_for_calls(1)
    assert call["name"] == "summarize_calls"
    assert call["arguments"]["group_by"] == ["day"]
    assert call["arguments"]["since"] == "last_30_days"  # the window as asked is kept
    redrawn = call["result"]["structuredContent"]
    assert redrawn["totals"] == first["totals"]
    assert host.view.locator("svg.columns").count() == 1
    assert host.view.locator(".bar").count() == len(redrawn["groups"]) > 12
    assert host.view.get_by_role("heading", name="Calls by day").is_visible()

    host.view.get_by_label("Period").select_option("last_week")
    second = host.wait_for_calls(2)[1]
    assert second["name"] == "summarize_calls"
    assert second["arguments"]["since"] == "last_week" and "until" not in second["arguments"]
    week = second["result"]["structuredContent"]
    assert host.text("[data-metric=calls] .stat-value") == [f"{week['totals']['calls']:,}"]
    assert host.view.locator(".bar").count() == len(week["groups"])
    host.fits()


@both_widths
def test_a_click_on_a_bar_lists_that_slice_dated_and_sorted_over_all_its_calls(host: Host, width: int):
    summary = host.show("summarize_calls", {"group_by": ["line"], "since": "last_30_days"})
    group = summary["groups"][1]
    line = group["group"]["line"]
    before = host.page.locator("iframe").bounding_box()["height"]
    host.view.locator(".bar").nth(1).click()
    [call] = host.wait_for_calls(1)
    assert call["name"] == "list_calls"
    assert call["arguments"]["line"] == line
    assert call["arguments"]["since"] == summary["window"]["since_local"]
    page = call["result"]["structuredContent"]
    shown = len(page["calls"])
    assert host.view.get_by_role("heading", name=f"Calls: {line}").is_visible()
    assert host.page.locator("iframe").bounding_box()["height"] > before  # the frame grew to fit the calls
    # the model is told what the person opened, for the next turn
    [told] = host.page.evaluate("host.contexts")
    assert told["content"][0]["text"] == f"The user opened the calls of {line} ({group['calls']:,} calls)."

    if width >= 640:
        # a table whose every column a person sees, nothing off to the side
        headers = ["Time", "Direction", "Outcome", "Line", "Employee", "Contact", "Duration", "Tags"]
        assert host.visible(".calls-table thead th") == [f"{h} {'▼' if h == 'Time' else '↕'}" for h in headers]
        assert set(host.column("Line")) == {line}
        times = host.column("Time")
    else:
        # a card per call: when (with the date: the window is 30 days), how it ended, how long, who, where
        assert host.view.locator(".calls-table").count() == 0
        cards = host.view.locator(".call-card")
        assert cards.count() == shown > 0
        faces = host.visible(".card-face")
        for row, face in zip(page["calls"], faces, strict=True):
            assert row["outcome"] in face and line in face
            assert (row["to"] if row["type"] == "outgoing" else row["from"]) in face
            assert _duration(row["duration_s"]) in face
        times = host.text(".card-face time")
        # the rest of a call is one tap away
        host.view.locator(".card-face").nth(2).click()
        more = host.visible(".call-card:nth-child(3) .card-more dd")
        assert str(page["calls"][2]["id"]) in more
        host.fits()
    assert len(times) == shown and all(DATED.fullmatch(t) for t in times), times
    host.screenshot("bar-calls")

    host.view.get_by_role("button", name="More calls").click()
    second = host.wait_for_calls(2)[1]
    assert second["name"] == "list_calls" and second["arguments"]["page"] == page["page"]
    loaded = [*page["calls"], *second["result"]["structuredContent"]["calls"]]
    rows = host.view.locator(".calls-table tbody tr, .call-card")
    assert rows.count() == len(loaded)

    # sorting reads the rest of the slice first (its size is known and modest): the order is over all of it
    if width >= 640:
        host.view.get_by_role("button", name="Duration").click()
    else:
        host.view.get_by_label("Sort calls").select_option("duration_s:asc")
    calls = host.wait_for_calls(3)
    host.view.get_by_text(f"Sorted by duration: all {group['calls']:,} calls.").wait_for()
    every = [row for c in calls if c["name"] == "list_calls" for row in c["result"]["structuredContent"]["calls"]]
    assert len(every) == rows.count() == group["calls"]
    assert calls[-1]["result"]["structuredContent"]["has_more"] is False
    first_duration = host.column("Duration")[0] if width >= 640 else host.text(".call-card .card-duration")[0]
    assert first_duration == _duration(min(row["duration_s"] for row in every))
    if width >= 640:
        assert host.view.locator("th", has_text="Duration").get_attribute("aria-sort") == "ascending"
    assert {c["name"] for c in host.calls()} <= {"summarize_calls", "list_calls"}  # never a write tool
    host.screenshot("sorted")


def test_the_keyboard_reaches_a_bar_and_opens_it(host: Host):
    summary = host.show("summarize_calls", {"group_by": ["weekday"], "since": "last_30_days"})
    host.view.locator(".bar").first.focus()
    host.page.keyboard.press("ArrowRight")
    host.page.keyboard.press("Enter")
    calls = host.wait_for_calls(1)
    weekday = summary["groups"][1]["group"]["weekday"]
    # list_calls cannot filter by weekday: the view reads the window's calls and keeps that day's
    assert {c["name"] for c in calls} == {"list_calls"}
    assert calls[0]["arguments"]["since"] == summary["window"]["since_local"]
    times = host.view.locator("#calls time")
    assert times.count() > 0
    weekdays = {WEEKDAYS[datetime.fromisoformat(t.get_attribute("datetime")).weekday()] for t in times.all()}
    assert weekdays == {weekday}


@both_widths
def test_the_dark_theme_follows_the_host_and_one_days_calls_show_their_times(host: Host, width: int):
    summary = host.show("summarize_calls", {"group_by": ["day"], "since": "last_30_days"}, theme="dark")
    root = host.view.locator("html")
    assert root.get_attribute("data-theme") == "dark"
    assert _luminance(host.view.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")) < 0.2
    day = summary["groups"][3]["group"]["day"]
    host.view.locator(".bar").nth(3).click()
    [call] = host.wait_for_calls(1)
    assert (call["arguments"]["since"], call["arguments"]["until"]) == (day, day)  # that whole local day
    times = host.view.locator("#calls time")
    assert {t.get_attribute("datetime")[:10] for t in times.all()} == {day}
    # one day: the heading says which, each call its time
    weekday = WEEKDAYS[datetime.fromisoformat(day).weekday()]
    heading = host.text("#calls-title")[0]
    assert heading == f"Calls: {weekday} {int(day[8:])} {datetime.fromisoformat(day):%b}"
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in times.all_text_contents())
    host.screenshot("dark")
    host.page.evaluate("host.setTheme('light')")
    host.view.locator("html[data-theme=light]").wait_for()
    assert _luminance(host.view.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")) > 0.8


@both_widths
def test_a_list_calls_result_shows_dates_across_days_and_more(host: Host, width: int):
    page = host.show("list_calls", {"since": "last_7_days", "limit": 10})
    assert len({row["time"][:10] for row in page["calls"]}) == 1  # all ten on one day, in a 7-day window
    rows = host.view.locator(".calls-table tbody tr, .call-card")
    assert rows.count() == page["returned"] == 10
    times = host.text("#calls time")
    assert len(times) == 10 and all(DATED.fullmatch(t) for t in times), times  # dated all the same
    if width >= 640:
        assert {"Time", "Direction", "Line", "Contact", "Duration", "Tags"} <= set(host.headers())
        # one column for the other party: the caller of an incoming call, the number dialled for an outgoing one
        for row, contact in zip(page["calls"], host.column("Contact"), strict=True):
            expected = row["to"] if row["type"] == "outgoing" else (row.get("caller_name") or "") + row["from"]
            assert contact == expected
    else:
        for row, who in zip(page["calls"], host.visible(".card-who"), strict=True):
            if row["type"] == "outgoing":
                assert who == f"To {row['to']}"
            else:
                assert who == " ".join(["From", *filter(None, [row.get("caller_name"), row["from"]])])
    host.screenshot("list")
    host.view.get_by_role("button", name="More calls").click()
    [call] = host.wait_for_calls(1)
    assert call["arguments"] == {"since": "last_7_days", "limit": 10, "page": page["page"]}
    assert rows.count() == 20
    host.fits()


@pytest.mark.parametrize("width", [1200], indirect=True)
def test_sorting_a_list_of_unknown_length_says_so_and_loads_it_all(host: Host):
    page = host.show("list_calls", {"since": "last_7_days", "limit": 10})
    host.view.get_by_role("button", name="Duration").click()
    assert host.calls() == []  # how many calls the list holds is not known: the person decides
    note = host.view.locator(".sort-note")
    assert note.inner_text().startswith("Sorted by duration: only the 10 calls loaded so far.")
    assert host.column("Duration")[0] == _duration(min(row["duration_s"] for row in page["calls"]))
    host.screenshot("sorted-loaded")
    note.get_by_role("button", name="Load all and sort").click()
    host.view.get_by_text(re.compile(r"Sorted by duration: all [\d,]+ calls\.")).wait_for()
    calls = host.calls()
    assert all(c["arguments"]["limit"] == 200 for c in calls)  # the whole list in big pages
    assert calls[-1]["result"]["structuredContent"]["has_more"] is False
    every = page["calls"] + [row for c in calls for row in c["result"]["structuredContent"]["calls"]]
    assert host.view.locator(".calls-table tbody tr").count() == len(every) > 100
    assert len({row["id"] for row in every}) == len(every)
    assert host.column("Duration")[0] == _duration(min(row["duration_s"] for row in every))
    assert host.column("Duration")[-1] == _duration(max(row["duration_s"] for row in every))
    host.fits()


@both_widths
def test_an_error_is_in_plain_words_with_the_controls_to_ask_again(host: Host, width: int):
    failed = host.show("summarize_calls", {"group_by": ["line"], "since": "last_fortnight"}, fails=True)
    said = failed["content"][0]["text"]
    assert len(said) > 240  # all the accepted forms: for the model; a person reads the first sentence
    alert = host.view.get_by_role("alert")
    assert host.visible(".error-title") == ["The calls could not be counted."]
    assert host.visible(".error-text") == ["Cannot read since='last_fortnight' as a time expression."]
    assert said.startswith(host.visible(".error-text")[0])
    assert "Error executing tool" not in alert.inner_text()
    assert host.visible(".error-actions button") == ["Try again"]
    assert host.text("h1 + .window") == ["Asked: calls from last_fortnight"]
    host.screenshot("error")
    # the way back: another period asks the same question again
    period = host.view.get_by_label("Period")
    assert period.is_enabled() and host.view.get_by_label("Group by").is_enabled()
    period.select_option("last_7_days")
    [call] = host.wait_for_calls(1)
    assert call["name"] == "summarize_calls"
    assert call["arguments"] == {"group_by": ["line"], "since": "last_7_days"}
    summary = call["result"]["structuredContent"]
    assert alert.count() == 0
    assert host.view.locator(".bar").count() == len(summary["groups"]) > 1
    host.fits()


@both_widths
def test_a_list_error_names_the_filter_and_its_chip_clears_it(host: Host, width: int):
    host.show("list_calls", {"since": "last_7_days", "line": "Sals", "limit": 5}, fails=True)
    assert host.visible(".error-title") == ["The calls could not be listed."]
    assert host.visible(".error-text") == ["No line matches 'Sals'."]
    host.view.get_by_text("What the server said").click()  # the rest of it, one tap away
    assert host.visible(".error details p")[0].startswith("The lines are: 'Sales' (id 101, ext. 101);")
    assert host.visible(".chip") == ["Line: Sals ×"]
    host.fits()
    host.view.get_by_role("button", name="Clear the filter Line: Sals").click()
    [call] = host.wait_for_calls(1)
    assert call["arguments"] == {"since": "last_7_days", "limit": 5}
    assert host.view.get_by_role("alert").count() == 0
    assert host.view.locator(".calls-table tbody tr, .call-card").count() == 5
    assert host.view.locator(".chip").count() == 0
    host.fits()


@both_widths
def test_filters_the_model_set_are_chips_a_person_changes_or_clears(host: Host, width: int):
    asked = {"group_by": ["line"], "since": "last_30_days", "line": "Sales", "call_types": ["missed", "voicemail"]}
    summary = host.show("summarize_calls", asked)
    assert host.visible(".chip") == ["Types: missed, voicemail ×", "Line: Sales ×"]
    assert host.text(".bar .label") == ["Sales"]
    assert host.text("[data-metric=calls] .stat-value") == [f"{summary['totals']['calls']:,}"]
    host.screenshot("filters")

    # change: the chip opens a field with the value the model gave
    host.view.get_by_role("button", name="Line: Sales. Change this filter").click()
    field = host.view.get_by_role("textbox", name="Line")
    assert field.input_value() == "Sales"
    host.fits()
    host.screenshot("filter-edit")
    field.fill("Support")
    host.view.get_by_role("button", name="Apply").click()
    [call] = host.wait_for_calls(1)
    assert call["arguments"] == {**asked, "line": "Support"}
    assert host.text(".bar .label") == ["Support"]
    assert host.visible(".chip") == ["Types: missed, voicemail ×", "Line: Support ×"]

    # the call types are boxes to tick
    host.view.get_by_role("button", name="Types: missed, voicemail. Change this filter").click()
    host.view.get_by_role("checkbox", name="voicemail").uncheck()
    host.view.get_by_role("button", name="Apply").click()
    second = host.wait_for_calls(2)[1]
    assert second["arguments"] == {**asked, "line": "Support", "call_types": ["missed"]}

    # clear
    host.view.get_by_role("button", name="Clear the filter Types: missed").click()
    third = host.wait_for_calls(3)[2]
    assert third["arguments"] == {"group_by": ["line"], "since": "last_30_days", "line": "Support"}
    support = third["result"]["structuredContent"]
    assert host.text("[data-metric=calls] .stat-value") == [f"{support['totals']['calls']:,}"]
    assert host.visible(".chip") == ["Line: Support ×"]

    # a value the server cannot use: the error says so, the figures on screen stay, and it can be dismissed
    host.view.get_by_role("button", name="Line: Support. Change this filter").click()
    host.view.get_by_role("textbox", name="Line").fill("Nowhere")
    host.view.get_by_role("textbox", name="Line").press("Enter")
    host.wait_for_calls(4)
    assert host.visible(".error-text")[0].startswith("No line matches 'Nowhere'.")
    assert host.text(".bar .label") == ["Support"] and host.visible(".chip") == ["Line: Support ×"]
    host.fits()
    host.screenshot("error-after-change")
    host.view.get_by_role("button", name="Dismiss").click()
    assert host.view.get_by_role("alert").count() == 0
    host.fits()


def test_full_screen_is_asked_of_the_host_and_undone(host: Host):
    host.show("list_calls", {"limit": 5})
    host.view.get_by_role("button", name="Full screen").click()
    host.view.get_by_role("button", name="Exit full screen").click()
    host.view.get_by_role("button", name="Full screen").wait_for()
    assert host.page.evaluate("document.body.dataset.displayMode") == "inline"


def test_a_host_that_keeps_tools_from_apps_gets_a_read_only_dashboard(host: Host):
    summary = host.show("summarize_calls", {"group_by": ["line"], "line": "Sales"}, tools=False)
    assert host.view.locator(".bar").count() == len(summary["groups"])
    assert host.view.get_by_label("Group by").is_disabled() and host.view.get_by_label("Period").is_disabled()
    assert all(button.is_disabled() for button in host.view.locator(".chip button").all())
    host.view.locator(".bar").first.click()
    assert "ask in the chat instead" in host.view.get_by_role("alert").inner_text()
    assert host.calls() == []
    host.fits()


def _send(sandbox: Sandbox, kind: str, pbx: str, caller: str, **fields: Any) -> None:
    """One webhook of a call on the Sales line, signed and posted by the simulator to the server's receiver."""
    assert sandbox.live is not None
    payload = {"event": kind, "caller": caller, "receiver": "+33184880101", "pbx_id": pbx,
               "time": sandbox.clock().isoformat(), **fields}  # fmt: skip
    assert sandbox.live.send(payload).status == 200


@both_widths
def test_the_live_strip_shows_who_is_calling_now_and_the_last_ten_minutes(
    live_host: Host, live_origin: tuple[str, Sandbox], width: int
):
    """The view long-polls recent_call_events through the host (a view cannot subscribe): a call shows as it
    rings, who answered as they do, then in the last 10 minutes with how it ended."""
    host, sandbox = live_host, live_origin[1]
    known = next(c for c in reversed(sandbox.data.calls) if c["caller_name"] and c["direction"] == "inbound")
    caller, name = known["caller_number"], known["caller_name"]
    pbx, missed = f"call_strip_{width}", f"call_strip_missed_{width}"
    host.show("summarize_calls", {"group_by": ["line"], "since": "today"})
    strip = host.view.locator("section.live")
    strip.locator("h2", has_text="Live: No call right now").wait_for(timeout=10_000)

    _send(sandbox, "incoming_call_start", pbx, caller)
    for member in ("201", "202"):
        _send(sandbox, "incoming_call_start_chain_member_call", pbx, caller, receiver=member)
    ringing = strip.locator(f'.live-call.ringing[data-call="{pbx}"]')
    ringing.wait_for(timeout=10_000)
    assert re.fullmatch(rf"ringing {re.escape(name)} \({re.escape(caller)}\) Sales · since 10:\d\d", _words(ringing))
    assert "1 ringing, 0 on a call" in strip.locator("h2").inner_text()
    host.fits()
    host.screenshot("live-ringing")

    _send(sandbox, "incoming_call_answer", pbx, caller, receiver="202")
    strip.locator(f'.live-call.in_progress[data-call="{pbx}"]', has_text="on a call with 202").wait_for(timeout=10_000)
    _send(sandbox, "incoming_call_end", pbx, caller, duration=42, status="ANSWER", audio_path=None)
    _send(sandbox, "incoming_call_start", missed, "+33611223344")
    _send(sandbox, "incoming_call_end", missed, "+33611223344", duration=0, status="MISSED", audio_path=None)
    done = strip.locator(f'.live-done.missed[data-call="{missed}"]')
    done.wait_for(timeout=10_000)
    answered = strip.locator(f'.live-done[data-call="{pbx}"]')
    assert re.fullmatch(rf"10:\d\d {re.escape(name)} \({re.escape(caller)}\) Sales · answered, 42 s", _words(answered))
    assert re.fullmatch(r"10:\d\d \+33611223344 Sales · missed", _words(done))
    assert strip.locator("h2").inner_text().endswith("No call right now")
    assert strip.locator("h3").inner_text() == "Last 10 minutes"
    host.fits()
    host.screenshot("live")

    polls = host.page.evaluate("host.live")
    assert polls[0]["arguments"] == {"since": "10m"}
    assert all(p["arguments"]["wait_s"] == 25 and p["arguments"]["since"].startswith("after:") for p in polls[1:])
    assert host.calls() == []  # the strip's calls are not the person's: the dashboard never shows itself busy


def _words(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}:{rest:02d}"


def _luminance(css: str) -> float:
    r, g, b = (int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
