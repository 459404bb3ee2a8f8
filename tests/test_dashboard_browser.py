"""The calls dashboard in a real browser: headless Chromium loads a test host page (the official
TypeScript MCP client over streamable HTTP to `sipsim-mcp --demo --transport http`, and the official
AppBridge), which calls the tools as a model would and mounts the view under the spec's default CSP.

The assertions are what a person sees: bars, headline numbers, the table of calls behind a bar, the
theme. Screenshots go to .cache/screenshots/ (UPDATE_SCREENSHOTS=1 also writes docs/, which README uses).
Needs npm, Chromium (/usr/bin/chromium or SIPSIM_CHROMIUM) and the `playwright` package, never a
downloaded browser: skipped without them on a developer machine, a failure under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from sipsim_mcp.language.windows import WEEKDAYS

from .external import ROOT, server_env, unavailable
from .replicas import Command

pytestmark = pytest.mark.browser

UI = ROOT / "ui"
SCREENSHOTS = ROOT / ".cache" / "screenshots"
DOCS = ROOT / "docs"
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
    """`sipsim-mcp --demo --transport http` on a free loopback port; yields its origin."""
    with Command(
        lambda port: [sys.executable, "-m", "sipsim_mcp", "--demo", "--transport", "http", "--port", str(port)],
        tmp_path_factory.mktemp("origin") / "server.log",
        "the HTTP server",
        env=server_env(),
    ) as server:
        yield f"http://127.0.0.1:{server.port}"


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
    """The test host page, and what the view inside it shows."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.view = page.frame_locator("iframe")

    def show(self, tool: str, arguments: dict[str, Any], theme: str = "light", tools: bool = True) -> dict[str, Any]:
        """Call `tool` through the host and mount the view with its result (`tools`: whether the host lets
        the view call server tools); returns the structured content."""
        result = self.page.evaluate(
            "([t, a, theme, tools]) => host.show(t, a, theme, tools)", [tool, arguments, theme, tools]
        )
        assert not result.get("isError"), result
        self.view.locator("#root[aria-busy='false'] > *").first.wait_for()
        return result["structuredContent"]

    def calls(self) -> list[dict[str, Any]]:
        """The tools/call requests the view made through the host (with their results)."""
        return self.page.evaluate("host.calls")

    def wait_for_calls(self, n: int) -> list[dict[str, Any]]:
        self.page.wait_for_function("n => host.calls.length >= n && host.calls.every(c => c.result)", arg=n)
        self.view.locator("#root[aria-busy='false']").wait_for()
        return self.calls()

    def text(self, selector: str) -> list[str]:
        return [t.strip() for t in self.view.locator(selector).all_text_contents()]

    def column(self, header: str) -> list[str]:
        """The cells under a column of the calls table, by its header."""
        headers = [h.rstrip("↕▲▼ ") for h in self.text(".calls-table thead th")]
        return self.text(f".calls-table tbody td:nth-child({headers.index(header) + 1})")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.mouse.move(0, 0)  # no hover highlight
        height = self.page.locator("iframe").bounding_box()["height"]
        self.page.set_viewport_size({"width": 860, "height": int(height) + 60})  # all of the view is painted
        self.page.locator("iframe").screenshot(path=str(SCREENSHOTS / name), animations="disabled")
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(exist_ok=True)
            shutil.copy(SCREENSHOTS / name, DOCS / name)


@pytest.fixture
def host(browser: Any, origin: str, host_script: str) -> Iterator[Host]:
    context = browser.new_context(viewport={"width": 860, "height": 1000}, device_scale_factor=1.5)
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
    yield Host(page, origin)
    context.close()
    # the view fetched nothing: every request came from the host page (itself, its script, MCP)
    assert set(requests) <= {f"{origin}/host.html", f"{origin}/host.js", f"{origin}/mcp"}, requests
    assert problems == []


def figures(totals: dict[str, Any]) -> dict[str, str]:
    """The headline numbers as the view must print them."""
    return {
        "calls": f"{totals['calls']:,}",
        "answered": f"{totals['answered']:,}",
        "missed": f"{totals['missed']:,}",
        "answer_rate": f"{totals['answer_rate'] * 100:.1f}%",
    }


def test_the_summary_shows_one_bar_per_group_and_the_tools_totals(host: Host):
    summary = host.show("summarize_calls", {"group_by": ["line"], "since": "last_30_days"})
    groups = summary["groups"]
    assert 2 <= len(groups) <= 12
    assert host.view.locator(".bar").count() == len(groups)
    assert host.text(".bar .label") == [g["group"]["line"] for g in groups]
    for metric, shown in figures(summary["totals"]).items():
        assert host.text(f"[data-metric={metric}] .stat-value") == [shown]
    # each bar says its numbers in words, for people who cannot see the chart
    first = host.view.locator(".bar").first
    assert f"{groups[0]['calls']} calls" in first.get_attribute("aria-label")
    # and the numbers are in a table too
    host.view.get_by_text("Numbers for each line").click()
    table_calls = host.text(".groups-table tbody td:nth-child(2)")
    assert table_calls == [f"{g['calls']:,}" for g in groups]
    top = summary["top_callers"][0]
    assert top["number"] in host.text(".callers li")[0]
    host.view.get_by_text("Numbers for each line").click()
    host.screenshot("dashboard-light.png")


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


