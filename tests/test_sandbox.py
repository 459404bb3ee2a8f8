"""Tests of the bundled SIPSIM simulator itself, over real loopback HTTP with plain httpx."""

from __future__ import annotations

import ast
import base64
import copy
import functools
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from sipsim_mcp.sandbox import ALL_SCOPES, ClientSpec, Fault, Sandbox, SandboxConfig, dataset
from sipsim_mcp.sandbox.dataset import build_dataset, iso, paris_tz

ANCHOR = datetime(2025, 6, 30, 12, 0, tzinfo=timezone.utc)
WINDOW_START = "2025-05-01T00:00:00Z"
TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

# Plain-HTTP helpers; verify=False skips loading CA certificates (slow, useless on loopback http).
http_get = functools.partial(httpx.get, verify=False)
http_post = functools.partial(httpx.post, verify=False)

CLIENTS = [
    ClientSpec("demo", "demo-secret"),
    ClientSpec("narrow", "narrow-secret", scopes=frozenset({"calls.read", "account.read"}), narrow_scopes=True),
    ClientSpec("strict", "strict-secret", scopes=frozenset({"calls.read"})),
    ClientSpec("code-only", "code-secret", grant_types=frozenset({"authorization_code"})),
]


# --------------------------------------------------------------------------- fixtures & helpers


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A shared sandbox for read-only tests."""
    with Sandbox(SandboxConfig(anchor=ANCHOR, clients=list(CLIENTS))) as sandbox:
        yield sandbox


@pytest.fixture
def fresh() -> Iterator[Callable[..., Sandbox]]:
    """Factory of small started sandboxes (for tests that change state), stopped afterwards."""
    started: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        config = SandboxConfig(**{"anchor": ANCHOR, "calls": 400, **overrides})
        started.append(Sandbox(config).start())
        return started[-1]

    yield make
    for sandbox in started:
        sandbox.stop()


def get_token(sandbox: Sandbox, scope: str | None = None, client: str = "demo", secret: str = "demo-secret") -> str:
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
    if scope is not None:
        form["scope"] = scope
    response = http_post(sandbox.token_url, data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api(sandbox: Sandbox, token: str | None = None, scope: str | None = None) -> httpx.Client:
    """An httpx client on the API with a bearer token (a fresh one with ``scope`` by default)."""
    token = token or get_token(sandbox, scope)
    return httpx.Client(base_url=sandbox.api_url, headers={"Authorization": f"Bearer {token}"}, verify=False)


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Iterator[httpx.Client]:
    with api(sb) as c:
        yield c


def fetch_all(c: httpx.Client, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list endpoint following the page tokens; also the number of pages."""
    items: list[dict[str, Any]] = []
    pages, page = 0, None
    while True:
        response = c.get(path, params={**params, **({"page": page} if page else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["data"]
        pages += 1
        pagination = body["pagination"]
        assert pagination["count"] == len(body["data"]) <= pagination["limit"]
        if not pagination["has_more"]:
            assert "page" not in pagination
            return items, pages
        page = pagination["page"]
        assert json.loads(base64.b64decode(page)) == {"id": body["data"][-1]["id"]}


def brute(
    calls: list[dict[str, Any]],
    start: str,
    end: str,
    keep: Callable[[dict[str, Any]], bool] = lambda c: True,
) -> list[int]:
    """Ids (newest first) of the calls in [start, end] that ``keep`` accepts."""
    return [c["id"] for c in reversed(calls) if start <= c["start_time"] <= end and keep(c)]


def errors_of(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["status"] == response.status_code
    assert uuid.UUID(body["request_id"]).version == 4
    assert body["path"] == response.request.url.path
    return body["errors"]


def external(call: dict[str, Any]) -> str:
    return call["caller_number"] if call["direction"] == "inbound" else call["receiver_number"]


# --------------------------------------------------------------------------- data set


def test_same_seed_same_data_other_seed_other_data() -> None:
    config = SandboxConfig(anchor=ANCHOR, calls=800)
    first = build_dataset(config)
    dataset._seeded.cache_clear()  # generated again, not copied from the first build
    second = build_dataset(SandboxConfig(anchor=ANCHOR, calls=800))
    assert first.calls == second.calls
    assert first.transcriptions == second.transcriptions and first.summaries == second.summaries
    assert first.phones == second.phones and first.tags == second.tags
    other = build_dataset(SandboxConfig(anchor=ANCHOR, calls=800, seed=8))
    assert [c["start_time"] for c in other.calls] != [c["start_time"] for c in first.calls]


def test_simulators_of_one_config_share_no_data() -> None:
    config = SandboxConfig(anchor=ANCHOR, calls=800)
    changed, untouched = Sandbox(config), Sandbox(config)
    before = copy.deepcopy(untouched.data)
    data = changed.data
    call = next(c for c in data.calls if c["tags"])
    call["tags"][0]["name"] = "Changed"
    call["tags"].append({"id": 99, "name": "Added"})
    call["status"] = "CANCEL"
    next(iter(data.transcriptions.values()))["payload"][0]["text"] = "changed"
    next(iter(data.summaries.values()))["summary"] = "changed"
    data.phones[0]["name"] = "Changed"
    data.tags.append({"id": 99, "name": "Added"})
    data.employee_phones[next(iter(data.employee_phones))].append(999)
    data.account["company_name"] = "Changed"
    data.webhooks_enabled.clear()
    data.next_tag_id += 1
    assert untouched.data == before
    assert Sandbox(config).data == before
    assert data != before


def test_dataset_is_consistent(sb: Sandbox) -> None:
    data = sb.data
    calls = data.calls
    assert len(calls) == 5000
    assert [c["id"] for c in calls] == list(range(100001, 105001))
    assert [c["start_time"] for c in calls] == sorted(c["start_time"] for c in calls)
    assert iso(ANCHOR - timedelta(days=180)) < calls[0]["start_time"] and calls[-1]["start_time"] <= iso(ANCHOR)
    phones = {p["id"]: p for p in data.phones}
    employees = {e["id"]: e["name"] for e in data.employees}
    tags = {t["id"]: t for t in data.tags}
    assert len({c["pbx_id"] for c in calls}) == len(calls)
    for c in calls:
        assert all(TS.fullmatch(c[k]) for k in ("start_time", "end_time"))
        assert c["start_time"] <= c["end_time"]
        phone = phones[c["phone_id"]]
        assert c["phone_name"] == phone["name"]
        answered = c["status"] == "ANSWER"
        assert (c["answer_time"] is not None) == answered and (c["duration"] > 0) == answered
        if c["employee_id"] is None:
            assert c["call_type"] in ("missed", "voicemail") and c["employee_name"] is None
        else:
            assert employees[c["employee_id"]] == c["employee_name"]
            assert c["phone_id"] in data.employee_phones[c["employee_id"]]
        for t in c["tags"]:
            assert t == {k: tags[t["id"]][k] for k in ("id", "name", "color")}
        direction = "inbound" if c["direction"] == "inbound" else "outbound"
        records = phone["record_setting"][f"record_{direction}_call"]
        assert (c["recording_url"] is not None) == (answered and records)
        assert (c["voicemail_url"] is not None) == (c["call_type"] == "voicemail")
        if c["direction"] == "inbound":
            assert c["receiver_number"] == phone["number"]
            assert (c["call_type"], c["status"] == "ANSWER") in {
                ("inbound", True),
                ("missed", False),
                ("voicemail", False),
            }
        else:
            assert c["caller_number"] == phone["outbound_setting"]["outbound_number"] and c["caller_name"] is None
            assert c["call_type"] == "outgoing" and c["status"] in ("ANSWER", "NOANSWER", "BUSY")
    for call_id, tr in data.transcriptions.items():
        assert tr["speech_state"] == "speech_recognized" and data.call(call_id)["recording_url"]
        assert {s["channel"] for s in tr["payload"]} == {0, 1}
    assert data.summaries and set(data.summaries) <= set(data.transcriptions)


def test_dataset_is_realistic(sb: Sandbox) -> None:
    calls = sb.data.calls
    types = Counter(c["call_type"] for c in calls)
    inbound = types["inbound"] + types["missed"] + types["voicemail"]
    assert 0.52 < inbound / len(calls) < 0.68
    assert 0.65 < types["inbound"] / inbound < 0.82
    assert 0.12 < types["missed"] / inbound < 0.27
    assert 0.03 < types["voicemail"] / inbound < 0.12
    outgoing = [c for c in calls if c["direction"] == "outgoing"]
    assert 0.62 < sum(c["status"] == "ANSWER" for c in outgoing) / len(outgoing) < 0.78
    assert Counter(c["status"] for c in calls if c["call_type"] == "missed").most_common(1)[0][0] == "MISSED"
    lines = Counter(c["phone_name"] for c in calls)
    assert {name for name, _ in lines.most_common(2)} == {"Sales", "Support"}
    assert "Warehouse" not in lines
    assert 0.18 < sum(bool(c["tags"]) for c in calls) / len(calls) < 0.32
    assert all(len(c["tags"]) <= 2 for c in calls)
    per_caller = Counter(external(c) for c in calls).most_common()
    assert per_caller[0][1] > 1.3 * per_caller[1][1]
    assert 300 < len(per_caller) < 420
    vip_calls = [c for c in calls if any(t["name"] == "VIP" for t in c["tags"])]
    assert len({external(c) for c in vip_calls}) <= 3
    complaint_lines = Counter(c["phone_name"] for c in calls for t in c["tags"] if t["name"] == "Complaint")
    assert set(complaint_lines) == {"Support"}
    tz = paris_tz()
    local = [
        datetime.strptime(c["start_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).astimezone(tz)
        for c in calls
    ]
    assert sum(8 <= d.hour < 19 for d in local) / len(local) > 0.8
    weekday = Counter(d.weekday() for d in local)
    assert min(weekday[i] for i in range(5)) > 3 * max(weekday[5], weekday[6])
    durations = sorted(c["duration"] for c in calls if c["status"] == "ANSWER")
    assert durations[0] >= 20 and durations[-1] <= 1800 and durations[len(durations) // 2] < 300
    names = [e["name"] for e in sb.data.employees]
    assert {"Marie Dupont", "Marie Lambert"} <= set(names) and 8 <= len(names) <= 12


def test_sandbox_package_is_independent_of_the_client() -> None:
    package = Path(__file__).resolve().parents[1] / "sipsim_mcp" / "sandbox"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, source
                assert node.level == 1 or not (node.module or "").startswith("sipsim_mcp"), source
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("sipsim_mcp") for a in node.names), source


# --------------------------------------------------------------------------- token endpoint


def token_post(sandbox: Sandbox, **form: str) -> httpx.Response:
    return http_post(sandbox.token_url, data=form)


def test_token_success(sb: Sandbox) -> None:
    before = int(time.time())
    r = token_post(
        sb,
        grant_type="client_credentials",
        client_id="demo",
        client_secret="demo-secret",
        scope="phones.read calls.read",
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "created_at"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", body["access_token"])
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["scope"] == "phones.read calls.read"
    assert before <= body["created_at"] <= time.time() + 1
    everything = token_post(sb, grant_type="client_credentials", client_id="demo", client_secret="demo-secret")
    assert everything.json()["scope"].split() == list(ALL_SCOPES)


def test_token_requires_form_encoding(sb: Sandbox) -> None:
    r = http_post(
        sb.token_url, json={"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


CC = {"grant_type": "client_credentials"}
DEMO = {"client_id": "demo", "client_secret": "demo-secret"}


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({**CC, "client_id": "demo"}, 400, "invalid_request"),
        (DEMO, 400, "invalid_request"),
        ({**DEMO, "grant_type": "password"}, 400, "unsupported_grant_type"),
        ({**CC, "client_id": "demo", "client_secret": "nope"}, 401, "invalid_client"),
        ({**CC, "client_id": "ghost", "client_secret": "x"}, 401, "invalid_client"),
        ({**CC, "client_id": "code-only", "client_secret": "code-secret"}, 400, "unauthorized_client"),
        ({**CC, **DEMO, "scope": "calls.read calls.delete"}, 400, "invalid_scope"),
        (
            {**CC, "client_id": "strict", "client_secret": "strict-secret", "scope": "calls.read tags.write"},
            400,
            "invalid_scope",
        ),
    ],
)
def test_token_errors(sb: Sandbox, form: dict[str, str], status: int, error: str) -> None:
    r = token_post(sb, **form)
    assert r.status_code == status
    body = r.json()
    assert body["error"] == error and body["error_description"]
    if error == "invalid_client":
        assert body["error_description"] == "Client authentication failed"
    if error == "invalid_scope":
        assert ("calls.delete" if "calls.delete" in form["scope"] else "tags.write") in body["error_description"]
        assert "calls.read" not in body["error_description"]


def test_token_narrow_scopes_grants_the_intersection(sb: Sandbox) -> None:
    r = token_post(
        sb,
        grant_type="client_credentials",
        client_id="narrow",
        client_secret="narrow-secret",
        scope="tags.write calls.read account.read",
    )
    assert r.status_code == 200 and r.json()["scope"] == "calls.read account.read"
    with api(sb, r.json()["access_token"]) as c:
        assert c.get("/tags").status_code == 403
        assert c.get("/account").status_code == 200
    r = token_post(
        sb, grant_type="client_credentials", client_id="narrow", client_secret="narrow-secret", scope="tags.read"
    )
    assert r.status_code == 200 and r.json()["scope"] == ""


# --------------------------------------------------------------------------- auth and envelope


def test_missing_and_invalid_token(sb: Sandbox) -> None:
    r = http_get(sb.api_url + "/account")
    assert r.status_code == 401 and errors_of(r) == ["Missing access token"]
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    r = http_get(sb.api_url + "/account", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and errors_of(r) == ["Invalid access token"]
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_expired_token(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh()
    with api(sandbox) as c:
        assert c.get("/account").status_code == 200
        sandbox.expire_tokens()
        r = c.get("/account")
        assert r.status_code == 401 and errors_of(r) == ["Access token expired"]
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    with api(sandbox) as c:
        assert c.get("/account").status_code == 200


def test_insufficient_scope(sb: Sandbox) -> None:
    with api(sb, scope="account.read") as c:
        r = c.get("/calls", params={"start_time": WINDOW_START})
        assert r.status_code == 403 and errors_of(r) == ["Insufficient scope: calls.read required"]
        r = c.post("/calls", json={"phone_id": 101, "number": "+33612345678"})
        assert errors_of(r) == ["Insufficient scope: calls.create or calls.write required"]
        r = c.post("/calls/100001/tags", json={"tag_id": 1})
        assert errors_of(r) == ["Insufficient scope: calls.tags.write or calls.write required"]


def test_issue_token_helper(sb: Sandbox) -> None:
    with api(sb, sb.issue_token(["tags.read"])) as c:
        assert c.get("/tags").status_code == 200
        assert c.get("/account").status_code == 403


def test_success_envelope(client: httpx.Client) -> None:
    r = client.get("/account")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"status", "request_id", "timestamp", "data"}
    assert body["status"] == 200 and uuid.UUID(body["request_id"]).version == 4
    assert TS.fullmatch(body["timestamp"])
    stamp = datetime.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((stamp - datetime.now(timezone.utc)).total_seconds()) < 5
    assert body["data"] == {
        "id": 12345,
        "company_name": "Acme Corporation",
        "email": "admin@acme.com",
        "timezone": "Europe/Paris",
        "country": "FR",
        "plan": "business",
        "created_at": body["data"]["created_at"],
    }


def test_routing_errors(client: httpx.Client, sb: Sandbox) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404 and errors_of(r) == ["Not found"]
    r = client.put("/account", json={})
    assert r.status_code == 405 and r.json()["errors"]
    r = client.post("/tags", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and errors_of(r) == ["Request body must be JSON"]
    assert http_get(sb.base_url + "/elsewhere").status_code == 404


# --------------------------------------------------------------------------- calls


S = {"start_time": WINDOW_START}
BAD_TYPES = "call_types must be a comma-separated subset of inbound, outgoing, missed, voicemail"
BAD_START = "start_time must be an ISO 8601 date-time"
BAD_LIMIT = "limit must be between 20 and 1000"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("params", "status", "errors"),
    [
        ({}, 422, ["start_time is required"]),
        ({"start_time": "yesterday"}, 422, [BAD_START]),
        ({"start_time": "2025-06-01T10:00:00"}, 422, [BAD_START]),
        ({**S, "end_time": "2025-13-01T00:00:00Z"}, 422, ["end_time must be an ISO 8601 date-time"]),
        ({**S, "end_time": "2025-04-01T00:00:00Z"}, 422, ["end_time must be after start_time"]),
        ({**S, "limit": "19"}, 422, [BAD_LIMIT]),
        ({**S, "limit": "1001"}, 422, [BAD_LIMIT]),
        ({**S, "limit": "ten"}, 422, [BAD_LIMIT]),
        ({**S, "employees": "1,x"}, 422, ["employees must be comma-separated integer ids"]),
        ({**S, "tags": "1;2"}, 422, ["tags must be comma-separated integer ids"]),
        ({**S, "call_types": "inbound,lost"}, 422, [BAD_TYPES]),
        ({**S, "page": "%%%"}, 400, ["Invalid page token"]),
        ({**S, "page": b64(b"[1]")}, 400, ["Invalid page token"]),
        ({**S, "page": b64(b'{"id":"call_224"}')}, 400, ["Invalid page token"]),
    ],
)
def test_list_calls_validation(client: httpx.Client, params: dict[str, str], status: int, errors: list[str]) -> None:
    r = client.get("/calls", params=params)
    assert r.status_code == status and errors_of(r) == errors


def test_list_calls_window_and_offsets(client: httpx.Client, sb: Sandbox) -> None:
    calls = sb.data.calls
    target = calls[2500]
    params = {"start_time": target["start_time"], "end_time": target["start_time"]}
    r = client.get("/calls", params=params)
    assert [c["id"] for c in r.json()["data"]] == brute(calls, target["start_time"], target["start_time"])
    assert r.json()["data"][0] == target
    utc = client.get("/calls", params={"start_time": "2025-06-20T08:00:00Z", "end_time": "2025-06-21T08:00:00Z"})
    paris = client.get(
        "/calls", params={"start_time": "2025-06-20T10:00:00+02:00", "end_time": "2025-06-21T10:00:00+02:00"}
    )
    assert utc.json()["data"] == paris.json()["data"] and utc.json()["data"]
    assert [c["id"] for c in utc.json()["data"]] == brute(calls, "2025-06-20T08:00:00Z", "2025-06-21T08:00:00Z")
    default_end = client.get("/calls", params={"start_time": "2025-06-29T00:00:00Z"}).json()
    assert [c["id"] for c in default_end["data"]] == brute(calls, "2025-06-29T00:00:00Z", "9999")


def test_pagination_walks_the_whole_window(client: httpx.Client, sb: Sandbox) -> None:
    items, pages = fetch_all(client, "/calls", {"start_time": WINDOW_START})
    expected = brute(sb.data.calls, WINDOW_START, "9999")
    assert [c["id"] for c in items] == expected and pages == -(-len(expected) // 1000)
    items, pages = fetch_all(
        client, "/calls", {"start_time": "2025-06-01T00:00:00Z", "end_time": "2025-06-15T00:00:00Z", "limit": 37}
    )
    expected = brute(sb.data.calls, "2025-06-01T00:00:00Z", "2025-06-15T00:00:00Z")
    assert [c["id"] for c in items] == expected and pages == -(-len(expected) // 37) and pages > 3


def test_filters_match_brute_force(client: httpx.Client, sb: Sandbox) -> None:
    calls = sb.data.calls
    cases: list[tuple[dict[str, str], Callable[[dict[str, Any]], bool]]] = [
        ({"call_types": "missed"}, lambda c: c["call_type"] == "missed"),
        ({"call_types": "inbound,outgoing"}, lambda c: c["call_type"] in ("inbound", "outgoing")),
        ({"tags": "1,4"}, lambda c: any(t["id"] in (1, 4) for t in c["tags"])),
        ({"employees": "1,6"}, lambda c: c["employee_id"] in (1, 6)),
        ({"employees": "3", "call_types": "inbound", "tags": "4"},
         lambda c: c["employee_id"] == 3 and c["call_type"] == "inbound" and any(t["id"] == 4 for t in c["tags"])),
        ({"search": "rousseau"}, lambda c: "rousseau" in (c["caller_name"] or "").casefold()),
    ]  # fmt: skip
    for params, keep in cases:
        items, _ = fetch_all(client, "/calls", {"start_time": WINDOW_START, "limit": 500, **params})
        expected = brute(calls, WINDOW_START, "9999", keep)
        assert [c["id"] for c in items] == expected and expected, params


def test_search_by_number_in_any_form(client: httpx.Client, sb: Sandbox) -> None:
    calls = sb.data.calls
    top = Counter(external(c) for c in calls if external(c).startswith("+336")).most_common(1)[0][0]
    expected = brute(calls, WINDOW_START, "9999", lambda c: top in (c["caller_number"], c["receiver_number"]))
    digits = "0" + top[3:]
    national = " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    spaced = f"+33 {top[3]} {top[4:6]} {top[6:8]} {top[8:10]} {top[10:]}"
    for text in (top, national, spaced, digits.replace(" ", "."), top[-7:]):
        items, _ = fetch_all(client, "/calls", {"start_time": WINDOW_START, "search": text})
        assert [c["id"] for c in items] == expected, text
    assert client.get("/calls", params={"start_time": WINDOW_START, "search": "zzz-nobody"}).json()["data"] == []


def test_get_one_call(client: httpx.Client, sb: Sandbox) -> None:
    r = client.get("/calls/100042")
    assert r.status_code == 200 and r.json()["data"] == sb.data.call(100042)
    r = client.get("/calls/999")
    assert r.status_code == 404 and errors_of(r) == ["Call not found"]
    assert client.get("/calls/call_100042").json()["data"]["id"] == 100042  # the string_ids variant's form
    r = client.get("/calls/call_abc")
    assert r.status_code == 400 and errors_of(r) == ["Invalid call id"]


def test_click_to_call(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh()
    with api(sandbox, scope="calls.write") as c:
        r = c.post("/calls", json={"phone_id": 101, "number": "+33612345678"})
        assert r.status_code == 201
        data = r.json()["data"]
        assert data["id"] == 100401 and re.fullmatch(r"call_[0-9a-f]{8}", data["pbx_id"])
        assert data["status"] == "initiated" and data["phone_id"] == 101 and data["number"] == "+33612345678"
        assert TS.fullmatch(data["created_at"])
        assert sandbox.data.initiated_calls == [data] and len(sandbox.data.calls) == 400
        assert errors_of(c.post("/calls", json={"phone_id": 106, "number": "+33612345678"})) == ["Phone is not active"]
        assert errors_of(c.post("/calls", json={"phone_id": 1, "number": "+33612345678"})) == ["Phone not found"]
        r = c.post("/calls", json={"phone_id": 101, "number": "0612345678"})
        assert r.status_code == 422
        assert errors_of(r) == ["number must be an E.164 phone number, e.g. +33612345678"]
        assert errors_of(c.post("/calls", json={"number": "+33612345678"})) == ["phone_id is required"]
    with api(sandbox, scope="calls.create") as c:
        assert c.post("/calls", json={"phone_id": 103, "number": "+4930123456"}).json()["data"]["id"] == 100402


def test_call_tags(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh()
    call = next(c for c in sandbox.data.calls if not c["tags"])
    with api(sandbox, scope="calls.tags.write") as c:
        r = c.post(f"/calls/{call['id']}/tags", json={"tag_id": 3})
        assert r.status_code == 200
        assert r.json()["data"]["tags"] == [{"id": 3, "name": "Follow-up", "color": "#F59E0B"}]
        assert c.post(f"/calls/{call['id']}/tags", json={"tag_id": 3}).json()["data"]["tags"] == call["tags"]
        assert len(call["tags"]) == 1
        assert errors_of(c.post(f"/calls/{call['id']}/tags", json={"tag_id": 99})) == ["Tag not found"]
        assert errors_of(c.post(f"/calls/{call['id']}/tags", json={"tag_id": "three"})) == ["tag_id is required"]
        assert errors_of(c.post("/calls/1/tags", json={"tag_id": 3})) == ["Call not found"]
        r = c.delete(f"/calls/{call['id']}/tags/3")
        assert r.status_code == 200 and r.json()["data"]["tags"] == [] == call["tags"]
        r = c.delete(f"/calls/{call['id']}/tags/3")
        assert r.status_code == 404 and errors_of(r) == ["Call does not have this tag"]
    with api(sandbox, scope="calls.write") as c:
        assert c.post(f"/calls/{call['id']}/tags", json={"tag_id": 1}).status_code == 200


# --------------------------------------------------------------------------- AI


def test_seeded_transcriptions_and_summaries(client: httpx.Client, sb: Sandbox) -> None:
    call_id = next(iter(sb.data.summaries))
    r = client.get(f"/calls/{call_id}/transcription")
    body = r.json()["data"]
    assert r.status_code == 200 and body["speech_state"] == "speech_recognized" and body["call_id"] == call_id
    segment = body["payload"][0]
    assert set(segment) == {"channel", "start", "end", "text"} and isinstance(segment["start"], float)
    summary = client.get(f"/calls/{call_id}/summary").json()["data"]
    assert set(summary) == {"id", "call_id", "summary", "status", "created_at"}
    assert summary["status"] == "done" and summary["summary"] and summary["call_id"] == call_id


def test_transcription_and_summary_flow(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(transcription_delay=0.3, summary_delay=0.3)
    data = sandbox.data
    call = next(c for c in data.calls if c["recording_url"] and c["id"] not in data.transcriptions)
    silent = next(c for c in data.calls if c["recording_url"] is None)
    cid = call["id"]
    with api(sandbox) as c:
        assert errors_of(c.get(f"/calls/{cid}/transcription")) == ["Transcription not found"]
        assert errors_of(c.get(f"/calls/{cid}/summary")) == ["Summary not found"]
        r = c.post(f"/calls/{silent['id']}/transcription")
        assert r.status_code == 422 and errors_of(r) == ["Call has no recording to transcribe"]
        r = c.post(f"/calls/{cid}/transcription")
        assert r.status_code == 201
        assert r.json()["data"] == {"call_id": cid, "speech_state": "speech_sent_to_recognition"}
        pending = c.get(f"/calls/{cid}/transcription").json()["data"]
        assert pending == {"call_id": cid, "speech_state": "speech_sent_to_recognition", "payload": []}
        r = c.post(f"/calls/{cid}/summary")
        assert r.status_code == 422 and errors_of(r) == ["Call has no transcription yet: request one first"]
        time.sleep(0.35)
        done = c.get(f"/calls/{cid}/transcription").json()["data"]
        assert done["speech_state"] == "speech_recognized" and len(done["payload"]) >= 6
        assert {s["channel"] for s in done["payload"]} == {0, 1}
        assert all(0 <= s["start"] < s["end"] <= call["duration"] for s in done["payload"])
        again = c.post(f"/calls/{cid}/transcription")
        assert again.status_code == 200 and again.json()["data"] == done
        r = c.post(f"/calls/{cid}/summary")
        assert r.status_code == 201
        first = r.json()["data"]
        assert first["status"] == "processing" and first["summary"] is None and first["call_id"] == cid
        assert c.get(f"/calls/{cid}/summary").json()["data"]["status"] == "processing"
        time.sleep(0.35)
        final = c.get(f"/calls/{cid}/summary").json()["data"]
        assert final["status"] == "done" and final["id"] == first["id"] and final["summary"]


def test_transcription_text_is_deterministic_and_localised(sb: Sandbox) -> None:
    french = next(
        c for c in sb.data.transcriptions.values() if sb.data.call(c["call_id"])["caller_number"].startswith("+33")
    )
    assert any("Bonjour" in s["text"] for s in french["payload"])
    rebuilt = build_dataset(SandboxConfig(anchor=ANCHOR, clients=list(CLIENTS)))
    assert rebuilt.transcriptions[french["call_id"]] == french


# --------------------------------------------------------------------------- phones


def test_phones_list_and_get(client: httpx.Client, sb: Sandbox) -> None:
    body = client.get("/phones").json()
    assert body["pagination"] == {"count": 7, "limit": 1000, "has_more": False}
    assert [p["name"] for p in body["data"]] == [
        "Sales",
        "Sales Germany",
        "Support",
        "Reception",
        "Billing",
        "Night Line",
        "Warehouse",
    ]
    assert set(body["data"][0]) == {
        "id", "name", "status", "internal_number", "number", "created_at", "updated_at", "group",
        "outbound_setting", "record_setting", "voicemail_setting", "forwarding_setting", "audio_setting",
    }  # fmt: skip
    assert set(body["data"][0]["forwarding_setting"]["conditional"]) == {"enabled", "timeout_seconds", "forward_number"}
    active = client.get("/phones", params={"status": "active"}).json()["data"]
    assert [p["id"] for p in active] == [101, 102, 103, 104, 105]
    assert client.get("/phones", params={"status": "broken"}).status_code == 422
    assert client.get("/phones/103").json()["data"] == sb.data.phone(103)
    assert errors_of(client.get("/phones/1")) == ["Phone not found"]
    assert errors_of(client.get("/phones/x")) == ["Invalid phone id"]
    page, _ = fetch_all(client, "/phones", {"limit": 20})
    assert len(page) == 7


FWD = "forwarding_setting"


@pytest.mark.parametrize(
    ("patch", "errors"),
    [
        ({"status": "active"}, ["Unknown field: status"]),
        ({"record_setting": {"record_all": True}}, ["Unknown field: record_setting.record_all"]),
        ({"record_setting": {"record_inbound_call": "yes"}}, ["record_setting.record_inbound_call must be a boolean"]),
        (
            {"outbound_setting": {"outbound_number": "01 84 88 01 01"}},
            ["outbound_setting.outbound_number must be an E.164 phone number"],
        ),
        (
            {FWD: {"conditional": {"timeout_seconds": 3}}},
            [f"{FWD}.conditional.timeout_seconds must be an integer between 5 and 120"],
        ),
        (
            {FWD: {"forced": {"enabled": True}}},
            [f"{FWD}.forced.forward_number is required when forwarding is enabled"],
        ),
        (
            {FWD: {"conditional": {"enabled": True, "forward_number": None}}},
            [f"{FWD}.conditional.forward_number is required when forwarding is enabled"],
        ),
        ({"name": ""}, ["name must be a non-empty string"]),
    ],
)
def test_phone_patch_validation(client: httpx.Client, sb: Sandbox, patch: dict[str, Any], errors: list[str]) -> None:
    before = json.loads(json.dumps(sb.data.phone(101)))
    r = client.patch("/phones/101", json=patch)
    assert r.status_code == 422 and errors_of(r) == errors
    assert sb.data.phone(101) == before


def test_phone_patch_deep_merge(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh()
    before = json.loads(json.dumps(sandbox.data.phone(103)))
    with api(sandbox, scope="phones.write phones.read") as c:
        r = c.patch(
            "/phones/103",
            json={
                "name": "Support FR",
                "record_setting": {"record_outbound_call": False},
                "forwarding_setting": {"forced": {"enabled": True, "forward_number": "+33612345678"}},
            },
        )
        assert r.status_code == 200
        phone = r.json()["data"]
        assert c.get("/phones/103").json()["data"] == phone
    assert phone["record_setting"] == {"record_inbound_call": True, "record_outbound_call": False}
    assert phone["forwarding_setting"]["forced"] == {"enabled": True, "forward_number": "+33612345678"}
    assert phone["forwarding_setting"]["conditional"] == before["forwarding_setting"]["conditional"]
    assert phone["name"] == "Support FR" and phone["updated_at"] > before["updated_at"]
    assert all(c["phone_name"] == "Support FR" for c in sandbox.data.calls if c["phone_id"] == 103)


# --------------------------------------------------------------------------- tags


def test_tag_crud(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh()
    with api(sandbox, scope="tags.read tags.write") as c:
        body = c.get("/tags").json()
        assert body["pagination"] == {"count": 6, "limit": 1000, "has_more": False}
        assert body["data"][0] == {"id": 1, "name": "VIP", "color": "#8B5CF6", "description": "Key customer accounts"}
        r = c.post("/tags", json={"name": "Partner"})
        assert r.status_code == 201
        assert r.json()["data"] == {"id": 7, "name": "Partner", "color": "#6B7280", "description": None}
        r = c.post("/tags", json={"name": "partner"})
        assert r.status_code == 409 and errors_of(r) == ["Tag with this name already exists"]
        assert r.json()["path"] == "/api/v2/tags"
        assert errors_of(c.post("/tags", json={"name": "X", "color": "red"})) == [
            "color must be a hex colour like #22C55E"
        ]
        assert errors_of(c.post("/tags", json={"color": "#123456"})) == ["name is required"]
        r = c.patch("/tags/1", json={"name": "VIP Customer", "color": "#7C3AED"})
        assert r.status_code == 200 and r.json()["data"]["name"] == "VIP Customer"
        tagged = [call for call in sandbox.data.calls if any(t["id"] == 1 for t in call["tags"])]
        assert tagged and all({"id": 1, "name": "VIP Customer", "color": "#7C3AED"} in call["tags"] for call in tagged)
        assert c.patch("/tags/2", json={"name": "lead"}).status_code == 409
        assert c.patch("/tags/5", json={"name": "LEAD"}).status_code == 200
        assert errors_of(c.patch("/tags/99", json={"name": "Z"})) == ["Tag not found"]
        r = c.delete("/tags/1")
        assert r.status_code == 200 and r.json()["data"] == {"id": 1, "deleted": True}
        assert not any(t["id"] == 1 for call in sandbox.data.calls for t in call["tags"])
        assert [t["id"] for t in c.get("/tags").json()["data"]] == [2, 3, 4, 5, 6, 7]
        assert c.delete("/tags/1").status_code == 404


# --------------------------------------------------------------------------- webhooks


def test_webhooks(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(calls=10)
    with api(sandbox, scope="webhooks.read webhooks.write") as c:
        body = c.get("/webhooks/available").json()
        assert "pagination" not in body and len(body["data"]) == 14
        assert body["data"][0] == {"event": "incoming_call_start"} and body["data"][-1] == {"event": "rating"}
        assert c.get("/webhooks").json()["data"] == [{"event": "incoming_call_start"}, {"event": "incoming_call_end"}]
        r = c.post("/webhooks/outgoing_call_end")
        assert r.status_code == 200
        expected = [{"event": e} for e in ("incoming_call_start", "incoming_call_end", "outgoing_call_end")]
        assert r.json()["data"] == {"url": "https://hooks.example.com/sipsim", "events": expected}
        assert c.post("/webhooks/outgoing_call_end").json()["data"]["events"] == expected
        assert c.delete("/webhooks/incoming_call_start").json()["data"]["events"] == expected[1:]
        assert c.delete("/webhooks/incoming_call_start").status_code == 200
        assert sandbox.data.webhooks_enabled_events() == expected[1:]
        r = c.post("/webhooks/test")
        assert r.status_code == 404 and errors_of(r) == ["Unknown webhook event: test"]
    unconfigured = fresh(calls=10, webhook_url=None)
    with api(unconfigured, scope="webhooks.read webhooks.write") as c:
        r = c.post("/webhooks/sms")
        assert r.status_code == 422
        assert errors_of(r) == ["Webhooks integration is not configured: set a webhook URL in the SIPSIM dashboard"]


# --------------------------------------------------------------------------- faults and log


def test_fault_rate_limit_then_success(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(calls=10)
    sandbox.add_fault(Fault(method="GET", path="/api/v2/account", status=429, headers={"Retry-After": "1"}, times=2))
    with api(sandbox) as c:
        assert c.post("/tags", json={"name": "Other"}).status_code == 201
        for _ in range(2):
            r = c.get("/account")
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert errors_of(r) == ["Simulated failure"]
        assert c.get("/account").status_code == 200
    assert sandbox.faults[0].times == 0


def test_fault_malformed_and_delay(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(calls=10)
    sandbox.add_fault(Fault(path="/api/v2/phones", malformed=True))
    sandbox.add_fault(Fault(path="/api/v2/tags", delay=0.3))
    sandbox.add_fault(Fault(path="/api/v2/account", status=503, errors=["Maintenance"]))
    with api(sandbox) as c:
        r = c.get("/phones")
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            r.json()
        started = time.monotonic()
        assert c.get("/tags").status_code == 200
        assert time.monotonic() - started >= 0.29
        assert errors_of(c.get("/account")) == ["Maintenance"]
        assert c.get("/phones").json()["data"]


def test_slow_response_abandoned_by_the_client_is_logged_at_once(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(calls=10)
    sandbox.add_fault(Fault(method="GET", path="/api/v2/tags", delay=5.0))
    with api(sandbox) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.get("/tags", timeout=0.2)
        assert c.get("/tags").status_code == 200
        assert time.monotonic() - started < 2
    deadline = time.monotonic() + 1
    while len(sandbox.requests) < 3 and time.monotonic() < deadline:  # the log is in order of answering
        time.sleep(0.01)
    by_arrival = sorted(sandbox.requests[1:], key=lambda e: e.time)
    assert [(e.path, e.status) for e in by_arrival] == [("/api/v2/tags", 499), ("/api/v2/tags", 200)]


def test_fault_on_token_endpoint(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(calls=10)
    sandbox.add_fault(Fault(path="/oauth/token", status=503, headers={"Retry-After": "2"}))
    sandbox.add_fault(Fault(path="/oauth/token", status=500))
    form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
    r = http_post(sandbox.token_url, data=form)
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable" and r.headers["retry-after"] == "2"
    r = http_post(sandbox.token_url, data=form)
    assert r.status_code == 500 and r.json()["error"] == "server_error"
    assert http_post(sandbox.token_url, data=form).status_code == 200


def test_request_log(fresh: Callable[..., Sandbox]) -> None:
    sandbox = fresh(calls=10)
    token = get_token(sandbox, "calls.read tags.read")
    with api(sandbox, token) as c:
        c.get("/calls", params={"start_time": WINDOW_START, "limit": "20"})
        c.post("/tags", json={"name": "Nope"})
    http_get(sandbox.api_url + "/account")
    log = sandbox.requests
    assert [(e.method, e.path, e.status) for e in log] == [
        ("POST", "/oauth/token", 200),
        ("GET", "/api/v2/calls", 200),
        ("POST", "/api/v2/tags", 403),
        ("GET", "/api/v2/account", 401),
    ]
    assert log[0].body == {
        "grant_type": "client_credentials",
        "client_id": "demo",
        "client_secret": "[redacted]",
        "scope": "calls.read tags.read",
    }
    assert log[0].content_type == "application/x-www-form-urlencoded" and log[0].token_scopes is None
    assert log[1].query == {"start_time": WINDOW_START, "limit": "20"} and log[1].body is None
    assert log[1].token_scopes == ("calls.read", "tags.read")
    assert log[2].body == {"name": "Nope"} and log[2].content_type == "application/json"
    assert log[3].token_scopes is None
    assert log[0].time <= log[1].time <= log[2].time <= log[3].time <= time.monotonic()
    sandbox.clear_log()
    assert sandbox.requests == []


# --------------------------------------------------------------------------- lifecycle


def test_start_stop_is_quiet_and_leak_free(capfd: pytest.CaptureFixture[str]) -> None:
    before = threading.active_count()
    sandboxes = [Sandbox(SandboxConfig(anchor=ANCHOR, calls=10)).start() for _ in range(2)]
    assert len({s.base_url for s in sandboxes}) == 2
    assert all(s.api_url == s.base_url + "/api/v2" and s.token_url == s.base_url + "/oauth/token" for s in sandboxes)
    for s in sandboxes:
        assert http_get(s.api_url + "/account").status_code == 401
        s.stop()
        s.stop()
    assert threading.active_count() == before
    with pytest.raises(RuntimeError):
        _ = sandboxes[0].base_url
    with Sandbox(SandboxConfig(anchor=ANCHOR, calls=10)) as again:
        assert http_get(again.base_url + "/oauth/token").status_code == 405
    assert threading.active_count() == before
    assert capfd.readouterr().out == ""
