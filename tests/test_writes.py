"""Every write exactly once, for exactly what the user confirmed: the gate's decision table, reservation
before sending (concurrent identical calls), outcome unknown after a timeout, a 2xx is done whatever the
body, codes bound to the resolved request, the hardened confirmation form, and the audit log."""

from __future__ import annotations

import json
import re
from typing import get_args
from urllib.parse import urlparse

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ElicitResult

from sipsim_mcp.api import endpoints as ep
from sipsim_mcp.api.client import ApiResponse
from sipsim_mcp.api.errors import SipsimAPIError
from sipsim_mcp.api.models import InitiatedCall
from sipsim_mcp.mcp.confirm import AuditLog, ConfirmationCodes
from sipsim_mcp.mcp.gate import Resolved, WriteGate, decide
from sipsim_mcp.sandbox import Fault
from sipsim_mcp.state.memory import MemoryStore
from sipsim_mcp.tools.base import OUTCOMES, Outcome, WritePlan, WriteResult
from sipsim_mcp.tools.calls import StartedCall
from sipsim_mcp.tools.inventory import TOOLS

from .conftest import make_sandbox
from .mcp_helpers import MODES, answering, connect, data, error_text, writes

pytestmark = pytest.mark.anyio

RING = {"line": "Sales", "number": "+33 6 12 34 56 78"}


def rings(sandbox):
    return [r for r in writes(sandbox, "POST") if r.path == "/api/v2/calls"]


# --- the decision, as a table ----------------------------------------------------------------------

DECISIONS = [
    # mode       approval     proof      prior        -> outcome, or the next step
    ("preview", None, "none", None, "preview"),
    ("preview", None, "valid", None, "send"),
    ("preview", None, "changed", None, "preview"),  # a new preview, which says what changed
    ("preview", None, "other", None, "refused"),
    ("preview", None, "expired", None, "refused"),
    ("preview", None, "malformed", None, "refused"),
    ("preview", None, "used", None, "refused"),
    ("preview", None, "reset", None, "refused"),  # issued before the store lost its data
    ("host", None, "none", None, "send"),
    ("host", None, "other", None, "send"),  # host mode has no codes: the host's prompt confirmed it
    ("preview", "accepted", "none", None, "send"),
    ("preview", "accepted", "valid", None, "send"),
    ("preview", "accepted", "replayed", None, "refused"),  # the form's round trip was used already
    ("host", "accepted", "reset", None, "refused"),  # or sealed before the store lost its data
    ("host", "declined", "none", None, "declined"),
    ("preview", "cancelled", "valid", None, "cancelled"),
    ("host", None, "none", "done", "duplicate"),
    ("preview", None, "valid", "done", "duplicate"),
    ("preview", "accepted", "none", "sending", "wait"),
    ("host", None, "none", "sending", "wait"),
    ("host", None, "none", "unknown", "unknown"),
    ("preview", None, "valid", "unknown", "unknown"),
    ("preview", "declined", "none", "done", "duplicate"),
]


@pytest.mark.parametrize(("mode", "approval", "proof", "prior", "action"), DECISIONS)
def test_the_gate_decides(mode, approval, proof, prior, action):
    assert decide(mode=mode, approval=approval, proof=proof, prior=prior) == action


def test_the_gate_the_audit_and_the_result_name_outcomes_alike():
    """One vocabulary: every outcome the gate decides, the audit records or a result carries is an Outcome."""
    outcomes = set(get_args(Outcome))
    decided = {action for *_, action in DECISIONS} - {"send", "wait"}
    assert decided <= outcomes
    assert set(get_args(WriteResult.model_fields["outcome"].annotation)) <= outcomes
    assert set(OUTCOMES) == outcomes


# --- reserved before it is sent ---------------------------------------------------------------------


async def test_twenty_concurrent_identical_start_calls_ring_once_in_host_mode(sandbox):
    results: list = []
    async with connect(sandbox, confirm_writes="host") as (client, _):

        async def ring() -> None:
            results.append(await client.call_tool("start_call", RING))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(ring)
    outcomes = sorted(data(result)["outcome"] for result in results)
    assert outcomes == ["done"] + ["duplicate"] * 19
    assert len(rings(sandbox)) == 1
    calls = {json.dumps(data(result)["result"], sort_keys=True) for result in results}
    assert len(calls) == 1  # every answer is the first one's result