def test_a_click_on_a_bar_lists_that_slice_with_list_calls(host: Host):
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
    rows = host.view.locator(".calls-table tbody tr")
    assert rows.count() == len(page["calls"]) > 0
    assert set(host.column("Line")) == {line}
    assert host.view.get_by_role("heading", name=f"Calls: {line}").is_visible()
    assert host.page.locator("iframe").bounding_box()["height"] > before  # the frame grew to fit the table
    # the model is told what the person opened, for the next turn
    [told] = host.page.evaluate("host.contexts")
    assert told["content"][0]["text"] == f"The user opened the calls of {line} ({group['calls']:,} calls)."

    host.view.get_by_role("button", name="More calls").click()
    second = host.wait_for_calls(2)[1]
    assert second["name"] == "list_calls" and second["arguments"]["page"] == page["page"]
    total = len(page["calls"]) + len(second["result"]["structuredContent"]["calls"])
    assert rows.count() == total

    host.view.get_by_role("button", name="Duration").click()
    shown = [row["duration_s"] for row in [*page["calls"], *second["result"]["structuredContent"]["calls"]]]
    header = host.view.locator("th", has_text="Duration")
    assert header.get_attribute("aria-sort") == "ascending"
    assert host.column("Duration")[0] == _duration(min(shown))
    assert {c["name"] for c in host.calls()} <= {"summarize_calls", "list_calls"}  # never a write tool


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
    times = host.view.locator(".calls-table tbody td:first-child time")
    assert times.count() > 0
    weekdays = {WEEKDAYS[datetime.fromisoformat(t.get_attribute("datetime")).weekday()] for t in times.all()}
    assert weekdays == {weekday}


def test_the_dark_theme_follows_the_host(host: Host):
    summary = host.show("summarize_calls", {"group_by": ["day"], "since": "last_30_days"}, theme="dark")
    root = host.view.locator("html")
    assert root.get_attribute("data-theme") == "dark"
    assert _luminance(host.view.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")) < 0.2
    day = summary["groups"][3]["group"]["day"]
    host.view.locator(".bar").nth(3).click()
    [call] = host.wait_for_calls(1)
    assert (call["arguments"]["since"], call["arguments"]["until"]) == (day, day)  # that whole local day
    dates = {t.get_attribute("datetime")[:10] for t in host.view.locator(".calls-table tbody time").all()}
    assert dates == {day}
    host.screenshot("dashboard-dark.png")
    host.page.evaluate("host.setTheme('light')")
    host.view.locator("html[data-theme=light]").wait_for()
    assert _luminance(host.view.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")) > 0.8


def test_a_list_calls_result_is_a_sortable_table_with_more(host: Host):
    page = host.show("list_calls", {"since": "last_7_days", "limit": 10})
    rows = host.view.locator(".calls-table tbody tr")
    assert rows.count() == page["returned"] == 10
    headers = [h.rstrip("↕▲▼ ") for h in host.text(".calls-table thead th")]
    assert headers[0] == "Time" and {"Direction", "Line", "Contact", "Duration"} <= set(headers)
    # one column for the other party: the caller of an incoming call, the number dialled for an outgoing one
    for row, contact in zip(page["calls"], host.column("Contact"), strict=True):
        expected = row["to"] if row["type"] == "outgoing" else (row.get("caller_name") or "") + row["from"]
        assert contact == expected
    host.view.get_by_role("button", name="More calls").click()
    [call] = host.wait_for_calls(1)
    assert call["arguments"] == {"since": "last_7_days", "limit": 10, "page": page["page"]}
    assert rows.count() == 20


def test_full_screen_is_asked_of_the_host_and_undone(host: Host):
    host.show("list_calls", {"limit": 5})
    host.view.get_by_role("button", name="Full screen").click()
    host.view.get_by_role("button", name="Exit full screen").click()
    host.view.get_by_role("button", name="Full screen").wait_for()
    assert host.page.evaluate("document.body.dataset.displayMode") == "inline"


def test_a_host_that_keeps_tools_from_apps_gets_a_read_only_dashboard(host: Host):
    summary = host.show("summarize_calls", {"group_by": ["line"]}, tools=False)
    assert host.view.locator(".bar").count() == len(summary["groups"])
    assert host.view.get_by_label("Group by").is_disabled() and host.view.get_by_label("Period").is_disabled()
    host.view.locator(".bar").first.click()
    assert "ask in the chat instead" in host.view.get_by_role("alert").inner_text()
    assert host.calls() == []


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}:{rest:02d}"


def _luminance(css: str) -> float:
    r, g, b = (int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
