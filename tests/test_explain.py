"""What a model reads when a tool fails (`explain`), for each kind of failure: SIPSIM's own words with where
they came from, and the next step: which scope to enable, when to try again, whether a write may have been
made, or that the fault is not the arguments'."""

from __future__ import annotations

import pytest

from sipsim_mcp.api.errors import ResponseShapeError, SipsimAPIError, TokenError, UserError
from sipsim_mcp.language.windows import WindowError
from sipsim_mcp.mcp.register import explain
from sipsim_mcp.tools.inventory import TOOLS_BY_NAME


def refused(status: int | None, *errors: str, tried: tuple[str, ...] = (), **more) -> SipsimAPIError:
    failure = SipsimAPIError(method="GET", path="/x", status=status, errors=list(errors), **more)
    failure.scopes_tried = tried
    return failure


#: (tool, failure) -> phrases the message has, phrases it must not have
CASES = [
    (  # a scope is missing: which one, which was sent, where to enable it
        "list_tags",
        refused(403, "Insufficient scope", tried=("tags.read",)),
        ["HTTP 403", "Insufficient scope", "It was sent with the scope tags.read.", "(tags.read)", "SIPSIM_SCOPES"],
        ["try again"],
    ),
    (  # where the docs disagree, both scopes were tried, in order
        "start_call",
        refused(403, tried=("calls.create", "calls.write")),
        ["sent with the scope calls.create and then calls.write", "(calls.create or calls.write)"],
        [],
    ),
    ("get_account", refused(403), ["(account.read)", "SIPSIM dashboard"], ["It was sent"]),
    (  # unreachable or failing: try later; a read was certainly not a change
        "list_calls",
        refused(None, "could not reach SIPSIM (ConnectError)"),
        ["no response", "could not reach SIPSIM", "try again in a minute"],
        ["not known whether"],
    ),
    ("get_phone", refused(503, "Service Unavailable"), ["HTTP 503", "try again in a minute"], ["not known"]),
    (  # a failed write may have been made: check before trying again
        "create_tag",
        refused(502, "Bad Gateway"),
        ["HTTP 502", "try again in a minute", "It is not known whether the change was made", "before trying again"],
        [],
    ),
    ("start_call", refused(None), ["not known whether the change was made"], []),
    (  # rate limited: how long SIPSIM asked to wait, or to wait a little
        "list_calls",
        refused(429, "Too Many Requests", retry_after=42.0),
        ["HTTP 429", "try again in 42 s"],
        ["wait a little"],
    ),
    ("list_calls", refused(429), ["limiting the request rate: wait a little and try again"], []),
    (  # a tool's own hint wins over the generic one
        "create_tag",
        refused(409, "Name has already been taken"),
        ["Name has already been taken", "already exists: use it (list_tags shows its id)"],
        ["conflicts with something"],
    ),
    ("update_tag", refused(409), ["Another tag already has that name"], []),
    ("tag_call", refused(409), ["conflicts with something that already exists"], []),
    ("get_call", refused(404, "Not found"), ["HTTP 404", "list_calls, list_phones and list_tags show valid ids"], []),
    ("get_account", refused(401), ["credentials"], []),
    ("list_tags", refused(422, "color is invalid"), ["color is invalid", "Check the arguments"], []),
    ("list_tags", refused(418, "I'm a teapot", request_id="req-7"), ["I'm a teapot (request_id req-7)"], ["Check"]),
    (  # SIPSIM answered in a shape this server cannot read: not the arguments, and how to report it
        "list_calls",
        ResponseShapeError(method="GET", path="/calls", status=None, fields=["data.0.id: int_type"]),
        ["could not be read (data.0.id: int_type)", "not a problem with the arguments", "doctor --probe"],
        ["try again", "Check the arguments"],
    ),
]


@pytest.mark.parametrize(("tool", "failure", "says", "never"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_failure_tells_the_model_what_happened_and_what_to_do(tool, failure, says, never):
    text = explain(failure, TOOLS_BY_NAME[tool])
    assert all(phrase in text for phrase in says), text
    assert not any(phrase in text for phrase in never), text
    assert text == text.strip() and "Traceback" not in text


@pytest.mark.parametrize(
    "failure",
    [
        WindowError("Unknown time expression 'next tuesday'. Try: today, yesterday, last_7_days."),
        TokenError("Could not reach the SIPSIM token endpoint"),
        UserError("No line matches 'Nowhere'"),
    ],
)
def test_errors_written_for_the_model_are_passed_on_as_they_are(failure):
    assert explain(failure, TOOLS_BY_NAME["list_calls"]) == str(failure)