async def test_twenty_concurrent_confirmations_of_the_same_call_ring_once(sandbox):
    async with connect(sandbox) as (client, _):
        codes = [data(await client.call_tool("start_call", RING))["confirmation_code"] for _ in range(20)]
        results: list = []

        async def confirm(code: str) -> None:
            results.append(await client.call_tool("start_call", {**RING, "confirmation_code": code}))

        async with anyio.create_task_group() as group:
            for code in codes:
                group.start_soon(confirm, code)
    assert sorted(data(result)["outcome"] for result in results) == ["done"] + ["duplicate"] * 19
    assert len(rings(sandbox)) == 1


async def test_a_write_that_timed_out_is_not_sent_again(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/calls", delay=3))
    async with connect(sandbox, confirm_writes="host", timeout=0.5, over_http=True) as (client, _):
        first = error_text(await client.call_tool("start_call", RING))
        again = error_text(await client.call_tool("start_call", RING))
    assert "not known whether the change was made" in first
    assert "Nothing was done" not in first
    assert "outcome is unknown" in again and "not sent again" in again and "list_calls" in again
    for _ in range(200):  # the simulator logs the abandoned request once it notices
        if rings(sandbox):
            break
        await anyio.sleep(0.05)
    assert len(rings(sandbox)) == 1


async def test_a_refused_write_may_be_sent_again(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/calls", status=422, errors=["number is not callable"]))
    async with connect(sandbox, confirm_writes="host") as (client, _):
        refused = error_text(await client.call_tool("start_call", RING))
        again = data(await client.call_tool("start_call", RING))
    assert "422" in refused
    assert again["outcome"] == "done"
    assert len(rings(sandbox)) == 2


# --- a 2xx is done, whatever the body ---------------------------------------------------------------

WRITE_CALLS = [
    ("start_call", lambda sandbox: RING),
    ("tag_call", lambda sandbox: {"call_id": sandbox.data.calls[-1]["id"], "tag": "Lead"}),
    ("untag_call", lambda sandbox: {"call_id": _tagged_call(sandbox)[0], "tag": _tagged_call(sandbox)[1]}),
    ("update_phone", lambda sandbox: {"line": "Support", "voicemail": True}),
    ("create_tag", lambda sandbox: {"name": "Brand new"}),
    ("update_tag", lambda sandbox: {"tag": "Lead", "color": "#112233"}),
    ("delete_tag", lambda sandbox: {"tag": "Spam"}),
    ("request_transcription", lambda sandbox: {"call_id": _recorded_call(sandbox)}),
    ("request_summary", lambda sandbox: {"call_id": next(iter(sandbox.data.transcriptions))}),
    ("enable_webhook", lambda sandbox: {"event": "sms"}),
    ("disable_webhook", lambda sandbox: {"event": "incoming_call_end"}),
]


def _tagged_call(sandbox) -> tuple[int, str]:
    call = next(c for c in reversed(sandbox.data.calls) if c.get("tags"))
    tag = call["tags"][0]
    return call["id"], str(tag["id"] if isinstance(tag, dict) else tag)


def _recorded_call(sandbox) -> int:
    return next(
        c["id"]
        for c in reversed(sandbox.data.calls)
        if c.get("recording_url") and c["id"] not in sandbox.data.transcriptions
    )


@pytest.mark.parametrize(
    "variant", ["standard", "write_true", "write_null", "write_message", "write_empty", "write_204"]
)
async def test_every_write_accepted_by_sipsim_is_done_audited_and_guarded(variant, tmp_path):
    log = tmp_path / "audit.jsonl"
    sandbox = make_sandbox(variant=variant)
    try:
        async with connect(sandbox, confirm_writes="host", audit_log=str(log)) as (client, _):
            for tool, arguments in WRITE_CALLS:
                result = await client.call_tool(tool, arguments(sandbox))
                text = result.content[0].text
                answer = data(result)
                assert answer["outcome"] == "done", (tool, text)
                assert "Nothing was done" not in text and "nothing was done" not in text
                if variant != "standard":
                    assert "note" in answer or "result" in answer, (tool, text)
            again = data(await client.call_tool("start_call", RING))
        assert again["outcome"] == "duplicate"
        assert len(rings(sandbox)) == 1
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert [line["outcome"] for line in lines] == ["sending", "done"] * len(WRITE_CALLS) + ["duplicate"]
        assert all(line["request"]["method"] in ("POST", "PATCH", "DELETE") for line in lines)
        sent, done = lines[:-1:2], lines[1:-1:2]  # each attempt, written before its request left, then its outcome
        assert [line["attempt"] for line in sent] == [line["attempt"] for line in done]
        assert len({line["attempt"] for line in sent}) == len(WRITE_CALLS)
        if variant in ("standard", "write_null", "write_message"):
            assert all(line["request_id"] for line in done)
    finally:
        sandbox.stop()


# --- confirm what was shown ----------------------------------------------------------------------


async def test_every_write_sends_exactly_the_request_its_preview_showed(sandbox):
    """One source for both: a write whose preview and request could differ (another endpoint, path or body)
    fails here."""
    assert {tool for tool, _ in WRITE_CALLS} == {spec.name for spec in TOOLS if spec.write}
    prefix = urlparse(sandbox.api_url).path
    async with connect(sandbox) as (client, _):
        for tool, arguments in WRITE_CALLS:
            args = arguments(sandbox)
            preview = data(await client.call_tool(tool, args))
            assert preview["outcome"] == "preview", tool
            before = len(sandbox.requests)
            done = data(await client.call_tool(tool, {**args, "confirmation_code": preview["confirmation_code"]}))
            assert done["outcome"] == "done", tool
            sent = [r for r in sandbox.requests[before:] if r.path.startswith(prefix) and r.method != "GET"]
            assert len(sent) == 1, tool
            shown = preview["request"]
            assert (sent[0].method, sent[0].path, sent[0].body) == (
                shown["method"],
                prefix + shown["path"],
                shown.get("body"),
            ), tool


async def test_a_rename_between_preview_and_confirmation_sends_nothing_and_previews_again(sandbox):
    lead = next(t for t in sandbox.data.tags if t["name"] == "Lead")
    call_id = sandbox.data.calls[-1]["id"]
    async with connect(sandbox) as (client, _):
        preview = data(await client.call_tool("tag_call", {"call_id": call_id, "tag": "Lead"}))
        assert preview["request"]["body"] == {"tag_id": lead["id"]}
        # someone renames tags in the dashboard: "Lead" now names another tag
        lead["name"] = "Lead (old)"
        other = next(t for t in sandbox.data.tags if t["id"] != lead["id"])
        other["name"] = "Lead"
        again = data(  # names resolved anew at the confirmation, never from the read cache
            await client.call_tool(
                "tag_call", {"call_id": call_id, "tag": "Lead", "confirmation_code": preview["confirmation_code"]}
            )
        )
    assert writes(sandbox) == []
    assert again["outcome"] == "preview"
    assert "request changed since the previous preview" in again["message"]
    assert f"body.tag_id: {lead['id']} -> {other['id']}" in again["message"]  # what changed
    assert again["request"]["body"] == {"tag_id": other["id"]}
    assert again["confirmation_code"] != preview["confirmation_code"]


async def test_after_the_guard_window_a_preview_says_an_earlier_outcome_is_unknown(sandbox):
    """Within the guard window a repeat is refused; after it, the preview and the form question both say that
    an identical request's outcome is unknown and how to check, before the user is asked."""
    sandbox.add_fault(Fault(method="POST", path="/api/v2/calls", status=503, errors=["upstream timeout"]))
    seen: list[str] = []
    async with connect(sandbox, confirm_writes="host") as (client, server):
        first = error_text(await client.call_tool("start_call", RING))
        within = error_text(await client.call_tool("start_call", RING))
        server.gate.guard_seconds = 0  # the window has passed (as a minute later)
        await server.gate.store.delete(server.gate._key(_resolved_ring(sandbox)))
    async with connect(sandbox) as (client, server):  # the next server process, same store
        preview = data(await client.call_tool("start_call", RING))
    async with connect(sandbox, elicitation=answering("decline", seen=seen)) as (client, _):
        await client.call_tool("start_call", RING)
    assert "not known whether the change was made" in first
    assert "outcome is unknown" in within and "list_calls" in within
    assert preview["outcome"] == "preview"
    assert "an identical request was sent at 2" in preview["message"] and "its outcome is unknown" in preview["message"]
    assert "check with list_calls" in preview["message"]
    assert "its outcome is unknown" in seen[0] and "list_calls" in seen[0]
    assert len(rings(sandbox)) == 1


def _resolved_ring(sandbox) -> Resolved:
    sales = next(p for p in sandbox.data.phones if p["name"] == "Sales")
    plan = WritePlan(summary="", finish=lambda r: None, dedupe_key=f"{sales['id']}:+33612345678")  # type: ignore[arg-type]
    return Resolved("start_call", RING, ep.START_CALL, plan)


async def test_write_results_show_times_in_the_servers_zone(sandbox):
    """SIPSIM_TIMEZONE is Europe/Paris (UTC+1 in November): a preview's expiry and a result's times are in it."""
    call_id = sandbox.data.calls[-1]["id"]
    async with connect(sandbox) as (client, _):
        preview = await client.call_tool("tag_call", {"call_id": call_id, "tag": "Lead"})
        code = data(preview)["confirmation_code"]
        tagged = await client.call_tool("tag_call", {"call_id": call_id, "tag": "Lead", "confirmation_code": code})
    async with connect(sandbox, confirm_writes="host") as (client, _):
        updated = await client.call_tool("update_phone", {"line": "Support", "voicemail": True})
    assert data(preview)["expires_at"].endswith("+01:00")
    assert data(tagged)["result"]["call"]["time"].endswith("+01:00")
    assert data(updated)["result"]["updated_at"].endswith("+01:00")
    assert data(updated)["result"]["created_at"].endswith("+02:00")  # in April: summer time
    assert "times: UTC+01:00" in preview.content[0].text
    for result in (preview, tagged, updated):  # the text, too, shows no time in UTC
        assert not re.search(r"T\d\d:\d\d(:\d\d(\.\d+)?)?Z", result.content[0].text)


async def test_a_write_answered_with_a_redirect_is_of_unknown_outcome(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/tags", status=302, headers={"Location": "https://x.invalid/"}))
    async with connect(sandbox, confirm_writes="host") as (client, _):
        first = error_text(await client.call_tool("create_tag", {"name": "Redirected"}))
        again = error_text(await client.call_tool("create_tag", {"name": "Redirected"}))
    assert "HTTP 302" in first and "not known whether the change was made" in first
    assert "outcome is unknown" in again
    assert len(writes(sandbox, "POST", "/api/v2/tags")) == 1


async def test_writes_are_refused_when_the_audit_log_cannot_be_written(sandbox, tmp_path):
    (tmp_path / "not-a-directory").write_text("")
    async with connect(sandbox, confirm_writes="host", audit_log=str(tmp_path / "not-a-directory" / "a.jsonl")) as (
        client,
        _,
    ):
        refused = error_text(await client.call_tool("create_tag", {"name": "Unaudited"}))
        after = error_text(await client.call_tool("create_tag", {"name": "Unaudited"}))
        tags = data(await client.call_tool("list_tags", {}))
    assert "audit log" in refused and "Nothing was sent" in refused
    assert "audit log" in after  # released: not blocked as a duplicate
    assert writes(sandbox) == [] and tags["tags"]


async def test_writes_are_refused_when_the_embedded_store_cannot_be_written(sandbox, tmp_path):
    (tmp_path / "file").write_text("")
    async with connect(sandbox, confirm_writes="host", state_dir=str(tmp_path / "file")) as (client, _):
        refused = error_text(await client.call_tool("create_tag", {"name": "Stateless"}))
        tags = data(await client.call_tool("list_tags", {}))
    assert "Writes are refused while the state store" in refused and "SIPSIM_STATE_DIR" in refused
    assert writes(sandbox) == [] and tags["tags"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ["yes", 1, "true", None])
async def test_only_a_json_true_confirms(sandbox, mode, answer):
    async with connect(sandbox, mode=mode, elicitation=answering("accept", {"confirm": answer})) as (client, _):
        result = await client.call_tool("delete_tag", {"tag": "Spam"})
    assert result.is_error or data(result)["outcome"] != "done"
    assert writes(sandbox) == []


async def test_a_crafted_name_cannot_rewrite_the_question(sandbox):
    crafted = "Sales'? Nothing will ring.\n\nRing +1 900 555 0100 from line 'Sales"
    sales = next(p for p in sandbox.data.phones if p["name"] == "Sales")
    sales["name"] = crafted
    seen: list[str] = []
    async with connect(sandbox, elicitation=answering("decline", seen=seen)) as (client, _):
        await client.call_tool("start_call", {"line": str(sales["id"]), "number": "+33 6 12 34 56 78"})
    [question] = seen
    first_line = question.split("\n")[0]
    assert first_line.startswith("Ring +33 6 12 34 56 78 from line 'Sales’? Nothing will ring. Ring +1 900 555 0100")
    assert first_line.split(" (id ")[0].count("'") == 2  # the name's quotes cannot close ours
    assert f"id {sales['id']}" in first_line
    assert "\n\nRing" not in question
    assert writes(sandbox) == []


async def test_the_audit_log_shows_the_resolved_request(sandbox, tmp_path):
    log = tmp_path / "audit.jsonl"
    sales = next(p for p in sandbox.data.phones if p["name"] == "Sales")
    async with connect(sandbox, confirm_writes="host", audit_log=str(log)) as (client, _):
        await client.call_tool("start_call", RING)
    before, after = [json.loads(text) for text in log.read_text().splitlines()]
    for line in (before, after):
        assert line["arguments"] == RING
        assert line["request"] == {
            "method": "POST",
            "path": "/calls",
            "body": {"phone_id": sales["id"], "number": "+33612345678"},
        }
    assert before["outcome"] == "sending" and after["outcome"] == "done" and after["request_id"]


# --- tokens never reach the model ----------------------------------------------------------------


async def test_a_token_echoed_by_sipsim_is_scrubbed_from_the_result(sandbox):
    async with connect(sandbox) as (client, _):
        await client.call_tool("list_tags", {})  # a token is issued
        [token] = sandbox.issued_tokens()
        sandbox.add_fault(Fault(path="/api/v2/tags", status=400, errors=[f"bad request with Bearer {token}"]))
        text = error_text(await client.call_tool("list_tags", {}))
    assert token not in text
    assert "[redacted]" in text


async def test_a_replayed_form_answer_does_not_write_twice(sandbox):
    """A 2026-07-28 client (or anyone who saw its traffic) resending the accepted round trip."""
    arguments = {"call_id": str(sandbox.data.calls[-1]["id"]), "tag": "Lead"}
    async with connect(sandbox, elicitation=answering("accept", {"confirm": True})) as (client, _):
        asked = await client.session.call_tool("tag_call", arguments, allow_input_required=True)
        answers = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        replay = {"input_responses": answers, "request_state": asked.request_state}
        done = data(await client.call_tool("tag_call", arguments, **replay))
        again = error_text(await client.call_tool("tag_call", arguments, **replay))
    assert done["outcome"] == "done"
    assert "already used" in again and "Nothing was done" in again
    assert len(writes(sandbox)) == 1


class SlowStore(MemoryStore):
    """The memory store with a network's pauses, so concurrent writes interleave as they do on Redis."""

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        await anyio.sleep(0.01)
        return await super().claim(key, value, ttl)


async def test_confirmations_waiting_on_a_refused_identical_write_send_it_once_more():
    store = SlowStore()
    gate = WriteGate(store=store, codes=ConfirmationCodes(lambda: b"k" * 32), audit=AuditLog(None), mode="preview")
    plan = WritePlan(
        summary="Ring +33 6 12 34 56 78",
        body={"phone_id": 101, "number": "+33612345678"},
        finish=lambda response: StartedCall(line="Sales", number="+33612345678", call=InitiatedCall()),
        dedupe_key="101:+33612345678",
    )
    resolved = Resolved("start_call", RING, ep.START_CALL, plan)
    sent: list[int] = []

    async def send() -> ApiResponse:
        sent.append(1)
        await anyio.sleep(0.2)
        if len(sent) == 1:
            raise SipsimAPIError(method="POST", path="/calls", status=422, errors=["line busy"])
        return ApiResponse(status=201, request_id="r2", data={"status": "initiated"})

    outcomes: list[str] = []

    async def confirm() -> None:
        code, _ = gate.codes.issue(":start_call", RING, resolved.fingerprint, await store.generation())
        try:
            outcomes.append((await gate.run(resolved, None, code, send, StartedCall)).outcome)
        except SipsimAPIError:
            outcomes.append("refused by SIPSIM")
        except ToolError as exc:
            outcomes.append(str(exc))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(confirm)
    assert sorted(outcomes) == ["done", "duplicate", "duplicate", "duplicate", "refused by SIPSIM"]
    assert len(sent) == 2
