"""The simulator's shape variants: each serves the same data in the shape it claims (in process, no socket)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from starlette.testclient import TestClient

from sipsim_mcp.sandbox import VARIANTS, Sandbox, SandboxConfig

ANCHOR = datetime(2025, 6, 30, 12, 0, tzinfo=timezone.utc)
WINDOW = {"start_time": "2025-06-01T00:00:00Z"}


def client_for(variant: str) -> TestClient:
    sandbox = Sandbox(SandboxConfig(anchor=ANCHOR, calls=300, variant=variant))
    client = TestClient(sandbox.app, base_url="http://sipsim.test")
    form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
    token = client.post("/oauth/token", data=form).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture(scope="module")
def standard() -> Iterator[TestClient]:
    with client_for("standard") as client:
        yield client


def calls(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v2/calls", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_every_variant_has_a_description_and_unknown_names_are_refused():
    assert all(variant.description for variant in VARIANTS.values())
    with pytest.raises(ValueError, match=r"unknown variant\(s\) nope; known: standard"):
        Sandbox(SandboxConfig(variant="tags_as_ids,nope"))


@pytest.mark.parametrize(
    ("variant", "check"),
    [
        ("string_ids", lambda c, s: c["id"] == f"call_{s['id']}" and c["phone_id"] == f"ph_{s['phone_id']}"),
        ("tags_as_ids", lambda c, s: c["tags"] == [t["id"] for t in s["tags"]]),
        ("tags_as_names", lambda c, s: c["tags"] == ([t["name"] for t in s["tags"]] or None)),
        ("mixed_case", lambda c, s: c["status"] == s["status"].lower() and c["call_type"] == s["call_type"].upper()),
        ("naive_times", lambda c, s: c["start_time"] == s["start_time"].replace("T", " ").removesuffix("Z")),
        ("epoch_times", lambda c, s: isinstance(c["start_time"], int)),
        ("string_durations", lambda c, s: isinstance(c["duration"], str) and ":" in c["duration"]),
        ("no_plus_numbers", lambda c, s: c["caller_number"] == s["caller_number"].removeprefix("+")),
        ("minimal_call", lambda c, s: set(c) == {"id", "direction", "caller_number", "receiver_number"}),
    ],
)
def test_call_variants_reshape_the_same_calls(standard, variant, check):
    expected = calls(standard, limit=50)["data"]
    with client_for(variant) as client:
        got = calls(client, limit=50)["data"]
    assert len(got) == len(expected) == 50
    assert all(check(c, s) for c, s in zip(got, expected, strict=True))
    assert any(s["tags"] for s in expected)  # the tag variants were tried on tagged calls


def test_string_ids_are_accepted_back_in_paths_filters_and_bodies():
    with client_for("string_ids") as client:
        first = calls(client, limit=20)["data"][0]
        assert client.get(f"/api/v2/calls/{first['id']}").json()["data"]["id"] == first["id"]
        tag = client.get("/api/v2/tags").json()["data"][0]
        assert tag["id"].startswith("tag_")
        tagged = calls(client, tags=tag["id"], limit=20)["data"]
        assert tagged and all(tag["id"] in [t["id"] for t in c["tags"]] for c in tagged)
        answer = client.post(f"/api/v2/calls/{first['id']}/tags", json={"tag_id": tag["id"]})
        assert answer.status_code == 200 and tag["id"] in [t["id"] for t in answer.json()["data"]["tags"]]
        assert client.get("/api/v2/account").json()["data"]["id"] == "acc_12345"


def test_pagination_variants(standard):
    total = len(calls(standard, limit=1000)["data"])
    with client_for("no_pagination") as client:
        assert "pagination" in calls(client, limit=20)  # more pages follow: the block is there
        assert "pagination" not in calls(client, limit=1000)  # a single page: no block
    with client_for("loose_pagination") as client:
        first = calls(client, limit=20)
        assert first["pagination"]["has_more"] is None and isinstance(first["pagination"]["page"], int)
        seen, page = list(first["data"]), first["pagination"]["page"]
        while page is not None:
            body = calls(client, limit=20, page=page)
            seen += body["data"]
            page = body["pagination"]["page"]
    assert len(seen) == total


@pytest.mark.parametrize(
    ("variant", "status", "body"),
    [("write_true", 201, b"true"), ("write_empty", 201, b"{}"), ("write_204", 204, b"")],
)
def test_bare_write_answers(variant, status, body):
    with client_for(variant) as client:
        answer = client.post("/api/v2/tags", json={"name": "Variant"})
        assert (answer.status_code, answer.content) == (status, body)
        assert "Variant" in [t["name"] for t in client.get("/api/v2/tags").json()["data"]]  # the write happened


@pytest.mark.parametrize(("variant", "extra"), [("write_null", {"data": None}), ("write_message", {"message": "OK"})])
def test_enveloped_write_answers(variant, extra):
    with client_for(variant) as client:
        answer = client.post("/api/v2/tags", json={"name": "Variant"}).json()
        assert answer["status"] == 201 and answer["request_id"] and extra.items() <= answer.items()
        assert "data" in answer or variant == "write_message"


def test_loose_token_answer():
    with client_for("loose_token") as client:
        form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
        body = client.post("/oauth/token", data={**form, "scope": "calls.read tags.read"}).json()
    assert body["scope"] == "calls.read,tags.read" and body["expires_in"] == "7200"
    assert body["created_at"] == "not a time"


def test_the_sandbox_command_lists_and_checks_variants():
    help_text = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "sandbox", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--variant" in help_text and all(name in help_text for name in VARIANTS)
    refused = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "sandbox", "--variant", "nope"], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "unknown variant(s) nope" in refused.stderr
